# Sourced by the check scripts: starts and stops the release `serve` on 127.0.0.1 with a port
# the OS picks. The caller defines $serve (the binary) and $work (a scratch folder) and stops
# the server on exit (`stop_server`, or `kill "$server_pid"` in its cleanup).
server_pid=""

# start_server MODEL [OPTION...]: sets $base (http://127.0.0.1:PORT) and $server_pid.
start_server() {
  local model="$1"
  shift
  start_server_with --model "$model" "$@"
}

# start_server_with OPTION...: the same with the model's source among the options (for
# `--registry DIR`).
start_server_with() {
  # Emptied first: a previous server's line must not be read as this one's.
  : > "$work/server.out"
  "$serve" --host 127.0.0.1 --port 0 "$@" > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2> /dev/null && break; sleep 0.05; done
  base="$(sed -n 's/^listening on //p' "$work/server.out" | head -1)"
  [[ -n "$base" ]] || { cat "$work/server.err" >&2; return 1; }
}

# stop_server: SIGTERM, and the exit must be clean.
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid"
  server_pid=""
}
