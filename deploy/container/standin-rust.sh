#!/usr/bin/env bash
# Makes a local stand-in for the public Rust build image when no registry answers: the Debian
# stand-in with a C toolchain (deploy/container/standin-base.sh), plus this machine's Rust
# toolchain (rustc, cargo, the standard library; no documentation) under /usr/local/rust.
# usage: deploy/container/standin-rust.sh IMAGE_NAME
set -euo pipefail
image="${1:?usage: standin-rust.sh IMAGE_NAME}"
if podman image exists "$image" || timeout 30 podman pull --quiet "$image" > /dev/null 2>&1; then
  exit 0
fi
here="$(cd "$(dirname "$0")" && pwd)"
base="localhost/vigil-build-base:bookworm"
"$here/standin-base.sh" "$base" gcc,libc6-dev,ca-certificates
toolchain="$(rustc --print sysroot)"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/rust"
cp -a "$toolchain/bin" "$toolchain/lib" "$context/rust/"
rm -rf "$context/rust/lib/rustlib/src" 2> /dev/null || true
# This machine reaches crates.io through an egress proxy with its own certificate authority:
# the stand-in trusts what this machine trusts.
cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
cat > "$context/Containerfile" <<CONTAINERFILE
FROM $base
COPY rust /usr/local/rust
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/usr/local/cargo
CONTAINERFILE
podman build --quiet --tag "$image" "$context" > /dev/null
echo "standin-rust: $image ready ($(rustc --version))" >&2
