# syntax=docker/dockerfile:1
# peer-outreach: one binary (`peer-outreach run` starts the service; migrations are embedded).

FROM rust:1.95-bookworm AS builder
# rdkafka builds librdkafka from source with ./configure and make; zlib for its compression,
# OpenSSL for TLS and SASL/SCRAM to the hospital's cluster.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# No database at image build time: sqlx query macros, if any, use the checked-in .sqlx/ data.
ENV SQLX_OFFLINE=true
# Cache mounts keep the registry and target/ between builds; the binary is copied out of the
# cached target/ because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p peer-outreach \
 && install -m 0755 target/release/peer-outreach /usr/local/bin/peer-outreach

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin peer-outreach
COPY --from=builder /usr/local/bin/peer-outreach /usr/local/bin/peer-outreach
# Numeric uid so that runtimes enforcing runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["peer-outreach"]
CMD ["run"]
