#!/usr/bin/env bash
# Installs, starts and stops the broker and the database the system needs, on loopback,
# with their data under .run/ (or, when the checkout is out of the servers' users' reach,
# under /var/lib/order-pipeline/). Used by `make up`, `make test`, `make down` and .ci/run.
#
#   scripts/infra.sh install            install missing Debian packages
#   scripts/infra.sh install-test-tools install what the browser and deployment tests need
#                                       (Chromium, its driver, Selenium for Python,
#                                       docker-compose to resolve the compose file,
#                                       promtool (Debian's prometheus) for the alert rules,
#                                       HAProxy for the API replicas' balancer,
#                                       schemathesis in .run/tools; kubectl must be on PATH)
#   scripts/infra.sh install-bench-tools install what `make bench` needs besides the build (wrk, perf)
#   scripts/infra.sh install-balancer   install HAProxy (make up API=2)
#   scripts/infra.sh start [rabbitmq|postgres]
#   scripts/infra.sh stop  [rabbitmq|postgres]     (stop with no server named stops a cluster too)
#   scripts/infra.sh cluster start [N]   a RabbitMQ cluster of N nodes (3) on 127.0.0.1, ports
#                                        RABBITMQ_CLUSTER_PORT (5672), +1, … (make up CLUSTER=3)
#   scripts/infra.sh cluster stop | kill PORT | start-node PORT | ctl PORT ARGS...
#   scripts/infra.sh status
#   scripts/infra.sh ctl ARGS...        rabbitmqctl against the broker started here
#   scripts/infra.sh psql ARGS...       the psql of the PostgreSQL this script runs (not Debian's wrapper)
#
# Only servers this script started (pid files beside their data) are ever stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
PACKAGES=(rabbitmq-server postgresql librabbitmq-dev pkg-config curl)
TEST_PACKAGES=(chromium chromium-driver python3-selenium docker-compose prometheus haproxy)
BALANCER_PACKAGES=(haproxy)
BENCH_PACKAGES=(wrk linux-perf)

RABBIT_BIN=/usr/lib/rabbitmq/bin
AMQP_PORT="${RABBITMQ_PORT:-5672}"
CLUSTER_PORT="${RABBITMQ_CLUSTER_PORT:-5672}"
PG_PORT="${PGPORT:-5432}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

# From /: the user may not be allowed into the current directory (a checkout under /root).
as_user() { local user=$1; shift; (cd / && runuser -u "$user" -- "$@"); }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# shellcheck source=scripts/detach.sh
source "$ROOT/scripts/detach.sh"

# Where the servers keep their data: .run/ in the checkout, unless the postgres or rabbitmq
# user cannot reach it (a checkout under a home directory of mode 700, as root's is, where
# initdb would fail with "Permission denied"); then a directory of this checkout's own under
# /var/lib/order-pipeline, named after its path.
choose_data_dir() {
  DATA="$RUN"
  mkdir -p "$RUN"
  local user
  for user in postgres rabbitmq; do
    if id "$user" >/dev/null 2>&1 && ! as_user "$user" test -x "$RUN"; then
      DATA="/var/lib/order-pipeline/$(printf %s "$ROOT" | sha1sum | cut -c1-12)"
      mkdir -p "$DATA"
      chmod 755 /var/lib/order-pipeline "$DATA"
      return
    fi
  done
}
choose_data_dir

# install_packages PACKAGE...: installs those that are missing.
install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  log "installing ${missing[*]}"
  apt-get update -qq
  # Packages with a daemon (rabbitmq-server, postgresql, prometheus) must not start it: this
  # script starts the servers it needs, on loopback, and only those.
  local policy=/usr/sbin/policy-rc.d placed=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; placed=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$placed" ] || rm -f "$policy"
}

# Schemathesis, from PyPI, in its own virtual environment under .run/tools.
SCHEMATHESIS_VERSION=4.32.5
install_schemathesis() {
  local venv="$RUN/tools"
  "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" && return 0
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" 2>/dev/null || { install_packages python3-venv; /usr/bin/python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
}

