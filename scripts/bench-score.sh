#!/usr/bin/env bash
# Batch scoring throughput and memory: generates a seeded sepsis-shaped CSV (the committed
# model's columns, an id, values drawn around the training ranges with some cells empty), then
# times `serve score` on it, printing rows per second and peak
# resident memory (GNU time). BASELINE_SERVE names another `serve` binary to time beside it
# (and the outputs must be identical); MODEL another sepsis artifact (default the committed one).
#
# Usage: scripts/bench-score.sh [ROWS]   (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
n_rows="${1:-1000000}"
model="${MODEL:-artifacts/sepsis/model.bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
cargo build --release -q -p serve
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x /usr/bin/time ]] || { echo "bench-score: needs GNU time (apt-get install time)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
input="$work/patients.csv"
python3 - "$n_rows" "$input" <<'PY'
import random, sys
n_rows, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
with open(path, "w") as out:
    out.write("ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\n")
    for row in range(n_rows):
        cells = [
            f"ICU{row}",
            str(rng.randint(0, 12)),
            str(rng.randint(60, 190)),
            str(rng.randint(40, 110)) if rng.random() > 0.05 else "",
            str(rng.randint(0, 60)),
            str(rng.choice([0, rng.randint(15, 500)])),
            f"{rng.uniform(18, 55):.1f}",
            f"{rng.uniform(0.08, 2.2):.3f}",
            str(rng.randint(21, 80)),
            str(rng.randint(0, 1)),
        ]
        out.write(",".join(cells) + "\n")
PY
echo "input: $n_rows rows, $(du -h "$input" | cut -f1); $(nproc) cores"
echo "| binary | model | seconds | rows/s | peak RSS MB |"
echo "|---|---|---|---|---|"
run() {
  local name="$1" binary="$2"
  /usr/bin/time -f "%e %M" -o "$work/time" "$binary" score --model "$model" \
    --input "$input" --output "$work/out.csv" 2> /dev/null
  read -r seconds kilobytes < "$work/time"
  local family
  family=$(sed -n 's/.*"model": "\([^"]*\)".*/\1/p' "$(dirname "$model")/model.json" | head -1)
  awk -v n="$name" -v m="$family" -v s="$seconds" -v k="$kilobytes" -v r="$n_rows" \
    'BEGIN { printf "| %s | %s | %.2f | %.0f | %.1f |\n", n, m, s, r / s, k / 1024 }'
}
run current "$serve"
if [[ -n "${BASELINE_SERVE:-}" ]]; then
  run baseline "$BASELINE_SERVE"
  cp "$work/out.csv" "$work/baseline.csv"
  run current "$serve"
  cmp -s "$work/out.csv" "$work/baseline.csv" && echo "outputs: identical" || { echo "outputs differ" >&2; exit 1; }
fi
