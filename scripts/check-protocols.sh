#!/usr/bin/env bash
# Checks MLflow's scoring protocol and the Open Inference Protocol with their real clients
# (scripts/check-protocols.py), then runs the locust load test (scripts/load-test.sh) for
# 20 s, against the release binary on 127.0.0.1. The Python packages live in a virtualenv
# outside the clone ($VIGIL_VENV, default ~/.cache/vigil-venv), created on first use.
# usage: scripts/check-protocols.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$serve" ]] || cargo build --release --quiet -p serve
source scripts/venv.sh
work="$(mktemp -d)"
source scripts/server.sh
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_server artifacts/sepsis/model.bin
"$VIGIL_PYTHON" scripts/check-protocols.py "$base"
stop_server
scripts/load-test.sh 20
