#!/usr/bin/env bash
# The benchmark (`make bench [INVENTORY=N] [QUICK=1]`): release builds of the services, run the
# way `make up` runs them but in their own virtual host (`bench`), database (`orders_bench`)
# and ports (28101, 29102+, 29103), beside anything `make up` started. It measures
#   ingest      POST /orders, closed loop at 16, 64 and 256 connections
#   end to end  open loop at fixed rates, and at saturation (closed loop, 64 connections, so
#               the load generator does not burn the shared cores on requests the system
#               cannot take): orders reaching `notified` per second, POST-to-notified
#               latency from the stored timestamps, orders not notified 30 s after the run
#   the drain   a backlog's drain: CPU per order by process, commits and statements per order
#   the account ingest at 64 connections beside the pipeline and alone: the cores each process
#               held, and what 5,000 orders/s would take of the machine
#   scaling     saturation with 1, 2 and 3 inventory replicas
#   the limit   the broker's own publish-confirm and consume-ack rates (plain librabbitmq)
#   memory      resident memory of each service at the end
# and prints one Markdown table, also written to bench/results/<date>-<commit>.md. Both load
# generators are lean, since they share the cores: the closed loop is wrk
# (bench/post-orders.lua), the open loop order-load (plain NIO on one thread), which measures
# latency from when each request was due.
# QUICK=1 runs a shorter subset (under two minutes once built) to catch regressions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=${QUICK:-}
REPLICAS=${INVENTORY:-1}
STATE="$ROOT/.run/bench"
BIN="$ROOT/.build/release"
API_PORT=28101
DATABASE="postgres://orders:orders@127.0.0.1:5432/orders_bench"

if [ -n "$QUICK" ]; then
  SECONDS_PER_RUN=4; INGEST_LEVELS=(64); RATES=(1000); SCALING=(); RAW_MESSAGES=20000
else
  SECONDS_PER_RUN=10; INGEST_LEVELS=(16 64 256); RATES=(100 500 1000 2000); SCALING=(1 2 3); RAW_MESSAGES=100000
fi
SATURATION_CONNECTIONS=64
DRAIN_SECONDS=30
DRAIN_INGEST_SECONDS=10  # the drain's backlog, in QUICK runs too: some 10,000 orders

log() { printf '[bench] %s\n' "$*" >&2; }
# The benchmark's queries, answered in one database session (open_session). A psql for each
# query cost this machine some 100 ms of CPU (Debian's perl wrapper, then a backend forked and
# authenticated): 5 % of the two cores at the drain's poll once a second, taken from the system
# under measurement and counted in its cost per order. In the session the poll costs 7 ms.
# Prints the rows; fails, with psql's message on stderr, when the query fails.
SESSION_END="-- end of answer --"
sql() {
  printf '%s;\n\\echo %s :ERROR\n' "$1" "$SESSION_END" >&"$SQL_IN"
  local line
  while IFS= read -r line <&"$SQL_OUT"; do
    case $line in "$SESSION_END false") return 0 ;; "$SESSION_END true") return 1 ;; *) echo "$line" ;; esac
  done
  return 1
}
# Starts psql on two named pipes, held open as SQL_IN and SQL_OUT (plain descriptors, so that
# subshells share them); it ends when this script does.
open_session() {
  local pipes; pipes=$(mktemp -d)
  mkfifo "$pipes/in" "$pipes/out"
  scripts/infra.sh psql "$DATABASE" -qAtX -F ' ' <"$pipes/in" >"$pipes/out" &
  exec {SQL_IN}>"$pipes/in" {SQL_OUT}<"$pipes/out"
  rm -r "$pipes"
  sql "set client_min_messages = warning"
}
now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(' '.join(str(d[k]) for k in sys.argv[1:]))" "$@"; }

services() {
  SERVICES_STATE="$STATE" BIN="$BIN" PORT=$API_PORT INVENTORY_ADMIN_PORT=29102 NOTIFICATION_ADMIN_PORT=29103 \
    RABBITMQ_URL="amqp://guest:guest@127.0.0.1:5672/bench" DATABASE_URL="$DATABASE" \
    INVENTORY_INITIAL_STOCK="Burger=100000000,Pizza=100000000,Salad=100000000,Taco=100000000,Sushi=100000000" \
    scripts/services.sh "$@" {SQL_IN}>&- {SQL_OUT}<&-
}