# --- RabbitMQ ---------------------------------------------------------------
#
# A node is known by its AMQP port P: it serves its management UI on P+10000 and its
# Prometheus metrics (per queue) on P+10020 (5672: 15672 and 15692), and meets the other nodes
# of its cluster on P+20000 (RabbitMQ's default). The broker of `start` is rabbit@localhost,
# its data in $DATA/rabbitmq; the nodes of `cluster start` are rabbit-P@localhost, each in
# $DATA/rabbitmq-P, sharing the Erlang cookie in $DATA/rabbitmq-cluster.

# select_node PORT [cluster]: the node the functions below act on.
select_node() {
  NODE_PORT=$1
  if [ "${2:-}" = cluster ]; then
    NODE_NAME="rabbit-$NODE_PORT@localhost" NODE_DIR="$DATA/rabbitmq-$NODE_PORT" NODE_HOME="$DATA/rabbitmq-cluster"
  else
    NODE_NAME=rabbit@localhost NODE_DIR="$DATA/rabbitmq" NODE_HOME="$DATA/rabbitmq/home"
  fi
  RABBIT_ENV=(
    HOME="$NODE_HOME"
    RABBITMQ_NODENAME="$NODE_NAME"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$NODE_PORT"
    RABBITMQ_MNESIA_BASE="$NODE_DIR/mnesia"
    RABBITMQ_LOG_BASE="$NODE_DIR/log"
    RABBITMQ_PID_FILE="$NODE_DIR/rabbit.pid"
    RABBITMQ_CONFIG_FILE="$NODE_DIR/rabbitmq"
    RABBITMQ_ENABLED_PLUGINS_FILE="$NODE_DIR/enabled_plugins"
    ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  )
}
select_node "$AMQP_PORT"

