#!/usr/bin/env bash
# Load-tests the release server with wrk: server pinned to core 0, load generator to core 1,
# concurrency 1, 16 and 64 for DURATION seconds each, against GET /health, POST /predict (one
# record, then 256 varied ones in turn) and POST /predict/batch (100 records). Prints
# requests/s, p50, p99 and errors.
# Targets: /predict at >= 80% of /health's requests/s; p99 <= 2 ms at concurrency 16. Then a
# bare actix-web server answering the same bodies (the floor), and vigil's share of it; then
# the same floor sending the headers vigil adds to every answer, to tell bytes from work.
# Then the cost of monitoring: /predict at concurrency 16 with metrics and info-level logging
# on (the defaults) against both off (`--metrics false`, RUST_LOG=warn), alternating six times
# (ROUNDS=N to change);
# target: on within 5% of off.
# usage: scripts/bench-serve.sh [MODEL] [DURATION_SECONDS] [all|table|monitoring]
# SERVE_BIN=path runs another build of `serve` instead of building this tree's (to compare two
# versions on the same machine).
# Traffic goes to 127.0.0.1 only, and every wrk run stops after DURATION seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-artifacts/sepsis/model.bin}"
duration="${2:-10}"
part="${3:-all}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
command -v wrk > /dev/null || { echo "bench-serve: needs wrk (apt-get install wrk)" >&2; exit 1; }
command -v taskset > /dev/null || { echo "bench-serve: needs taskset (util-linux)" >&2; exit 1; }
serve="${SERVE_BIN:-}"
if [[ -z "$serve" ]]; then
  cargo build --release --quiet -p serve
  serve="$CARGO_TARGET_DIR/release/serve"
fi
work="$(mktemp -d)"
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_server() { # RUST_LOG level, extra arguments... -> sets $base and $server_pid
  local level="$1"
  shift
  # Emptied first: a previous server's line must not be read as this one's.
  : > "$work/server.out"
  RUST_LOG="$level" taskset -c 0 "$serve" --model "$model" --port 0 --workers 1 "$@" > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2> /dev/null && break; sleep 0.05; done
  base="$(sed -n 's/^listening on //p' "$work/server.out" | head -1)"
  [[ -n "$base" ]] || { cat "$work/server.err" >&2; exit 1; }
}
stop_server() { kill "$server_pid" 2> /dev/null || true; wait "$server_pid" 2> /dev/null || true; server_pid=""; }

start_server info

# The documented example record is a valid request for whatever model is served. Sent again
# and again, it lets the processor learn the trees' branches, which real traffic does not: the
# `varied` runs cycle through 256 records drawn within each field's documented bounds (seeded).
curl -sf "$base/openapi.json" | python3 -c '
import json, random, sys
doc = json.load(sys.stdin)
record = doc["components"]["schemas"]["Record"]
example = record["example"]
open(sys.argv[1], "w").write(json.dumps(example))
open(sys.argv[2], "w").write(json.dumps([example] * 100))
rng = random.Random(7)
def draw(name, spec):
    spec = next((branch for branch in spec.get("anyOf", []) if "minimum" in branch), spec)
    if "enum" in spec:
        return rng.choice(spec["enum"])
    if "minimum" in spec and "maximum" in spec:
        value = rng.uniform(spec["minimum"], spec["maximum"])
        return round(value) if spec.get("type") == "integer" else round(value, 3)
    return example[name]
with open(sys.argv[3], "w") as out:
    for _ in range(256):
        out.write(json.dumps({name: draw(name, record["properties"][name]) for name in example}) + "\n")
' "$work/one.json" "$work/batch.json" "$work/varied.jsonl"
echo '{}' > "$work/empty.json"

cat > "$work/post.lua" <<'LUA'
local path, file = os.getenv("BENCH_PATH"), os.getenv("BENCH_BODY")
local handle = io.open(file, "rb")
wrk.method = "POST"
wrk.path = path
wrk.body = handle:read("*a")
handle:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
LUA
cat > "$work/varied.lua" <<'LUA'
local bodies, next_body = {}, 0
for line in io.lines(os.getenv("BENCH_BODY")) do bodies[#bodies + 1] = line end
local headers = { ["Content-Type"] = "application/json" }
request = function()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", os.getenv("BENCH_PATH"), headers, bodies[next_body])
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
LUA
cat > "$work/get.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
LUA

run() { # endpoint concurrency -> "rps p50 p99 errors"
  local endpoint="$1" connections="$2" script path body
  case "$endpoint" in
    health) script="$work/get.lua"; path="/health"; body="" ;;
    predict) script="$work/post.lua"; path="/predict"; body="$work/one.json" ;;
    varied) script="$work/varied.lua"; path="/predict"; body="$work/varied.jsonl" ;;
    batch) script="$work/post.lua"; path="/predict/batch"; body="$work/batch.json" ;;
    # An empty object fails validation (422): the cost of an HTTP POST with a JSON body and
    # validation, without the model. Its non-2xx answers are counted as errors by wrk.
    invalid) script="$work/post.lua"; path="/predict"; body="$work/empty.json" ;;
  esac
  BENCH_PATH="$path" BENCH_BODY="$body" taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$script" "$base$path" | sed -n 's/^RESULT //p'
}

