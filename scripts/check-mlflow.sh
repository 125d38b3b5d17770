#!/usr/bin/env bash
# Checks `train --tracking-uri` against a real MLflow tracking server (PyPI `mlflow` 3.17.2 in a
# virtualenv outside the clone, SQLite backend, 127.0.0.1 on a free port): the run's metrics,
# per-fold history, artifacts and the registered version with its alias `candidate`, read back
# over MLflow's REST API (scripts/check-mlflow.py). First, an unreachable server: a clear
# error after bounded retries, with the run still recorded in the local store.
# usage: scripts/check-mlflow.sh HEART_FAILURE_CSV
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:?usage: scripts/check-mlflow.sh HEART_FAILURE_CSV}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
train="$CARGO_TARGET_DIR/release/train"
[[ -x "$train" ]] || cargo build --release --quiet -p train
venv="${VIGIL_MLFLOW_VENV:-$HOME/.cache/vigil-mlflow-venv}"
source scripts/pinned-venv.sh
pinned_venv "$venv" mlflow 3.17.2
work="$(mktemp -d)"
mlflow_pid=""
# `mlflow server` runs uvicorn, a job runner and huey consumers, which write into $work. It is
# started as the leader of its own process group so that all of them can be stopped, and the
# folder is removed only once they are gone (removing it beside a live writer fails).
cleanup() {
  if [[ -n "$mlflow_pid" ]]; then
    kill -TERM -- "-$mlflow_pid" 2> /dev/null || true
    for _ in $(seq 150); do kill -0 -- "-$mlflow_pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL -- "-$mlflow_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
uri="http://127.0.0.1:$port"
started=$(date +%s)
setsid "$venv/bin/mlflow" server --backend-store-uri "sqlite:///$work/mlflow.db" \
  --artifacts-destination "$work/mlartifacts" --host 127.0.0.1 --port "$port" --workers 1 \
  > "$work/mlflow.log" 2>&1 &
mlflow_pid=$!

# Meanwhile: nothing listens on port 1, so every attempt is refused.
if "$train" --quiet --models lr --config data/heart_failure.toml --data "$data" --out "$work/offline/hf" \
  --tracking-uri http://127.0.0.1:1 2> "$work/offline.err"; then
  echo "check-mlflow: a run against an unreachable MLflow succeeded" >&2
  exit 1
fi
grep -q "did not answer .* after 4 attempts" "$work/offline.err" || { cat "$work/offline.err" >&2; exit 1; }
"$train" runs list --store "$work/offline/runs.sqlite" | grep -q finished
echo "check-mlflow: unreachable server: $(grep -o 'mlflow at .*' "$work/offline.err" | head -1 | cut -c1-110)...; the run is recorded locally"

for _ in $(seq 360); do
  curl -sf "$uri/health" > /dev/null 2>&1 && break
  kill -0 "$mlflow_pid" 2> /dev/null || { cat "$work/mlflow.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$uri/health" > /dev/null || { echo "check-mlflow: mlflow did not start" >&2; tail "$work/mlflow.log" >&2; exit 1; }
echo "check-mlflow: mlflow server started in $(( $(date +%s) - started )) s"

"$train" --config data/heart_failure.toml --data "$data" --out "$work/hf" --tracking-uri "$uri" \
  | grep -E "^(chosen:|run |mlflow:)" | sed 's/^/check-mlflow: /'
python3 scripts/check-mlflow.py "$uri" "$work/hf" "$work/runs.sqlite"
