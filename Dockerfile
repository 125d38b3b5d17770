# vigil's serving image. Stages:
#   build            compiles `serve` and `train` (dependencies first, in their own cached layer)
#   runtime-base     Debian slim with a non-root user and the committed artifacts
#   runtime-prebuilt runtime-base plus a binary built outside (CI: `--target runtime-prebuilt`,
#                    with the release binary at target/container/serve in the context)
#   runtime          runtime-base plus the binaries from `build` (the default)
# Users pull the public bases named below; on machines without a registry,
# deploy/container/standin-base.sh makes local stand-ins under the same names.
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Manifests and stub sources first: this layer (every dependency compiled) is rebuilt only
# when Cargo.toml or Cargo.lock change, not when vigil's sources do.
COPY Cargo.toml Cargo.lock ./
COPY crates/model/Cargo.toml crates/model/
COPY crates/data/Cargo.toml crates/data/
COPY crates/preprocess/Cargo.toml crates/preprocess/
COPY crates/report/Cargo.toml crates/report/
COPY crates/serve/Cargo.toml crates/serve/
COPY crates/train/Cargo.toml crates/train/
RUN for crate in model data preprocess report serve train; do \
      mkdir -p "crates/$crate/src" "crates/$crate/benches" && touch "crates/$crate/src/lib.rs"; \
    done \
 && echo 'fn main() {}' > crates/serve/src/main.rs \
 && echo 'fn main() {}' > crates/train/src/main.rs \
 && echo 'fn main() {}' > crates/serve/benches/predict.rs \
 && echo 'fn main() {}' > crates/train/benches/threshold.rs \
 && cargo build --release --locked -p serve -p train \
 && rm -rf crates
COPY crates crates
# Cargo decides freshness by modification time; the stubs' outputs must not look newer.
RUN find crates -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p serve -p train \
 && objcopy --strip-debug target/release/serve /usr/local/bin/serve \
 && objcopy --strip-debug target/release/train /usr/local/bin/train

FROM ${RUNTIME_IMAGE} AS runtime-base
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin vigil
COPY --chown=root:root artifacts /opt/vigil/artifacts
COPY --chown=root:root data/*.toml /opt/vigil/data/
WORKDIR /opt/vigil
# Configuration is by VIGIL_* variables (see `serve --help`); mount another artifact folder
# over /opt/vigil/artifacts, or point VIGIL_MODEL elsewhere, to serve another model.
ENV VIGIL_MODEL=/opt/vigil/artifacts/sepsis/model.bin \
    VIGIL_HOST=0.0.0.0 \
    VIGIL_PORT=8000 \
    VIGIL_LOG_FORMAT=json
EXPOSE 8000
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 CMD ["serve", "probe"]
# The server writes nothing to disk: the root filesystem can be read-only.
ENTRYPOINT ["serve"]

FROM runtime-base AS runtime-prebuilt
COPY --chown=root:root --chmod=0755 target/container/serve /usr/local/bin/serve

FROM runtime-base AS runtime
COPY --from=build --chown=root:root /usr/local/bin/serve /usr/local/bin/train /usr/local/bin/