if [[ "$part" != monitoring ]]; then
echo "model: $model; server on core 0 (1 worker), wrk on core 1; ${duration}s per run"
printf '%-16s %5s %12s %10s %10s %7s\n' endpoint conc "requests/s" "p50 ms" "p99 ms" errors
declare -A rps p99
for connections in 1 16 64; do
  for endpoint in health predict varied batch; do
    read -r r p50 p99v errors < <(run "$endpoint" "$connections")
    rps[$endpoint,$connections]=$r
    p99[$endpoint,$connections]=$p99v
    printf '%-16s %5s %12s %10s %10s %7s\n' "$endpoint" "$connections" "$r" "$p50" "$p99v" "$errors"
  done
done
read -r r p50 p99v errors < <(run invalid 16)
printf '%-16s %5s %12s %10s %10s %7s   (422 without the model: HTTP POST + validation only)\n' "invalid-post" 16 "$r" "$p50" "$p99v" "$errors"
echo
for connections in 1 16 64; do
  ratio=$(echo "${rps[predict,$connections]} / ${rps[health,$connections]}" | bc -l)
  varied_ratio=$(echo "${rps[varied,$connections]} / ${rps[health,$connections]}" | bc -l)
  printf 'concurrency %2s: /predict at %.0f%% of /health requests/s, varied records %.0f%% (target >= 80%%)\n' "$connections" "$(echo "$ratio * 100" | bc -l)" "$(echo "$varied_ratio * 100" | bc -l)"
done
printf 'p99 of /predict at concurrency 16: %s ms (target <= 2 ms)\n' "${p99[predict,16]}"
# The floor: a bare actix-web server (crates/serve/examples/bare_floor.rs) answering the same
# bytes as vigil's /health and /predict, pinned the same way; vigil's share of its requests/s.
curl -sf "$base/health" > "$work/health-body.json"
curl -sf "$base/predict" -H 'content-type: application/json' -d @"$work/one.json" > "$work/predict-body.json"
stop_server
cargo build --release --quiet -p serve --example bare_floor
start_floor() { # [--vigil-headers] -> sets $base and $server_pid
  : > "$work/server.out"
  taskset -c 0 "$CARGO_TARGET_DIR/release/examples/bare_floor" "$work/health-body.json" "$work/predict-body.json" "$@" > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2> /dev/null && break; sleep 0.05; done
  base="$(sed -n 's/^listening on //p' "$work/server.out" | head -1)"
  [[ -n "$base" ]] || { cat "$work/server.err" >&2; exit 1; }
}
start_floor
echo
declare -A floor_get floor_post
for connections in 16 64; do
  read -r "floor_get[$connections]" _ < <(run health "$connections")
  read -r "floor_post[$connections]" _ < <(run predict "$connections")
  printf 'concurrency %2s: bare actix GET %s/s, POST %s/s; vigil /health at %.2f of the bare GET (target >= 0.9), /predict at %.2f of the bare POST, varied records %.2f (target >= 0.6)\n' \
    "$connections" "${floor_get[$connections]}" "${floor_post[$connections]}" \
    "$(echo "${rps[health,$connections]} / ${floor_get[$connections]}" | bc -l)" "$(echo "${rps[predict,$connections]} / ${floor_post[$connections]}" | bc -l)" \
    "$(echo "${rps[varied,$connections]} / ${floor_post[$connections]}" | bc -l)"
done
# The same floor answering with the headers vigil adds to every response (security headers and
# a request id): how much of the gap is bytes on the wire rather than vigil's work.
stop_server
start_floor --vigil-headers
for connections in 16 64; do
  read -r headers_get _ < <(run health "$connections")
  read -r headers_post _ < <(run predict "$connections")
  printf 'concurrency %2s: floor with vigil'"'"'s headers GET %s/s (%.2f of the bare GET), POST %s/s (%.2f); vigil /health at %.2f of it, /predict at %.2f\n' \
    "$connections" "$headers_get" "$(echo "$headers_get / ${floor_get[$connections]}" | bc -l)" \
    "$headers_post" "$(echo "$headers_post / ${floor_post[$connections]}" | bc -l)" \
    "$(echo "${rps[health,$connections]} / $headers_get" | bc -l)" "$(echo "${rps[predict,$connections]} / $headers_post" | bc -l)"
done
fi
stop_server
[[ "$part" == table ]] && exit 0
echo
echo "monitoring cost: /predict at concurrency 16, ${duration}s per run, alternating"
on=(); off=()
for round in $(seq "${ROUNDS:-6}"); do
  start_server info
  read -r r _ < <(run predict 16)
  on+=("$r")
  stop_server
  start_server warn --metrics false
  read -r r _ < <(run predict 16)
  off+=("$r")
  stop_server
  printf 'round %s: metrics and logging on %10s req/s, off %10s req/s\n' "$round" "${on[-1]}" "${off[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.1f", (a[int((NR+1)/2)]+a[int(NR/2)+1])/2}'; }
on_median=$(median "${on[@]}"); off_median=$(median "${off[@]}")
printf 'median: on %s req/s, off %s req/s: on at %.1f%% of off (target >= 95%%)\n' "$on_median" "$off_median" "$(echo "$on_median / $off_median * 100" | bc -l)"
