#!/usr/bin/env bash
# A load balancer for order-api replicas: HAProxy (Debian's haproxy) on 127.0.0.1 with
# deploy/haproxy/haproxy.cfg, round robin over the replicas whose /ready answers.
#
#   scripts/balancer.sh start PORT BACKEND_PORT...   (re)start it on PORT before those replicas
#   scripts/balancer.sh stop PORT
#
# Its backend file, pid file and log go to $BALANCER_STATE (default .run/balancer-PORT).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/detach.sh
source "$ROOT/scripts/detach.sh"
log() { printf '[balancer] %s\n' "$*" >&2; }
die() { printf '[balancer] error: %s\n' "$*" >&2; exit 1; }

state() { echo "${BALANCER_STATE:-$ROOT/.run/balancer-$1}"; }

running() { [ -f "$1/haproxy.pid" ] && kill -0 "$(cat "$1/haproxy.pid")" 2>/dev/null; }

start() {
  local port=$1; shift
  [ $# -gt 0 ] || die "usage: $0 start PORT BACKEND_PORT..."
  command -v haproxy >/dev/null || "$ROOT/scripts/infra.sh" install-balancer
  local dir; dir="$(state "$port")"
  mkdir -p "$dir"
  stop "$port"
  {
    echo "# Written by scripts/balancer.sh: the replicas on 127.0.0.1, each checked on /ready."
    echo "backend order-api"
    echo "    balance roundrobin"
    echo "    option httpchk GET /ready"
    echo "    http-check expect status 200"
    echo "    default-server inter 1s fall 3 rise 2"
    local n=1 backend
    for backend in "$@"; do
      echo "    server order-api-$n 127.0.0.1:$backend check"
      n=$((n + 1))
    done
  } > "$dir/backend.cfg"
  export BALANCER_BIND="127.0.0.1:$port"
  local config=(-f "$ROOT/deploy/haproxy/haproxy.cfg" -f "$dir/backend.cfg")
  haproxy -c -q "${config[@]}" || die "the configuration ($dir/backend.cfg) does not parse"
  # Without the caller's descriptors above 2: the balancer outlives the caller.
  (without_inherited_fds exec haproxy "${config[@]}") </dev/null >>"$dir/haproxy.log" 2>&1 &
  echo $! > "$dir/haproxy.pid"
  local deadline=$((SECONDS + 10))
  until running "$dir" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "HAProxy did not start; see $dir/haproxy.log"
    sleep 0.1
  done
  log "HAProxy on 127.0.0.1:$port before order-api on $(printf '%s ' "$@")(backend in $dir/backend.cfg)"
}

stop() {
  local dir; dir="$(state "$1")"
  running "$dir" || return 0
  kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while running "$dir" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  rm -f "$dir/haproxy.pid"
  log "stopped HAProxy on 127.0.0.1:$1"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop "${2:?usage: $0 stop PORT}" ;;
  *) die "usage: $0 start PORT BACKEND_PORT... | stop PORT" ;;
esac
