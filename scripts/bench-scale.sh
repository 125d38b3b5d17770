#!/usr/bin/env bash
# Training and batch scoring at 10k-1M rows, vigil beside scikit-learn and LightGBM, in one run.
#
# For each size it generates a seeded clinical-shaped table (scripts/bench_scale.py: 20 numeric
# features with empty cells, a 3-level categorical, a binary outcome), trains each vigil family
# alone (`train --models X`: 5-fold CV, final fit, reports) and times the Python peer on exactly
# the folds vigil used (read from vigil's out_of_fold.csv) plus a final fit, with the same
# preprocessing. Wall time and peak RSS come from GNU time around each process; vigil's peak is
# also given as a multiple of the table's feature matrix in f64 (rows x features x 8 bytes, the
# measure of the memory goal). Then it scores
# an unlabelled table of SCORE_ROWS rows with `serve score` (vigil's histogram boosting trained
# at the largest size) and with pandas + LightGBM (read_csv, predict_proba, to_csv; its model
# fitted beforehand, untimed). The peers live in a virtualenv made once outside the clone
# ($VIGIL_BENCH_VENV, default ~/.cache/vigil-bench-venv).
#
# usage: scripts/bench-scale.sh [SIZES] [OUT_MARKDOWN]
#   SIZES: comma-separated row counts (default 10000,100000; add 1000000 for the largest)
#   FAMILIES (env): vigil families to time (default lr,nb,hgb,gbm,rf)
#   SCORE_ROWS (env): rows of the scoring table (default 1000000; 0 skips scoring)
# Prints the table and writes it as Markdown (default $CARGO_TARGET_DIR/bench-scale.md).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-10000,100000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
markdown="${2:-$CARGO_TARGET_DIR/bench-scale.md}"
families="${FAMILIES:-lr,nb,hgb,gbm,rf}"
score_rows="${SCORE_ROWS:-1000000}"
[[ -x /usr/bin/time ]] || { echo "bench-scale: needs GNU time (apt-get install time)" >&2; exit 1; }

source scripts/bench-venv.sh
python="$VIGIL_BENCH_PYTHON"
versions=$("$python" -c "import sklearn, lightgbm; print(f'scikit-learn {sklearn.__version__}, LightGBM {lightgbm.__version__}')")

cargo build --release -q -p train -p serve
train="$CARGO_TARGET_DIR/release/train"
serve="$CARGO_TARGET_DIR/release/serve"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The peers each vigil family is compared with.
peers_of() {
  case "$1" in
    lr) echo sklearn_lr ;;
    nb) echo sklearn_nb ;;
    hgb) echo "lightgbm lightgbm_1core sklearn_hgb" ;;
    gbm) echo lightgbm_depth3 ;;
    rf) echo sklearn_rf ;;
    *) echo "" ;;
  esac
}

# Runs "$@" under GNU time; prints "<wall seconds> <peak RSS MiB>" and leaves stdout in $work/out.
timed() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out"
  awk '{printf "%.1f %.0f\n", $1, $2 / 1024}' "$work/time"
}

auc_of() {
  python3 -c "import json,sys; print('%.4f' % json.load(open(sys.argv[1]))[0]['metrics']['roc_auc']['mean'])" "$1/leaderboard.json"
}

# Mean seconds of one fold's fit, from the leaderboard (the family trained alone).
fold_fit_of() {
  python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))[0]['fit_time_ms']['mean'] / 1000))" "$1/leaderboard.json"
}

# Seconds of the run's cross-validation stage, from the `time:` line `train` prints.
cv_of() {
  sed -n 's/.*cross-validating \([0-9.]*\) s.*/\1/p' "$1"
}

