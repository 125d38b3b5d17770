#!/usr/bin/env bash
# Times training in release: the default sepsis run (eight models x 5 folds + final fit) and the
# same with `--tune 30` (nested random search), as the median of several runs.
# usage: scripts/bench-train.sh [DATA_CSV] [RUNS]
# TRAIN_BIN=path times another build of `train` instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/sepsis/Paitients_Files_Train.csv}"
runs="${2:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
bin="${TRAIN_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build --release --quiet -p train
  bin="$CARGO_TARGET_DIR/release/train"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

median_of() {
  # Runs "$@" $runs times; prints the median wall time in seconds.
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'
}

echo "machine: $(nproc) cores; data: $data; median of $runs runs"
default=$(median_of "$bin" --quiet --config data/sepsis.toml --data "$data" --out "$out/default")
echo "sepsis default run (8 models x 5 folds + final fit): ${default} s   (target < 1 s; scikit-learn 7-10 s)"
tune_runs=$(( runs < 3 ? runs : 3 ))
runs=$tune_runs
tuned=$(median_of "$bin" --quiet --config data/sepsis.toml --data "$data" --out "$out/tuned" --tune 30)
echo "sepsis --tune 30 (nested CV, 30 candidates per model): ${tuned} s   (target < 10 s; scikit-learn 80-210 s per model)"
