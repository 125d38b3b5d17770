#!/usr/bin/env bash
# Runs the attacks of scripts/resilience.py (made-up methods, stalled bodies and heads, error
# amplification, an oversized body, concurrent large batches) against the real release binary
# on 127.0.0.1, and fails unless /health stays within 50 ms p99 during and after each and the
# server's RSS stays under the bound.
# usage: scripts/check-resilience.sh [RSS_LIMIT_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
rss_limit="${1:-256}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$serve" ]] || cargo build --release --quiet -p serve
work="$(mktemp -d)"
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Short timeouts so stalled clients are dropped within the run; two workers as on this machine.
"$serve" --model artifacts/sepsis/model.bin --host 127.0.0.1 --port 0 --workers 2 \
  --request-timeout 2 --body-timeout 3 > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2> /dev/null && break; sleep 0.05; done
base="$(sed -n 's/^listening on //p' "$work/server.out" | head -1)"
[[ -n "$base" ]] || { cat "$work/server.err" >&2; exit 1; }
python3 scripts/resilience.py "$base" "$server_pid" "$rss_limit"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "check-resilience: ok"
