#!/usr/bin/env bash
# Checks that `train` never leaves a broken artifact set: runs it into one folder 20 times (a
# different seed each time, so consecutive sets differ) and kills it with SIGKILL at a random
# moment; after every kill the folder must hold one complete set, whose `model.bin` loads in
# `serve` and whose `model.json` names that `model.bin`. Then fills a small tmpfs (when this
# machine allows mounting one) so that a run fails for want of space, and checks the previous
# set is intact.
# usage: scripts/check-crash.sh DATA_CSV [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:?usage: scripts/check-crash.sh DATA_CSV [RUNS]}"
runs="${2:-20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
train="$CARGO_TARGET_DIR/release/train"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$train" && -x "$serve" ]] || cargo build --release --quiet -p train -p serve
work="$(mktemp -d)"
cleanup() { mountpoint -q "$work/small" 2> /dev/null && umount "$work/small"; rm -rf "$work"; }
trap cleanup EXIT
out="$work/out"
head -6 "$data" > "$work/rows.csv"

check_set() { # folder -> fails unless it holds one consistent, loadable set
  "$serve" score --model "$1/model.bin" --input "$work/rows.csv" > /dev/null 2> "$work/score.err" || {
    echo "check-crash: $1/model.bin does not load:" >&2; cat "$work/score.err" >&2; return 1;
  }
  python3 - "$1" <<'PY'
import hashlib, json, sys
folder = sys.argv[1]
card = json.load(open(f"{folder}/model.json"))
digest = hashlib.sha256(open(f"{folder}/model.bin", "rb").read()).hexdigest()
assert card["artifact_sha256"] == digest, f"model.json names {card['artifact_sha256'][:12]}, model.bin is {digest[:12]}"
json.load(open(f"{folder}/leaderboard.json"))
PY
}

"$train" --quiet --data "$data" --out "$out" --seed 1000
check_set "$out"
replaced=0
for run in $(seq "$runs"); do
  before="$(sha256sum "$out/model.bin" | cut -c1-64)"
  "$train" --quiet --data "$data" --out "$out" --seed "$run" &
  pid=$!
  sleep "$(python3 -c "import random; print(random.Random($run).uniform(0, 0.4))")"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  check_set "$out"
  [[ "$(sha256sum "$out/model.bin" | cut -c1-64)" != "$before" ]] && replaced=$((replaced + 1))
done
# A complete run afterwards removes what the killed runs left behind.
"$train" --quiet --data "$data" --out "$out" --seed 2000
check_set "$out"
leftovers="$(find "$work" -maxdepth 1 -name '.out.staging-*' | wc -l)"
[[ "$leftovers" -eq 0 ]] || { echo "check-crash: $leftovers staging folder(s) left" >&2; exit 1; }
echo "check-crash: $runs runs killed at random moments ($replaced after publishing the new set, $((runs - replaced)) before); every time one complete, consistent set"
# The run store beside the output folder survived every kill: sound, and every run is in it
# (killed ones stay `running`, the others `finished`).
python3 - "$work/runs.sqlite" "$((runs + 2))" <<'PY'
import sqlite3, sys
store, expected = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
(integrity,) = store.execute("PRAGMA integrity_check").fetchone()
counts = dict(store.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
assert integrity == "ok", integrity
assert sum(counts.values()) <= expected and counts.get("finished", 0) >= 2, counts
print(f"check-crash: run store after the kills: integrity {integrity}, runs {counts}")
PY

mkdir -p "$work/small"
if mount -t tmpfs -o size=4m tmpfs "$work/small" 2> /dev/null; then
  # The run store stays off the small disk: the full disk must be met where the set is published.
  "$train" --quiet --data "$data" --out "$work/small/out" --seed 1 --store "$work/runs.sqlite"
  before="$(sha256sum "$work/small/out/model.bin")"
  # Leave 16 KiB free: the next set cannot be staged.
  free="$(df --output=avail -B1 "$work/small" | tail -1)"
  head -c "$((free - 16384))" /dev/zero > "$work/small/filler" 2> /dev/null || true
  if "$train" --quiet --data "$data" --out "$work/small/out" --seed 2 --store "$work/runs.sqlite" 2> "$work/full.err"; then
    echo "check-crash: a run on a full disk did not fail" >&2
    exit 1
  fi
  grep -q "No space left" "$work/full.err" || { cat "$work/full.err" >&2; exit 1; }
  [[ "$(sha256sum "$work/small/out/model.bin")" == "$before" ]]
  check_set "$work/small/out"
  echo "check-crash: a full disk fails the run ($(grep -o 'No space left on device' "$work/full.err" | head -1)) and leaves the previous set intact"
else
  echo "check-crash: cannot mount a tmpfs here; the full-disk case is covered by train's publish tests"
fi
