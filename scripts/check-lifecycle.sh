#!/usr/bin/env bash
# Checks the model lifecycle against the real binaries: `train --register` builds a registry
# of three versions (the third damaged on disk after registration), `serve --registry`
# follows its `production` alias, and scripts/reload-under-load.py keeps 32 clients posting
# for 20 s while the alias moves five times and the damaged version is promoted once. Then
# SIGHUP reloads. Zero failed requests; every answer names the version that produced it.
# usage: scripts/check-lifecycle.sh SEPSIS_TRAIN_CSV
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:?usage: scripts/check-lifecycle.sh SEPSIS_TRAIN_CSV}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
train="$CARGO_TARGET_DIR/release/train"
[[ -x "$serve" && -x "$train" ]] || cargo build --release --quiet -p serve -p train
work="$(mktemp -d)"
source scripts/server.sh
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

registry="$work/registry/sepsis"
# Three different models of one dataset: fast families, so the registry builds in seconds.
for models in lr nb dt; do
  "$train" --quiet --models "$models" --config data/sepsis.toml --data "$data" --out "$work/out" --register
done
"$train" models list --registry "$registry" | sed 's/^/check-lifecycle: /'
"$train" promote 1 --registry "$registry" > /dev/null
# Damage version 3 on disk, as a failing disk or a bad copy would.
python3 - "$registry/versions/3/model.bin" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0x40
open(path, "wb").write(data)
PY

start_server_with --registry "$registry" --workers 2
python3 scripts/reload-under-load.py "$base" "$train" "$registry" "$server_pid" 20 32
stop_server
echo "check-lifecycle: ok"
