#!/usr/bin/env bash
# Cost of `?explain=true` per model family: trains one sepsis artifact per family (default
# hyperparameters, seed 42) and runs `cargo bench -p serve --bench explain` on all of them.
#
# Usage: scripts/bench-explain.sh [SEPSIS_CSV]   (default: the config's data/Paitients_Files_Train.csv)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-data/Paitients_Files_Train.csv}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
out="$target/bench-explain"
cargo build --release -q -p train
paths=()
for family in lr dt rf gbm knn svm nb et; do
    "$target/release/train" --quiet --data "$data" --models "$family" --coverage 0 \
        --out "$out/$family" --store "$out/runs.sqlite"
    paths+=("$out/$family/model.bin")
done
VIGIL_BENCH_ARTIFACTS="$(IFS=:; echo "${paths[*]}")" cargo bench -q -p serve --bench explain