# A fresh system with `replicas` inventory workers: empty queues and schemas.
fresh_system() {
  local replicas=$1
  services down >/dev/null 2>&1 || true
  scripts/infra.sh ctl -q delete_vhost bench >/dev/null 2>&1 || true
  scripts/infra.sh ctl -q add_vhost bench >/dev/null
  scripts/infra.sh ctl -q set_permissions -p bench guest '.*' '.*' '.*' >/dev/null
  sql "drop schema if exists order_api cascade; drop schema if exists inventory cascade; drop schema if exists notification cascade" 2>/dev/null
  rm -rf "$STATE/logs"
  services up "$replicas" >/dev/null
}

# Orders created in [from, to): total, notified, p50/p95/p99 ms to notified, notified per second.
completion() {
  sql "select count(*), count(notified_at),
         coalesce(round(percentile_cont(0.5) within group (order by extract(epoch from notified_at - created_at) * 1000)::numeric, 1), 0),
         coalesce(round(percentile_cont(0.95) within group (order by extract(epoch from notified_at - created_at) * 1000)::numeric, 1), 0),
         coalesce(round(percentile_cont(0.99) within group (order by extract(epoch from notified_at - created_at) * 1000)::numeric, 1), 0),
         coalesce(round((count(notified_at) / nullif(extract(epoch from max(notified_at) - min(created_at)), 0))::numeric), 0)
       from order_api.orders where created_at >= '$1' and created_at < '$2'"
}

# Closed loop: CONNECTIONS connections, each sending its next order as soon as the last is
# answered, for SECONDS; prints order-load's JSON fields (see bench/post-orders.lua).
closed_loop() {
  wrk -t2 -c"$1" -d"$2"s --timeout 30s -s bench/post-orders.lua "http://127.0.0.1:$API_PORT/orders" | tail -n 1
}

# The disk's stall while a run is under way (bench/io-stalls.py): `stall_begin`, the run,
# `stall_end` (in the same shell, which waits for its child), then `stall` prints the
# milliseconds in which everything waited on the disk, in all and the longest stretch ("? ?"
# where the kernel has no pressure information).
stall_begin() { python3 bench/io-stalls.py >"$STATE/io-stalls.out" & STALL_PID=$!; }
stall_end() { kill -TERM "$STALL_PID" 2>/dev/null || true; wait "$STALL_PID" 2>/dev/null || true; }
stall() { grep . "$STATE/io-stalls.out" 2>/dev/null || echo "? ?"; }

# CPU by process between two snapshots (bench/cpu.py).
cpu_snapshot() { bench/cpu.py snapshot "$STATE"; }

# closed_loop with what it cost: sets ACCOUNTED to wrk's result, the CPU account, its start and
# end (seconds since the epoch), and ACCOUNTED_FROM and ACCOUNTED_TO to its window as the
# database's timestamps. Called in this shell, not a subshell, so that they stay set.
accounted_closed_loop() {
  local started before result
  ACCOUNTED_FROM=$(now); started=$(date +%s.%N); before=$(cpu_snapshot)
  result=$(closed_loop "$1" "$2")
  ACCOUNTED=("$result" "$(bench/cpu.py account "$before" "$(cpu_snapshot)")" "$started" "$(date +%s.%N)")
  ACCOUNTED_TO=$(now)
}

# What the pipeline finished in [from, to): orders reserved (or rejected) and notified.
progress() {
  echo "$(sql "select count(*) from inventory.reservations where created_at >= '$1' and created_at < '$2'") $(sql "select count(*) from order_api.orders where notified_at >= '$1' and notified_at < '$2'")"
}

# Load for the run's length (`open RATE` or `ingest CONNECTIONS`); waits up to DRAIN_SECONDS
# for the orders to complete; prints offered/s (or "closed"), accepted, notified/s, p50, p95,
# p99, incomplete, errors, and the disk's stall meanwhile (in all, the longest; ms).
end_to_end() {
  local mode=$1 amount=$2 from to result stalled
  stall_begin
  from=$(now)
  if [ "$mode" = open ]; then
    result=$("$BIN/order-load" open --url "http://127.0.0.1:$API_PORT" --rate "$amount" --duration "$SECONDS_PER_RUN")
  else
    result=$(closed_loop "$amount" "$SECONDS_PER_RUN")
  fi
  to=$(now)
  local deadline=$((SECONDS + DRAIN_SECONDS))
  while read -r total notified _ < <(completion "$from" "$to") && [ "$notified" -lt "$total" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
  stall_end
  stalled=$(stall)
  read -r total notified p50 p95 p99 per_second < <(completion "$from" "$to")
  read -r accepted errors < <(echo "$result" | json accepted errors)
  echo "$accepted $per_second $p50 $p95 $p99 $((total - notified)) $errors $stalled"
}

COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources || echo "+changes")
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT="bench/results/$STAMP-$COMMIT.md"
mkdir -p bench/results "$STATE"

