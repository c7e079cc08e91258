# Sourced by the scripts that leave a server running (infra.sh, balancer.sh).

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
