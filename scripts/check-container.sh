#!/usr/bin/env bash
# Builds the runtime image from the release binary CI already built (`--target
# runtime-prebuilt`; the full build from sources is scripts/build-image.sh), lints the
# Dockerfile with hadolint, validates compose.yaml, then runs the image with a read-only root
# filesystem and no capabilities: waits for /ready, sends one /predict, checks the process is
# not root and that the image's health check passes, and stops it. Podman + runc from Debian
# (installed when missing); the public base image gets a local stand-in when no registry
# answers.
# usage: scripts/check-container.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
serve="$CARGO_TARGET_DIR/release/serve"
[[ -x "$serve" ]] || cargo build --release --quiet -p serve
if ! command -v podman > /dev/null || ! command -v runc > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc > /dev/null
fi
source scripts/venv.sh
work="$(mktemp -d)"
container=""
cleanup() {
  [[ -n "$container" ]] && podman rm --force --time 0 "$container" > /dev/null 2>&1 || true
  rm -rf "$work" target/container
}
trap cleanup EXIT
cat > "$work/containers.conf" <<'CONF'
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
CONF
export CONTAINERS_CONF="$work/containers.conf"

"$(dirname "$VIGIL_PYTHON")/hadolint" Dockerfile
echo "check-container: hadolint: Dockerfile clean"
"$(dirname "$VIGIL_PYTHON")/podman-compose" -f compose.yaml config > "$work/compose.txt"
echo "check-container: compose.yaml valid ($(grep -c '^  [a-z]' "$work/compose.txt") services)"

deploy/container/standin-base.sh docker.io/library/debian:bookworm-slim
mkdir -p target/container
# Line tables stay in the development build; the image carries a stripped copy.
strip --strip-debug -o target/container/serve "$serve"
image="localhost/vigil:check"
started=$(date +%s)
# Docker's image format: OCI images have no HEALTHCHECK.
podman build --quiet --format docker --target runtime-prebuilt --tag "$image" . > /dev/null
echo "check-container: built $image in $(( $(date +%s) - started )) s, $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"

# Without systemd podman cannot schedule health checks (and says so on stderr, kept in
# podman.err): the check is run by hand below.
container=$(podman run --detach --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  --publish 127.0.0.1::8000 "$image" 2> "$work/podman.err")
port=$(podman port "$container" 8000 | sed 's/.*://')
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/ready" > /dev/null || { podman logs "$container" >&2; exit 1; }
curl -sf "http://127.0.0.1:$port/predict" -H 'content-type: application/json' \
  -d '{"PRG":6,"PL":148,"PR":72,"SK":35,"TS":0,"M11":33.6,"BD2":0.627,"Age":50,"Insurance":0}' > "$work/predict.json"
grep -q '"label"' "$work/predict.json"
user=$(podman exec "$container" sh -c 'id -u' 2> /dev/null || podman top "$container" user | tail -1)
[[ "$user" != "0" && "$user" != "root" ]] || { echo "check-container: the server runs as root" >&2; exit 1; }
podman healthcheck run "$container" > /dev/null 2>> "$work/podman.err" || { cat "$work/podman.err" >&2; exit 1; }
echo "check-container: /ready and /predict answer, the process runs as uid $user, the health check passes"
podman stop --time 10 "$container" > /dev/null 2>> "$work/podman.err"
echo "check-container: ok"
