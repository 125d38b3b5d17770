#!/usr/bin/env bash
# Runs deploy/prefect/flow.py with the real `prefect` package (3.9.1, in a virtualenv outside
# the clone, local ephemeral mode, no network) on the heart-failure data. The `train` it calls
# fails its first `train` step on purpose: the task's retry must recover, and the cycle end
# with version 1 in production. A second run of the flow must create no new version.
# usage: scripts/check-prefect.sh HEART_FAILURE_CSV
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:?usage: scripts/check-prefect.sh HEART_FAILURE_CSV}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
train="$CARGO_TARGET_DIR/release/train"
[[ -x "$train" ]] || cargo build --release --quiet -p train
venv="${VIGIL_PREFECT_VENV:-$HOME/.cache/vigil-prefect-venv}"
source scripts/pinned-venv.sh
pinned_venv "$venv" prefect 3.9.1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PREFECT_HOME="$work/prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false
# The ephemeral server's default start-up limit is too short on a busy 2-core machine.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=180
unset PREFECT_API_URL

# A `train` that fails the first attempt at the `train` step, then behaves.
cat > "$work/flaky-train" <<SH
#!/bin/sh
if [ "\$4" = "train" ] && [ ! -e "$work/failed-once" ]; then
  touch "$work/failed-once"
  echo "error: injected failure" >&2
  exit 1
fi
exec "$train" "\$@"
SH
chmod +x "$work/flaky-train"

flow() {
  "$venv/bin/python" deploy/prefect/flow.py --config data/heart_failure.toml --data "$data" \
    --registry "$work/registry/heart_failure" --train-bin "$work/flaky-train" --models lr,nb,rf \
    --promote 2> "$work/flow.log" | tail -1
}
first="$(flow)" || { cat "$work/flow.log" >&2; exit 1; }
grep -q "injected failure" "$work/flow.log" && grep -q "Retry 1/3" "$work/flow.log" \
  || { echo "check-prefect: the injected failure was not retried" >&2; cat "$work/flow.log" >&2; exit 1; }
second="$(flow)" || { cat "$work/flow.log" >&2; exit 1; }
python3 - "$first" "$second" "$work/registry/heart_failure/registry.json" <<'PY'
import json, sys
first, second, index = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.load(open(sys.argv[3]))
attempts = {step["step"]: step["attempts"] for step in first}
assert attempts == {"validate": 1, "train": 2, "gate": 1, "register": 1, "promote": 1}, attempts
assert len(index["versions"]) == 1 and index["aliases"]["production"] == 1, index
assert all("(done earlier)" in step["summary"] for step in second), second
for step in first:
    print(f"check-prefect: {step['step']:<9} attempt {step['attempts']}: {step['summary'].strip()}")
print("check-prefect: second run: every step done earlier; registry still holds 1 version")
print("check-prefect: ok")
PY