log "building release binaries"
swift build -c release --product order-api >&2
swift build -c release --product inventory-worker >&2
swift build -c release --product notification-worker >&2
swift build -c release --product order-load >&2
make -s .run/bin/amqp-raw-bench >&2
scripts/infra.sh start
scripts/infra.sh install-bench-tools
open_session

report=()
add() { report+=("$*"); }
add "# Benchmark $STAMP ($COMMIT)"
add ""
add "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); broker, database, services and load generator on this one machine; release builds; ${SECONDS_PER_RUN} s per run${QUICK:+ (QUICK)}."
add ""

log "the broker's limit (plain librabbitmq)"
raw=$(RABBITMQ_HOST=127.0.0.1 .run/bin/amqp-raw-bench "$RAW_MESSAGES" 200 2>&1)
raw_publish=$(echo "$raw" | awk '/publish with confirms/ {print $4}')
raw_consume=$(echo "$raw" | awk '/consume with acks/ {print $4}')
add "## The broker's limit"
add ""
add "Plain librabbitmq, $RAW_MESSAGES persistent 200-byte messages, 200 in flight, quorum queue: **$raw_publish msg/s** publish with confirms, **$raw_consume msg/s** consume with acks. One order makes four publishes and three deliveries (OrderPlaced, InventoryReserved to two queues, NotificationSent)."
add ""

