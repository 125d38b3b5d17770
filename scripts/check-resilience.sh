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
source scripts/server.sh
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Short timeouts so stalled clients are dropped within the run; two workers as on this machine.
start_server artifacts/sepsis/model.bin --workers 2 --request-timeout 2 --body-timeout 3
python3 scripts/resilience.py "$base" "$server_pid" "$rss_limit"
stop_server
echo "check-resilience: ok"
