# syntax=docker/dockerfile:1
#
# One image for every Gantry role: `gantry serve <service>` (or `serve all`),
# and the admin/client commands.
#   docker build -t gantry:dev --build-arg GANTRY_COMMIT=$(git rev-parse --short=12 HEAD) .
#   docker run --rm gantry:dev --help

# --- build -------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
# .git stays out of the context: the commit gantry_build_info reports comes in as an argument.
ARG GANTRY_COMMIT=unknown
ENV GANTRY_COMMIT=${GANTRY_COMMIT}
COPY . .
# protoc comes from the protoc-bin-vendored crate: no system packages needed.
# The cache mounts keep the registry and target/ between builds (BuildKit);
# the binary is copied out of the cached target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release -p gantry --locked \
    && install -m 0755 target/release/gantry /usr/local/bin/gantry

# --- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates unpinned on purpose: it should follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it.
# /etc/gantry/tokens and /var/lib/gantry belong to it, so named volumes
# mounted there start writable (compose's init-tokens writes tokens.yaml).
RUN groupadd --system --gid 10001 gantry \
    && useradd --system --uid 10001 --gid gantry --home-dir /var/lib/gantry \
        --no-create-home --shell /usr/sbin/nologin gantry \
    && mkdir -p /etc/gantry/tokens /var/lib/gantry \
    && chown gantry:gantry /etc/gantry/tokens /var/lib/gantry
COPY --from=builder /usr/local/bin/gantry /usr/local/bin/gantry
USER 10001:10001
WORKDIR /var/lib/gantry
# intake 50051, provisioner 50052, ingest 50053, lineage 50054, rotation 50055; metrics 9464
EXPOSE 50051-50055 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["gantry"]
CMD ["serve", "all"]
