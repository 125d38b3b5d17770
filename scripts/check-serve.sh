#!/usr/bin/env bash
# Checks the running server as its users and tools see it, for every committed artifact:
#   - the OpenAPI document is valid OpenAPI 3.1 (openapi-spec-validator);
#   - schemathesis, driven by that document, finds no 5xx, no accepted invalid request and no
#     rejected valid one (bounded: a fixed seed and example count, loopback only);
#   - headless Chromium renders /docs and /ui offline, a prediction round-trips, an uploaded file
#     is scored as `serve score` scores it and a labelled one evaluated as `train evaluate` does.
# Installs what it needs (pip packages, Debian's chromium, npm playwright-core) when missing.
# usage: scripts/check-serve.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
max_examples="${1:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
train="$CARGO_TARGET_DIR/release/train"
# `train evaluate` is the reference the page's evaluation of a labelled upload is checked against.
[[ -x "$serve" && -x "$train" ]] || cargo build --release --quiet -p serve -p train

if ! python3 -c "import openapi_spec_validator, schemathesis" 2> /dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore openapi-spec-validator schemathesis
fi
if ! command -v chromium > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
if [[ ! -d scripts/browser/node_modules/playwright-core || ! -d scripts/browser/node_modules/axe-core ]]; then
  npm ci --prefix scripts/browser --no-audit --no-fund --loglevel=error
fi

work="$(mktemp -d)"
# schemathesis keeps its example databases in the working directory; keep them out of the clone.
source scripts/server.sh
cleanup() { [[ -n "$server_pid" ]] && { kill "$server_pid"; wait "$server_pid"; } 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Stops the server and fails on any 5xx among the request lines it logged.
stop_checked() {
  stop_server
  if grep -Eq "status=5[0-9][0-9]" "$work/server.err"; then
    echo "check-serve: the server answered 5xx:" >&2
    grep -E "status=5[0-9][0-9]" "$work/server.err" | head >&2
    exit 1
  fi
}

for dataset in sepsis heart_failure wine_quality; do
  echo "--- $dataset"
  # Request lines are logged at debug level; the 5xx check reads them.
  RUST_LOG=debug start_server "artifacts/$dataset/model.bin"
  curl -sf "$base/openapi.json" > "$work/openapi.json" || { echo "check-serve: $base/openapi.json did not answer" >&2; cat "$work/server.err" >&2; exit 1; }
  python3 - "$work/openapi.json" <<'PY'
import sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
spec, _ = read_from_filename(sys.argv[1])
validate(spec)
print(f"openapi: valid OpenAPI {spec['openapi']} with {len(spec['paths'])} paths")
PY
  # The slowest valid request is a full `/explain/batch` (16 records) on wine's stacked model:
  # about 5 s here (sampled Shapley values, thousands of predictions a record), half of
  # schemathesis' default 10 s timeout, which a busy machine then exceeds.
  (cd "$work" && python3 -m schemathesis.cli run "$base/openapi.json" --exclude-path /score --exclude-path /evaluate --checks all --mode all --max-examples "$max_examples" --seed 1 --request-timeout 60 --no-color > "$work/st.txt" 2>&1) || {
    cat "$work/st.txt"; exit 1;
  }
  grep -E "generated|No issues" "$work/st.txt" | sed 's/^ */schemathesis: /'
  # `/score` and `/evaluate` take any text as a CSV file, so the schema cannot tell valid files
  # from others:
  # arbitrary bodies must get an answer that is not a server error (valid and invalid files
  # are checked by the tests and the browser check).
  (cd "$work" && python3 -m schemathesis.cli run "$base/openapi.json" --include-path /score --include-path /evaluate --checks not_a_server_error --mode all --max-examples "$max_examples" --seed 1 --no-color > "$work/st-score.txt" 2>&1) || {
    cat "$work/st-score.txt"; exit 1;
  }
  grep -E "generated|No issues" "$work/st-score.txt" | sed 's/^ */schemathesis \/score, \/evaluate: /'
  if [[ "$dataset" != heart_failure ]]; then
    # A binary and a multiclass model; screenshots of every view are kept for people to look at.
    shots="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/screenshots/$dataset"
    mkdir -p "$shots"
    SERVE_BIN="$serve" TRAIN_BIN="$train" SERVE_MODEL="artifacts/$dataset/model.bin" node scripts/browser/check-pages.mjs "$base" "$shots"
  fi
  stop_checked
done
echo "check-serve: ok"
