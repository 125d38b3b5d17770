#!/usr/bin/env bash
# The full image build: compiles vigil inside the `build` stage (dependencies first, cached)
# and produces the default `runtime` image with `serve` and `train`. Too slow for CI (a second
# cold build of the workspace); run by hand, it prints the time taken and the image size.
# Public bases get local stand-ins when no registry answers (deploy/container/).
# usage: scripts/build-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/vigil:latest}"
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  conf="$(mktemp)"
  trap 'rm -f "$conf"' EXIT
  printf '[engine]\nruntime = "runc"\n[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' > "$conf"
  export CONTAINERS_CONF="$conf"
fi
deploy/container/standin-base.sh docker.io/library/debian:bookworm-slim
deploy/container/standin-rust.sh docker.io/library/rust:1.95-bookworm
started=$(date +%s)
podman build --format docker --tag "$tag" .
echo "build-image: $tag built in $(( $(date +%s) - started )) s, $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')"