rows_md="| rows | family | vigil wall s | vigil CV s | vigil fit s/fold | vigil RSS MiB | vigil RSS / f64 matrix | vigil CV AUC | peer | peer wall s | peer CV s | peer fit s/fold | peer RSS MiB | peer CV AUC | peer / vigil wall | peer / vigil CV | peer / vigil fit |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "machine: $(nproc) cores; $versions"
IFS=',' read -r -a size_list <<< "$sizes"
IFS=',' read -r -a family_list <<< "$families"
largest=""
for n_rows in "${size_list[@]}"; do
  table="$work/synthetic_$n_rows.csv"
  config="$work/synthetic_$n_rows.toml"
  "$python" scripts/bench_scale.py generate "$n_rows" "$table" "$config"
  largest="$n_rows"
  n_features=$("$python" -c "import sys, tomllib; print(len(tomllib.load(open(sys.argv[1], 'rb'))['features']))" "$config")
  matrix_mib=$(echo "$n_rows * $n_features * 8 / 1048576" | bc -l)
  for family in "${family_list[@]}"; do
    out="$work/vigil_${n_rows}_$family"
    read -r vigil_s vigil_mb < <(timed "$train" --config "$config" --data "$table" --out "$out" --models "$family" --store "$work/runs.sqlite")
    vigil_cv=$(cv_of "$work/out")
    vigil_auc=$(auc_of "$out")
    vigil_fit=$(fold_fit_of "$out")
    vigil_x_matrix=$(printf "%.2f" "$(echo "$vigil_mb / $matrix_mib" | bc -l)")
    for peer in $(peers_of "$family"); do
      read -r peer_s peer_mb < <(timed "$python" scripts/bench_scale.py fit "$peer" "$table" "$out/out_of_fold.csv")
      peer_auc=$(python3 -c "import json; print('%.4f' % json.load(open('$work/out'))['roc_auc'])")
      peer_fit=$(python3 -c "import json; print('%.2f' % json.load(open('$work/out'))['fold_fit_seconds'])")
      peer_cv=$(python3 -c "import json; print('%.2f' % json.load(open('$work/out'))['cv_seconds'])")
      ratio=$(echo "$peer_s / $vigil_s" | bc -l)
      cv_ratio=$(echo "$peer_cv / ($vigil_cv + 0.005)" | bc -l)
      fit_ratio=$(echo "$peer_fit / ($vigil_fit + 0.005)" | bc -l)
      line=$(printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f |" "$n_rows" "$family" "$vigil_s" "$vigil_cv" "$vigil_fit" "$vigil_mb" "$vigil_x_matrix" "$vigil_auc" "$peer" "$peer_s" "$peer_cv" "$peer_fit" "$peer_mb" "$peer_auc" "$ratio" "$cv_ratio" "$fit_ratio")
      echo "$line"
      rows_md+=$'\n'"$line"
    done
  done
done

score_md=""
if [[ "$score_rows" -gt 0 && -n "$largest" ]]; then
  scoring="$work/score_$score_rows.csv"
  "$python" scripts/bench_scale.py generate "$score_rows" "$scoring" "$work/score.toml" --seed 8 --unlabelled
  model_dir="$work/vigil_${largest}_hgb"
  [[ -f "$model_dir/model.bin" ]] || "$train" --quiet --config "$work/synthetic_$largest.toml" --data "$work/synthetic_$largest.csv" --out "$model_dir" --models hgb --store "$work/runs.sqlite"
  read -r vigil_s vigil_mb < <(timed "$serve" score --model "$model_dir/model.bin" --input "$scoring" --output "$work/vigil_scores.csv")
  read -r _ peer_mb < <(timed "$python" scripts/bench_scale.py score "$scoring" "$work/synthetic_$largest.csv" "$work/peer_scores.csv")
  peer_s=$(python3 -c "import json; print('%.1f' % json.load(open('$work/out'))['seconds'])")
  ratio=$(echo "$peer_s / $vigil_s" | bc -l)
  score_md="| rows | vigil \`serve score\` s | vigil RSS MiB | pandas + LightGBM s (read, predict, write) | its RSS MiB (whole process) | peer / vigil time |
|---|---|---|---|---|---|
$(printf "| %s | %s | %s | %s | %s | %.1f |" "$score_rows" "$vigil_s" "$vigil_mb" "$peer_s" "$peer_mb" "$ratio")"
  echo
  echo "$score_md"
fi

{
  echo "# Scale benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $versions; \`scripts/bench-scale.sh $sizes\`."
  echo "vigil's wall time is a whole \`train --models X\` run (5-fold CV two folds at a time, final fit beside permutation importance, calibration choice, bootstrap evidence, reports); the peers' is 5 folds on vigil's folds and a final fit. *CV s* is the same work on both sides: the five folds fitted and their validation rows predicted, on both cores (vigil: two folds at a time, its \`time:\` line's cross-validation stage; the peers: one fold at a time, each fit using both cores where the library can). *fit s/fold* is one fold's fit alone (vigil: the leaderboard's mean, on one core while the other core fits another fold; \`lightgbm_1core\` is LightGBM on one thread, the per-core comparison); the ratio columns divide by vigil's figure plus 5 ms, so a sub-millisecond fit does not divide by zero. *vigil RSS / f64 matrix* is vigil's peak over the table's features as an f64 matrix (rows × features × 8 bytes)."
  echo
  echo "$rows_md"
  if [[ -n "$score_md" ]]; then
    echo
    echo "Batch scoring with the histogram boosting model trained on $largest rows:"
    echo
    echo "$score_md"
  fi
} > "$markdown"
echo "wrote $markdown"
