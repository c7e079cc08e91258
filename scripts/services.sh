#!/usr/bin/env bash
# Runs the services on this machine, without Docker (CONTRACT §7).
#
#   scripts/services.sh up [inventory-replicas] [api-replicas]   start what is not running; print the URLs
#   scripts/services.sh down                      stop the services started here
#   scripts/services.sh logs [service]            follow the logs
#
# Replica n of a worker gets ADMIN_PORT + 10·(n−1), REPLICA=n, its pid in
# .run/pids/<service>-<n>.pid and its log in .run/logs/<service>-<n>.log. With more than one
# order-api, replica n listens on PORT + 10·n (8111, 8121, …) behind a balancer on PORT
# (scripts/balancer.sh). RABBITMQ_URL, when set, reaches every service.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# SERVICES_STATE and BIN let the benchmark run its own release build beside `make up`'s.
STATE="${SERVICES_STATE:-$ROOT/.run}"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
BIN="${BIN:-$ROOT/.build/debug}"

log() { printf '[services] %s\n' "$*" >&2; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start SERVICE REPLICA PORT_VARIABLE PORT
start() {
  local service=$1 replica=$2 variable=$3 port=$4
  local pidfile="$PIDS/$service-$replica.pid" logfile="$LOGS/$service-$replica.log"
  if running "$pidfile"; then
    log "$service-$replica is running (pid $(cat "$pidfile"))"
    return
  fi
  env REPLICA="$replica" "$variable=$port" LOG_FORMAT="${LOG_FORMAT:-json}" \
    "$BIN/$service" >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
  log "started $service-$replica (pid $!, port $port, log $logfile)"
}

wait_healthy() {
  local name=$1 url=$2 pidfile=$3 deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    running "$pidfile" || { log "$name exited; see its log:"; tail -n 20 "$LOGS/$name.log" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { log "$name is not healthy after 60 s; see $LOGS/$name.log"; exit 1; }
    sleep 0.2
  done
}

up() {
  local replicas=${1:-1} apis=${2:-1}
  mkdir -p "$PIDS" "$LOGS"
  local order_port=${PORT:-8101} inventory_port=${INVENTORY_ADMIN_PORT:-9102} notification_port=${NOTIFICATION_ADMIN_PORT:-9103}
  local api_ports=("$order_port")
  [ "$apis" -le 1 ] || api_ports=($(for n in $(seq 1 "$apis"); do echo $((order_port + 10 * n)); done))
  for n in $(seq 1 "$apis"); do start order-api "$n" PORT "${api_ports[n - 1]}"; done
  for n in $(seq 1 "$replicas"); do
    start inventory-worker "$n" ADMIN_PORT $((inventory_port + 10 * (n - 1)))
  done
  start notification-worker 1 ADMIN_PORT "$notification_port"

  for n in $(seq 1 "$apis"); do
    wait_healthy "order-api-$n" "http://127.0.0.1:${api_ports[n - 1]}/health" "$PIDS/order-api-$n.pid"
  done
  if [ "$apis" -gt 1 ]; then
    BALANCER_STATE="$STATE/balancer" "$ROOT/scripts/balancer.sh" start "$order_port" "${api_ports[@]}"
    wait_healthy balancer "http://127.0.0.1:$order_port/health" "$STATE/balancer/haproxy.pid"
  fi
  for n in $(seq 1 "$replicas"); do
    wait_healthy "inventory-worker-$n" "http://127.0.0.1:$((inventory_port + 10 * (n - 1)))/health" "$PIDS/inventory-worker-$n.pid"
  done
  wait_healthy notification-worker-1 "http://127.0.0.1:$notification_port/health" "$PIDS/notification-worker-1.pid"

  cat <<URLS
The order pipeline is up:
  order board           http://127.0.0.1:$order_port/   (open it in a browser)
  order-api             http://127.0.0.1:$order_port   (POST /orders, GET /orders/{id}, /ready, /metrics)$( [ "$apis" -gt 1 ] && echo "
                        balancer before $apis replicas on ports ${api_ports[*]}")
  inventory-worker ×$replicas   http://127.0.0.1:$inventory_port/inventory$( [ "$replicas" -gt 1 ] && echo "  (replica n on port $inventory_port + 10·(n−1))")
  notification-worker   http://127.0.0.1:$notification_port/ready
  RabbitMQ management   http://127.0.0.1:15672   (guest / guest)
  logs                  make logs   (or make logs SERVICE=inventory-worker)
Try:
  curl -s -X POST http://127.0.0.1:$order_port/orders -H 'Content-Type: application/json' -d '{"user_id":"u1","item":"Pizza","quantity":2}'
URLS
}

down() {
  BALANCER_STATE="$STATE/balancer" "$ROOT/scripts/balancer.sh" stop "${PORT:-8101}"
  shopt -s nullglob
  local pidfiles=("$PIDS"/*.pid)
  for pidfile in "${pidfiles[@]}"; do
    running "$pidfile" && kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 30))
  for pidfile in "${pidfiles[@]}"; do
    while running "$pidfile" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if running "$pidfile"; then
      log "$(basename "$pidfile" .pid) did not stop within 30 s; killing it"
      kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  [ ${#pidfiles[@]} -eq 0 ] || log "stopped ${#pidfiles[@]} service process(es)"
}

logs() {
  shopt -s nullglob
  local files=("$LOGS"/${1:-*}*.log)
  [ ${#files[@]} -gt 0 ] || { log "no logs yet under $LOGS"; exit 1; }
  exec tail -n 50 -F "${files[@]}"
}

case "${1:-}" in
  up) up "${2:-1}" "${3:-1}" ;;
  down) down ;;
  logs) logs "${2:-}" ;;
  *) echo "usage: $0 up [inventory-replicas] [api-replicas] | down | logs [service]" >&2; exit 2 ;;
esac
