#!/usr/bin/env bash
# Checks monitoring as an operator's tools see it, against the real `serve` binary:
#   - `promtool check metrics` finds nothing to complain about in /metrics after mixed traffic;
#   - the alert rules in deploy/prometheus pass `promtool check rules` and their unit tests;
#   - a real Prometheus (Debian's `prometheus` package) scrapes the server, and its HTTP API
#     then returns `vigil_model_info`.
# Installs Debian's `prometheus` when missing. Everything listens on 127.0.0.1.
# usage: scripts/check-monitoring.sh [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-artifacts/sepsis/model.bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$serve" ]] || cargo build --release --quiet -p serve
if ! command -v promtool > /dev/null || ! command -v prometheus > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus > /dev/null
fi

work="$(mktemp -d)"
pids=()
# Each process must be gone before the folder it writes into (Prometheus' TSDB) is removed.
cleanup() { for pid in "${pids[@]}"; do { kill "$pid"; wait "$pid"; } 2> /dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Emptied first: a previous server's line must not be read as this one's.
: > "$work/server.out"
"$serve" --model "$model" --host 127.0.0.1 --port 0 > "$work/server.out" 2> "$work/server.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2> /dev/null && break; sleep 0.05; done
base="$(sed -n 's/^listening on //p' "$work/server.out" | head -1)"
[[ -n "$base" ]] || { cat "$work/server.err" >&2; exit 1; }
address="${base#http://}"

# Mixed traffic: valid and refused records, a batch, unknown paths and methods, drift.
example="$(curl -sf "$base/openapi.json" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["components"]["schemas"]["Record"]["example"]))')"
for _ in $(seq 20); do
  curl -s -o /dev/null "$base/predict" -H 'content-type: application/json' -d "$example"
done
curl -s -o /dev/null "$base/predict/batch" -H 'content-type: application/json' -d "[$example, $example, $example]"
curl -s -o /dev/null "$base/predict" -H 'content-type: application/json' -d '{"nonsense": 1}'
curl -s -o /dev/null "$base/predict" -H 'content-type: text/plain' -d 'x'
curl -s -o /dev/null "$base/no/such/path"
curl -s -o /dev/null -X MADEUP "$base/predict"
curl -s -o /dev/null "$base/drift"
curl -sf "$base/metrics" > "$work/metrics.txt"
if ! promtool check metrics < "$work/metrics.txt" > "$work/promtool.txt" 2>&1 || [[ -s "$work/promtool.txt" ]]; then
  echo "check-monitoring: promtool check metrics complained:" >&2
  cat "$work/promtool.txt" >&2
  exit 1
fi
echo "promtool check metrics: $(grep -vc '^#' "$work/metrics.txt") series, no complaint"

promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml
promtool check config deploy/prometheus/prometheus.yml > /dev/null

# A real Prometheus scraping the live server every second.
mkdir -p "$work/prometheus"
cp deploy/prometheus/alerts.yml "$work/prometheus/"
sed -e "s/scrape_interval: 15s/scrape_interval: 1s/" -e "s/evaluation_interval: 15s/evaluation_interval: 1s/" \
  -e "s/127.0.0.1:8000/$address/" deploy/prometheus/prometheus.yml > "$work/prometheus/prometheus.yml"
prometheus_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
prometheus --config.file="$work/prometheus/prometheus.yml" --storage.tsdb.path="$work/prometheus/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" > "$work/prometheus.log" 2>&1 &
pids+=($!)
query="http://127.0.0.1:$prometheus_port/api/v1/query?query=vigil_model_info"
for _ in $(seq 120); do
  if curl -sf "$query" 2> /dev/null | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)' 2> /dev/null; then
    found=1
    break
  fi
  sleep 0.5
done
if [[ -z "${found:-}" ]]; then
  echo "check-monitoring: Prometheus never returned vigil_model_info" >&2
  tail -20 "$work/prometheus.log" >&2
  exit 1
fi
curl -sf "$query" | python3 -c '
import json, sys
result = json.load(sys.stdin)["data"]["result"]
labels = result[0]["metric"]
print("prometheus: scraped vigil_model_info{model_version=\"%s\", dataset=\"%s\"} = %s" % (labels["model_version"], labels["dataset"], result[0]["value"][1]))
'
echo "check-monitoring: ok"