log "the machine's own speed"
wakeup=$(perf bench sched pipe -l 50000 2>/dev/null | awk '/usecs\/op/ {printf "%.1f", $1}') || true
disk=$(python3 bench/disk-pauses.py 5 "$STATE") || true
compute=$(python3 -c 'import time
start = time.process_time(); total = 0
for i in range(10_000_000): total += i
print(f"{time.process_time() - start:.2f}")') || true
add "## The machine"
add ""
add "What this machine's speed in the run rests on, measured before the system starts: one core's compute, 10 million additions in a Python loop, **${compute:-?} s** of CPU (at saturation every process is busy computing); a thread wake-up round trip between two processes, **${wakeup:-?} µs** (\`perf bench sched pipe\`; every hop of an event wakes threads); the disk, 8 KiB written and \`fdatasync\`ed in a loop for 5 s: $disk (every hop waits on a durable write)."
add ""

log "starting the system with $REPLICAS inventory replica(s)"
fresh_system "$REPLICAS"

add "## Ingest: POST /orders, closed loop"
add ""
add "| connections | accepted/s | p50 ms | p95 ms | p99 ms | max ms | not 202 | errors | disk stall ms, in all / longest |"
add "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for connections in "${INGEST_LEVELS[@]}"; do
  log "ingest at $connections connections"
  stall_begin
  accounted_closed_loop "$connections" "$SECONDS_PER_RUN"
  stall_end
  result=${ACCOUNTED[0]}
  if [ "$connections" = "$SATURATION_CONNECTIONS" ]; then
    BESIDE=("${ACCOUNTED[@]}" $(progress "$ACCOUNTED_FROM" "$ACCOUNTED_TO"))
  fi
  read -r stalled longest < <(stall)
  read -r rate p50 p95 p99 max errors < <(echo "$result" | json accepted_per_s p50_ms p95_ms p99_ms max_ms errors)
  other=$(echo "$result" | python3 -c "import json,sys; print(sum(json.load(sys.stdin)['not_accepted'].values()))")
  add "$(printf '| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %s | %s | %s / %s |' "$connections" "$rate" "$p50" "$p95" "$p99" "$max" "$other" "$errors" "$stalled" "$longest")"
done
add ""

add "## End to end: open loop, POST to notified ($REPLICAS inventory replica(s))"
add ""
add "| offered/s | accepted | notified/s | p50 ms | p95 ms | p99 ms | incomplete after ${DRAIN_SECONDS} s | errors | disk stall ms, in all / longest |"
add "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for rate in "${RATES[@]}"; do
  log "end to end at $rate orders/s"
  fresh_system "$REPLICAS"  # no backlog of the run before
  read -r accepted per_second p50 p95 p99 incomplete errors stalled longest < <(end_to_end open "$rate")
  add "| $rate | $accepted | $per_second | $p50 | $p95 | $p99 | $incomplete | $errors | $stalled / $longest |"
done
log "end to end at saturation"
fresh_system "$REPLICAS"
read -r accepted per_second p50 p95 p99 incomplete errors stalled longest < <(end_to_end ingest "$SATURATION_CONNECTIONS")
add "| saturation ($SATURATION_CONNECTIONS connections, closed loop) | $accepted | $per_second | $p50 | $p95 | $p99 | $incomplete | $errors | $stalled / $longest |"
add ""

# The drain of a backlog, with what it costs per order. The workers are stopped (SIGSTOP)
# while closed-loop ingest fills their queue for DRAIN_INGEST_SECONDS and order-api relays it
# (that fill is the ingest alone, kept in ALONE for the account below); then they go on, and
# everything until the last order is notified is counted: CPU per process (bench/cpu.py),
# commits (pg_stat_database) and statements (pg_stat_statements) in the benchmark's database.
pids_of() { cat "$STATE"/pids/"$1"-*.pid 2>/dev/null; }
database_counts() {
  local statements
  statements=$(sql "select coalesce(sum(calls), 0) from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = 'orders_bench'" 2>/dev/null || echo "")
  echo "$(sql "select xact_commit from pg_stat_database where datname = 'orders_bench'") ${statements:-?}"
}
drain() {
  fresh_system "$REPLICAS"
  local workers; workers="$(pids_of inventory-worker) $(pids_of notification-worker)"
  kill -STOP $workers
  accounted_closed_loop "$SATURATION_CONNECTIONS" "$DRAIN_INGEST_SECONDS"
  ALONE=("${ACCOUNTED[@]}" 0 0)
  local from=$ACCOUNTED_FROM to=$ACCOUNTED_TO started finished before after
  until [ "$(sql "select count(*) from order_api.outbox")" = 0 ]; do sleep 0.2; done
  before=$(cpu_snapshot)
  local counts_before=($(database_counts))
  started=$(date +%s.%N)
  kill -CONT $workers
  # Polled cheaply (a count, once a second): the poll's own CPU counts in the whole machine's.
  # The drain's length is read from the last order's notified_at, not from the poll.
  local deadline=$((SECONDS + 120)) total notified
  while [ "$(sql "select count(*) from order_api.orders where created_at >= '$from' and created_at < '$to' and notified_at is null")" != 0 ] \
    && [ $SECONDS -lt $deadline ]; do sleep 1; done
  finished=$(sql "select extract(epoch from max(notified_at)) from order_api.orders where created_at >= '$from' and created_at < '$to'")
  after=$(cpu_snapshot)
  local counts_after=($(database_counts))
  read -r total notified _ < <(completion "$from" "$to")
  python3 - "$total" "$notified" "$started" "$finished" "$(bench/cpu.py account "$before" "$after")" "${counts_before[@]}" "${counts_after[@]}" <<'PY'
import json, sys
total, notified = int(sys.argv[1]), int(sys.argv[2])
elapsed, used = max(float(sys.argv[4]) - float(sys.argv[3]), 0.001), json.loads(sys.argv[5])
commits = int(sys.argv[8]) - int(sys.argv[6])
statements = "?" if "?" in (sys.argv[7], sys.argv[9]) else f"{(int(sys.argv[9]) - int(sys.argv[7])) / max(notified, 1):.1f}"
per = lambda group: used[group] / max(notified, 1)
columns = ["machine", "order-api", "inventory-worker", "notification-worker", "PostgreSQL", "RabbitMQ"]
print(f"| {total} | {notified} | {notified / elapsed:.0f} | " + " | ".join(f"{per(c):.2f}" for c in columns) + f" | {commits / max(notified, 1):.2f} | {statements} |")
PY
}

# The ingest at SATURATION_CONNECTIONS beside the working pipeline (BESIDE, the ingest table's
# run) and alone (ALONE, the drain's fill), each: wrk's result, the CPU account, its start and
# end, and the orders reserved and notified meanwhile. Prints the table's two rows, then the
# account of the ingest target (5,000 orders/s): what the ingest alone would take of the
# machine at that rate, and what the pipeline took beside it.
ingest_account() {
  python3 - "$(nproc)" "${BESIDE[@]}" "${ALONE[@]}" <<'PY'
import json, sys
cores, runs = int(sys.argv[1]), [sys.argv[2:8], sys.argv[8:14]]
columns = ["machine", "order-api", "inventory-worker", "notification-worker", "PostgreSQL", "RabbitMQ", "rest"]
figures = []
for name, (result, used, started, finished, reserved, notified) in zip(["workers running", "workers stopped"], runs):
    result, used, seconds = json.loads(result), json.loads(used), float(finished) - float(started)
    figures.append((result["accepted_per_s"], {c: used[c] / 1000 / seconds for c in columns}))
    print(f"| {name} | {result['accepted_per_s']:.0f} | {result['p99_ms']:.1f} | {int(reserved) / seconds:.0f} | {int(notified) / seconds:.0f} | "
          + " | ".join(f"{used[c] / 1000 / seconds:.2f}" for c in columns) + " |")
(rate, beside), (alone_rate, alone) = figures
cost = {c: alone[c] / alone_rate * 1000 for c in columns}  # ms per accepted order, the ingest alone
need = 5000 * cost["machine"] / 1000
pipeline = beside["machine"] - rate * cost["machine"] / 1000
print()
print(f"The ingest alone costs {cost['machine']:.3f} ms of the machine per accepted order (order-api {cost['order-api']:.3f}, "
      f"PostgreSQL {cost['PostgreSQL']:.3f}, RabbitMQ {cost['RabbitMQ']:.3f}, the rest {cost['rest']:.3f}): 5,000 accepted orders/s "
      f"would take {need:.2f} of the {cores} cores, leaving {cores - need:.2f} for the pipeline. Beside the ingest at {rate:.0f}/s the "
      f"pipeline took {pipeline:.2f} cores (the whole machine's {beside['machine']:.2f} less what that ingest alone costs).")
PY
}

log "draining a backlog"
add "## Drain: what an order costs ($REPLICAS inventory replica(s))"
add ""
add "Workers stopped while closed-loop ingest ($SATURATION_CONNECTIONS connections, ${DRAIN_INGEST_SECONDS} s) fills their queue; then everything until the last order is notified. CPU in ms per order; the whole machine includes what no column names (the kernel's own threads, the load generator's idle wait); statements and commits in the benchmark's database."
add ""
add "| orders | notified | drained/s | CPU, whole machine | order-api | inventory-worker | notification-worker | PostgreSQL | RabbitMQ | commits per order | statements per order |"
add "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
drain > "$STATE/drain.row"  # in this shell, so that ALONE stays set
add "$(cat "$STATE/drain.row")"
add ""

if [ -n "${BESIDE+set}" ]; then
  add "## Ingest beside the pipeline: where the machine goes"
  add ""
  add "Closed-loop ingest at $SATURATION_CONNECTIONS connections with the workers running (the ingest table's run) and stopped (the drain's backlog filling). Cores held on average over the run; the rest is the load generator, the kernel's own threads and the benchmark's polls."
  add ""
  add "| workers | accepted/s | p99 ms | reserved/s meanwhile | notified/s meanwhile | cores: whole machine | order-api | inventory-worker | notification-worker | PostgreSQL | RabbitMQ | the rest |"
  add "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  while IFS= read -r line; do add "$line"; done < <(ingest_account)
  add ""
fi

add "## Memory at the end (resident)"
add ""
add "| service | RSS MiB |"
add "|---|---:|"
for pidfile in "$STATE"/pids/*.pid; do
  name=$(basename "$pidfile" .pid)
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$(cat "$pidfile")/status" 2>/dev/null || echo "?")
  add "| $name | $rss |"
done
add ""

if [ ${#SCALING[@]} -gt 0 ]; then
  add "## Scaling: saturation ($SATURATION_CONNECTIONS connections, closed loop) by inventory replicas"
  add ""
  add "| replicas | notified/s | p50 ms | p99 ms | incomplete |"
  add "|---:|---:|---:|---:|---:|"
  for replicas in "${SCALING[@]}"; do
    log "saturation with $replicas inventory replica(s)"
    fresh_system "$replicas"
    read -r _ per_second p50 _ p99 incomplete _ < <(end_to_end ingest "$SATURATION_CONNECTIONS")
    add "| $replicas | $per_second | $p50 | $p99 | $incomplete |"
  done
  add ""
fi

services down >/dev/null 2>&1 || true
printf '%s\n' "${report[@]}" | tee "$OUT"
log "written to $OUT"
