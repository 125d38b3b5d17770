#!/usr/bin/env bash
# Checks drift verdicts on real data: the sepsis test file against the committed sepsis model,
# and copies of it with one change each (PL raised by 40, SK never measured, only patients
# over 60). The unshifted file may flag at most one feature; each copy must flag its changed
# feature and nothing the unshifted file does not.
# usage: scripts/check-drift.sh TEST_CSV [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
input="${1:?usage: scripts/check-drift.sh TEST_CSV [MODEL]}"
model="${2:-artifacts/sepsis/model.bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$serve" ]] || cargo build --release --quiet -p serve
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$input" "$work" <<'PY'
import csv, io, sys
source, folder = sys.argv[1], sys.argv[2]
text = open(source, encoding="utf-8-sig", newline="").read().replace("\r\n", "\n").replace("\r", "\n")
rows = [row for row in csv.reader(io.StringIO(text)) if row]
header, data = rows[0], rows[1:]
column = {name: idx for idx, name in enumerate(header)}
def write(name, records):
    with open(f"{folder}/{name}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(records)
def changed(name, value):
    out = []
    for row in data:
        row = row[:]
        row[column[name]] = value(row[column[name]])
        out.append(row)
    return out
write("unshifted", data)
write("PL", changed("PL", lambda v: v if float(v) == 0 else str(int(float(v)) + 40)))
write("SK", changed("SK", lambda v: "0"))
write("Age", [row for row in data if float(row[column["Age"]]) > 60])
PY

verdict() { # name -> drifted features, one per line
  "$serve" drift --model "$model" --input "$work/$1.csv" --out "$work/out-$1" > "$work/$1.txt"
  python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
print(" ".join(report["drifted_features"] + (["(probability)"] if report["probability_drifted"] else [])))
print(report["n_records"])
' "$work/out-$1/drift.json"
}
fail=0
result="$(verdict unshifted)"
baseline="$(sed -n 1p <<< "$result")"
echo "unshifted: $(sed -n 2p <<< "$result") records, drifted: ${baseline:-none}"
if [[ $(wc -w <<< "$baseline") -gt 1 ]]; then
  echo "check-drift: the unshifted file flags more than one feature: $baseline" >&2
  fail=1
fi
for feature in PL SK Age; do
  result="$(verdict "$feature")"
  found="$(sed -n 1p <<< "$result")"
  echo "$feature changed: $(sed -n 2p <<< "$result") records, drifted: ${found:-none}"
  if ! grep -qw "$feature" <<< "$found"; then
    echo "check-drift: the copy with $feature changed does not flag $feature" >&2
    fail=1
  fi
  for other in $found; do
    if [[ "$other" != "$feature" && "$other" != "(probability)" ]] && ! grep -qw -- "$other" <<< "$baseline"; then
      echo "check-drift: the copy with $feature changed also flags $other" >&2
      fail=1
    fi
  done
done
[[ $fail -eq 0 ]] && echo "check-drift: ok"
exit $fail