rabbitmqctl() { as_user rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmqctl" "$@"; }

rabbit_running() { [ -f "$NODE_DIR/rabbit.pid" ] && kill -0 "$(cat "$NODE_DIR/rabbit.pid")" 2>/dev/null; }

# The tests' and the benchmark's own virtual hosts, so they never touch what `make up` runs.
ensure_test_vhost() {
  rabbit_running || return 0
  local vhost
  for vhost in test bench; do
    if ! rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$vhost"; then
      rabbitmqctl -q add_vhost "$vhost" >/dev/null
      rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
    fi
  done
}

# Starts the selected node; await_node waits until it takes connections.
launch_node() {
  mkdir -p "$NODE_HOME" "$NODE_DIR/log" "$NODE_DIR/mnesia"
  cat > "$NODE_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$NODE_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $((NODE_PORT + 10000))
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $((NODE_PORT + 10020))
prometheus.return_per_object_metrics = true
CONF
  echo '[rabbitmq_management,rabbitmq_prometheus].' > "$NODE_DIR/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$NODE_DIR" "$NODE_HOME"
  log "starting RabbitMQ $NODE_NAME on 127.0.0.1:$NODE_PORT (data in $NODE_DIR)"
  (without_inherited_fds as_user rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmq-server") \
    </dev/null >>"$NODE_DIR/log/console.log" 2>&1 &
}

await_node() {
  local deadline=$((SECONDS + 120))
  until rabbitmqctl -q await_startup >/dev/null 2>&1 && port_open "$NODE_PORT"; do
    [ $SECONDS -lt $deadline ] || die "RabbitMQ $NODE_NAME did not start within 120 s; see $NODE_DIR/log/"
    sleep 1
  done
}

start_rabbitmq() {
  if rabbit_running; then ensure_test_vhost; return 0; fi
  if port_open "$AMQP_PORT"; then log "a broker already listens on 127.0.0.1:$AMQP_PORT; using it"; return 0; fi
  launch_node
  await_node
  ensure_test_vhost
  log "RabbitMQ is up (management UI: http://127.0.0.1:$((AMQP_PORT + 10000)))"
}

stop_rabbitmq() {
  rabbit_running || return 0
  log "stopping RabbitMQ $NODE_NAME"
  rabbitmqctl -q shutdown >/dev/null 2>&1 || kill "$(cat "$NODE_DIR/rabbit.pid")" 2>/dev/null || true
  rm -f "$NODE_DIR/rabbit.pid"
  # The first broker started epmd; stop it once no node is left (epmd refuses while one is).
  as_user rabbitmq env "${RABBIT_ENV[@]}" epmd -kill >/dev/null 2>&1 || true
}

# The nodes of the cluster, by port, from the data directories (started here or not).
cluster_ports() {
  shopt -s nullglob
  local dir
  for dir in "$DATA"/rabbitmq-[0-9]*; do echo "${dir##*-}"; done
}

# cluster start N: N nodes on ports CLUSTER_PORT, +1, …, one after the other; a new node joins
# the first. A cluster that was stopped whole starts from its last node, the one `cluster stop`
# stopped last: it boots alone, and each other node then finds it running. The quorum queues
# declared afterwards have a member on every node.
start_cluster() {
  local size=${1:-3} first=$CLUSTER_PORT port order=()
  [ -f "$DATA/rabbitmq-cluster/.erlang.cookie" ] || {
    mkdir -p "$DATA/rabbitmq-cluster"
    head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$DATA/rabbitmq-cluster/.erlang.cookie"
    chmod 400 "$DATA/rabbitmq-cluster/.erlang.cookie"
  }
  if [ -d "$DATA/rabbitmq-$first/mnesia" ]; then
    for ((port = first + size - 1; port >= first; port--)); do order+=("$port"); done
  else
    for ((port = first; port < first + size; port++)); do order+=("$port"); done
  fi
  for port in "${order[@]}"; do
    select_node "$port" cluster
    if rabbit_running; then continue; fi
    port_open "$port" && die "127.0.0.1:$port is taken by a broker not in this cluster (make down stops the single broker)"
    local new=; [ -d "$NODE_DIR/mnesia" ] || new=1
    launch_node
    await_node
    if [ -n "$new" ] && [ "$port" != "$first" ]; then
      log "joining $NODE_NAME to rabbit-$first@localhost"
      rabbitmqctl -q stop_app >/dev/null
      rabbitmqctl -q join_cluster "rabbit-$first@localhost" >/dev/null
      rabbitmqctl -q start_app >/dev/null
    fi
  done
  select_node "$first" cluster
  ensure_test_vhost
  log "RabbitMQ cluster of $size is up: amqp://127.0.0.1:$first…$((first + size - 1)) (management UI: http://127.0.0.1:$((first + 10000)))"
}

stop_cluster() {
  local port
  for port in $(cluster_ports); do select_node "$port" cluster; stop_rabbitmq; done
}

# cluster kill PORT: the node stops at once, as a crashed machine would (SIGKILL).
kill_node() {
  select_node "$1" cluster
  rabbit_running || die "no cluster node runs on port $1"
  log "killing $NODE_NAME (SIGKILL)"
  kill -KILL "$(cat "$NODE_DIR/rabbit.pid")"
  local deadline=$((SECONDS + 30))
  while rabbit_running; do [ $SECONDS -lt $deadline ] || die "$NODE_NAME did not die"; sleep 0.2; done
  rm -f "$NODE_DIR/rabbit.pid"
}

# --- PostgreSQL --------------------------------------------------------------

PG_BIN="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
PG_DIR="$DATA/postgres"

pg_running() { [ -f "$PG_DIR/data/postmaster.pid" ] && as_user postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

psql_admin() { as_user postgres psql -h "$PG_DIR" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# The role and the databases: `orders` for the system, `orders_test` for the tests,
# `orders_bench` for the benchmark.
ensure_databases() {
  if [ "$(psql_admin -c "select 1 from pg_roles where rolname = 'orders'")" != 1 ]; then
    psql_admin -c "create role orders login password 'orders'"
  fi
  for db in orders orders_test orders_bench; do
    if [ "$(psql_admin -c "select 1 from pg_database where datname = '$db'")" != 1 ]; then
      psql_admin -c "create database $db owner orders"
    fi
  done
  # The benchmark counts statements per order with pg_stat_statements (loaded at start-up below).
  psql_admin -d orders_bench -c "create extension if not exists pg_stat_statements" >/dev/null 2>&1 || true
}

start_postgres() {
  if pg_running; then ensure_databases; return 0; fi
  if port_open "$PG_PORT"; then log "a database already listens on 127.0.0.1:$PG_PORT; using it"; return 0; fi
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $PG_DIR/data"
    as_user postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  (without_inherited_fds as_user postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" start) </dev/null >/dev/null
  ensure_databases
  log "PostgreSQL is up (postgres://orders:orders@127.0.0.1:$PG_PORT/orders)"
}

stop_postgres() {
  pg_running || return 0
  log "stopping PostgreSQL"
  as_user postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
}

# --- main ----------------------------------------------------------------------

# After installing: the postgres and rabbitmq users exist now, and decide where data goes.
installed() {
  install_packages "${PACKAGES[@]}"
  choose_data_dir
  PG_DIR="$DATA/postgres"
  select_node "$AMQP_PORT"
}

command=${1:-}
target=${2:-all}
case "$command" in
  install) install_packages "${PACKAGES[@]}" ;;
  install-test-tools)
    install_packages "${TEST_PACKAGES[@]}"
    install_schemathesis
    command -v kubectl >/dev/null || die "kubectl is not on PATH: the deployment tests render deploy/k8s with it (https://kubernetes.io/docs/tasks/tools/)" ;;
  install-bench-tools) install_packages "${BENCH_PACKAGES[@]}" ;;
  install-balancer) install_packages "${BALANCER_PACKAGES[@]}" ;;
  start)
    installed
    case "$target" in rabbitmq) start_rabbitmq ;; postgres) start_postgres ;; all) start_postgres; start_rabbitmq ;; *) die "unknown server: $target" ;; esac ;;
  stop)
    case "$target" in rabbitmq) stop_rabbitmq ;; postgres) stop_postgres ;; all) stop_cluster; select_node "$AMQP_PORT"; stop_rabbitmq; stop_postgres ;; *) die "unknown server: $target" ;; esac ;;
  cluster)
    case "$target" in
      start) installed; start_cluster "${3:-3}" ;;
      stop) stop_cluster ;;
      kill) kill_node "${3:?cluster kill PORT}" ;;
      start-node) installed; select_node "${3:?cluster start-node PORT}" cluster; rabbit_running || { launch_node; await_node; } ;;
      ctl) select_node "${3:?cluster ctl PORT ARGS...}" cluster; shift 3; rabbitmqctl "$@" ;;
      *) die "usage: $0 cluster start [N] | stop | kill PORT | start-node PORT | ctl PORT ARGS..." ;;
    esac ;;
  status)
    echo "data: $DATA"
    rabbit_running && echo "rabbitmq: running (pid $(cat "$NODE_DIR/rabbit.pid"))" || echo "rabbitmq: not started here"
    for port in $(cluster_ports); do
      select_node "$port" cluster
      rabbit_running && echo "rabbitmq cluster node $port: running (pid $(cat "$NODE_DIR/rabbit.pid"))" || echo "rabbitmq cluster node $port: stopped"
    done
    pg_running && echo "postgres: running" || echo "postgres: not started here" ;;
  ctl) shift; rabbitmqctl "$@" ;;
  psql) shift; exec "$PG_BIN/psql" "$@" ;;
  *) die "usage: $0 install | install-test-tools | install-bench-tools | start [rabbitmq|postgres] | stop [rabbitmq|postgres] | cluster ... | status | ctl ARGS... | psql ARGS..." ;;
esac
