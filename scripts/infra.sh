#!/usr/bin/env bash
# Installs, starts and stops the broker and the database the system needs, on loopback,
# with their data under .run/. Used by `make up`, `make test`, `make down` and .ci/run.
#
#   scripts/infra.sh install            install missing Debian packages
#   scripts/infra.sh install-test-tools install what the browser and deployment tests need
#                                       (Chromium, its driver, Selenium for Python,
#                                       docker-compose to resolve the compose file,
#                                       promtool (Debian's prometheus) for the alert rules,
#                                       schemathesis in .run/tools; kubectl must be on PATH)
#   scripts/infra.sh install-bench-tools install what `make bench` needs besides the build (wrk)
#   scripts/infra.sh start [rabbitmq|postgres]
#   scripts/infra.sh stop  [rabbitmq|postgres]
#   scripts/infra.sh status
#   scripts/infra.sh ctl ARGS...        rabbitmqctl against the broker started here
#
# Only servers this script started (pid files under .run/) are ever stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
PACKAGES=(rabbitmq-server postgresql librabbitmq-dev pkg-config curl)
TEST_PACKAGES=(chromium chromium-driver python3-selenium docker-compose prometheus)
BENCH_PACKAGES=(wrk)

RABBIT_DIR="$RUN/rabbitmq"
RABBIT_BIN=/usr/lib/rabbitmq/bin
AMQP_PORT="${RABBITMQ_PORT:-5672}"
MANAGEMENT_PORT="${RABBITMQ_MANAGEMENT_PORT:-15672}"
PROMETHEUS_PORT="${RABBITMQ_PROMETHEUS_PORT:-15692}"

PG_DIR="$RUN/postgres"
PG_PORT="${PGPORT:-5432}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

as_user() { local user=$1; shift; runuser -u "$user" -- "$@"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command with no file descriptor above 2, for commands that leave a server running:
# the server must not hold the caller's descriptors open (a caller may wait for them to
# close, as Foundation's Process does, and would wait for as long as the server runs).
without_inherited_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  "$@"
}

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

RABBIT_ENV=(
  HOME="$RABBIT_DIR/home"
  RABBITMQ_NODENAME=rabbit@localhost
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  RABBITMQ_NODE_PORT="$AMQP_PORT"
  RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia"
  RABBITMQ_LOG_BASE="$RABBIT_DIR/log"
  RABBITMQ_PID_FILE="$RABBIT_DIR/rabbit.pid"
  RABBITMQ_CONFIG_FILE="$RABBIT_DIR/rabbitmq"
  RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_DIR/enabled_plugins"
  ERL_EPMD_ADDRESS=127.0.0.1
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
)

rabbitmqctl() { as_user rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmqctl" "$@"; }

rabbit_running() { [ -f "$RABBIT_DIR/rabbit.pid" ] && kill -0 "$(cat "$RABBIT_DIR/rabbit.pid")" 2>/dev/null; }

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

start_rabbitmq() {
  if rabbit_running; then ensure_test_vhost; return 0; fi
  if port_open "$AMQP_PORT"; then log "a broker already listens on 127.0.0.1:$AMQP_PORT; using it"; return 0; fi
  mkdir -p "$RABBIT_DIR/home" "$RABBIT_DIR/log" "$RABBIT_DIR/mnesia"
  cat > "$RABBIT_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MANAGEMENT_PORT
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $PROMETHEUS_PORT
prometheus.return_per_object_metrics = true
CONF
  echo '[rabbitmq_management,rabbitmq_prometheus].' > "$RABBIT_DIR/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$RABBIT_DIR"
  log "starting RabbitMQ on 127.0.0.1:$AMQP_PORT (data in $RABBIT_DIR)"
  (without_inherited_fds as_user rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmq-server") \
    </dev/null >"$RABBIT_DIR/log/console.log" 2>&1 &
  local deadline=$((SECONDS + 90))
  until rabbitmqctl -q await_startup >/dev/null 2>&1 && port_open "$AMQP_PORT"; do
    [ $SECONDS -lt $deadline ] || die "RabbitMQ did not start within 90 s; see $RABBIT_DIR/log/"
    sleep 1
  done
  ensure_test_vhost
  log "RabbitMQ is up (management UI: http://127.0.0.1:$MANAGEMENT_PORT)"
}

stop_rabbitmq() {
  rabbit_running || return 0
  log "stopping RabbitMQ"
  rabbitmqctl -q shutdown >/dev/null 2>&1 || kill "$(cat "$RABBIT_DIR/rabbit.pid")" 2>/dev/null || true
  rm -f "$RABBIT_DIR/rabbit.pid"
  # The broker started its own epmd; stop that too.
  as_user rabbitmq env "${RABBIT_ENV[@]}" epmd -kill >/dev/null 2>&1 || true
}

# --- PostgreSQL --------------------------------------------------------------

PG_BIN="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"

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

command=${1:-}
target=${2:-all}
case "$command" in
  install) install_packages "${PACKAGES[@]}" ;;
  install-test-tools)
    install_packages "${TEST_PACKAGES[@]}"
    install_schemathesis
    command -v kubectl >/dev/null || die "kubectl is not on PATH: the deployment tests render deploy/k8s with it (https://kubernetes.io/docs/tasks/tools/)" ;;
  install-bench-tools) install_packages "${BENCH_PACKAGES[@]}" ;;
  start)
    install_packages "${PACKAGES[@]}"
    case "$target" in rabbitmq) start_rabbitmq ;; postgres) start_postgres ;; all) start_postgres; start_rabbitmq ;; *) die "unknown server: $target" ;; esac ;;
  stop)
    case "$target" in rabbitmq) stop_rabbitmq ;; postgres) stop_postgres ;; all) stop_rabbitmq; stop_postgres ;; *) die "unknown server: $target" ;; esac ;;
  status)
    rabbit_running && echo "rabbitmq: running (pid $(cat "$RABBIT_DIR/rabbit.pid"))" || echo "rabbitmq: not started here"
    pg_running && echo "postgres: running" || echo "postgres: not started here" ;;
  ctl) shift; rabbitmqctl "$@" ;;
  *) die "usage: $0 install | install-test-tools | install-bench-tools | start [rabbitmq|postgres] | stop [rabbitmq|postgres] | status | ctl ARGS..." ;;
esac
