#!/usr/bin/env bash
# Runs scripts/locustfile.py headless against a local release `serve` (sepsis) for a bounded
# time and writes locust's CSV and HTML report under target/load-test/. Fails on any failed
# request (a valid request not answered 200, an invalid one not answered 4xx) or any 5xx.
# usage: scripts/load-test.sh [SECONDS] [USERS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
users="${2:-16}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$serve" ]] || cargo build --release --quiet -p serve
source scripts/venv.sh
report="target/load-test"
mkdir -p "$report"
work="$(mktemp -d)"
source scripts/server.sh
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_server artifacts/sepsis/model.bin
"$VIGIL_PYTHON" -m locust -f scripts/locustfile.py --headless --host "$base" --users "$users" \
  --spawn-rate "$users" --run-time "${seconds}s" --only-summary --csv "$report/locust" \
  --html "$report/locust.html" --loglevel WARNING > "$work/locust.out" 2>&1 || true
"$VIGIL_PYTHON" - "$report/locust_stats.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
total = next(row for row in rows if row["Name"] == "Aggregated")
for row in rows:
    print(f"load-test: {row['Type'] or '':5} {row['Name']:28} {int(row['Request Count']):7} requests, "
          f"{int(row['Failure Count'])} failed, median {row['Median Response Time']} ms, "
          f"p99 {row['99%']} ms, {float(row['Requests/s']):.0f}/s")
if int(total["Request Count"]) == 0 or int(total["Failure Count"]) > 0:
    sys.exit("load-test: failures (see target/load-test/locust_failures.csv)")
PY
stop_server
echo "load-test: ok (report: $report/locust.html)"
