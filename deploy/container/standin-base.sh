#!/usr/bin/env bash
# Makes a local stand-in for a public Debian base image when no container registry is
# reachable (as on the CI machines): debootstrap builds a minimal bookworm root filesystem from
# the Debian package mirror, and `podman import` tags it with the public name, so the
# Dockerfile builds unchanged. Podman keeps the image, so later runs reuse it.
# usage: deploy/container/standin-base.sh IMAGE_NAME [EXTRA_PACKAGES_COMMA_SEPARATED]
set -euo pipefail
image="${1:?usage: standin-base.sh IMAGE_NAME [PACKAGES]}"
packages="${2:-}"
if podman image exists "$image"; then
  exit 0
fi
if timeout 30 podman pull --quiet "$image" > /dev/null 2>&1; then
  exit 0
fi
echo "standin-base: no registry for $image; building a stand-in with debootstrap" >&2
command -v debootstrap > /dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
}
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
debootstrap --variant=minbase ${packages:+--include="$packages"} bookworm "$root" "$mirror" > /dev/null
# What the slim images leave out: documentation, locales, package lists.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$image" > /dev/null
echo "standin-base: $image ready ($(podman image inspect --format '{{.Size}}' "$image") bytes)" >&2
