#!/usr/bin/env bash
# Cost of evaluating the committed sepsis model on a large labelled file: `train evaluate` and
# the server's `POST /evaluate` (the same bootstrap function) on 1,000 to 85,000 records, at
# the default 2,000 resamples and at 200. The file repeats the labelled sepsis rows given (the
# largest size stays under the server's default 4 MiB body limit).
#
# Usage: scripts/bench-evaluate.sh [SEPSIS_CSV]   (default: the config's data/Paitients_Files_Train.csv)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-data/Paitients_Files_Train.csv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
cargo build --release -q -p train -p serve
serve="$CARGO_TARGET_DIR/release/serve"
train="$CARGO_TARGET_DIR/release/train"
work="$(mktemp -d)"
source scripts/server.sh
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_server artifacts/sepsis/model.bin

seconds() { local start end; start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N); echo "$end - $start" | bc; }
echo "| records | resamples | train evaluate s | POST /evaluate s |"
echo "|---|---|---|---|"
for n_records in 1000 10000 85000; do
  file="$work/labelled-$n_records.csv"
  { head -1 "$data"; tail -n +2 "$data" | awk -v n="$n_records" '{rows[NR] = $0} END {for (i = 0; i < n; i++) print rows[i % NR + 1]}'; } > "$file"
  for resamples in 2000 200; do
    cli=$(seconds "$train" evaluate --model artifacts/sepsis/model.bin --config data/sepsis.toml --input "$file" \
      --resamples "$resamples" --out "$work/out" --store "$work/runs.sqlite")
    http=$(seconds curl -sf -X POST -H 'Content-Type: text/csv' --data-binary "@$file" "$base/evaluate?resamples=$resamples")
    printf '| %s | %s | %.2f | %.2f |\n' "$n_records" "$resamples" "$cli" "$http"
  done
done
