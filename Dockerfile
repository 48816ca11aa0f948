# syntax=docker/dockerfile:1
# Build: docker build -t cxone-assist .
# Run:   docker run --rm -p 8080:8080 cxone-assist --sandbox

# The builder and the final image share one Debian release (bookworm), so the glibc the
# binary links against is the one it runs on.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Dependencies first, in their own layer: source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY build.rs ./
COPY migrations ./migrations
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cxone \
    && mkdir -p /app/data && chown 10001:10001 /app/data
WORKDIR /app
COPY --from=builder /src/target/release/cxone-assist /usr/local/bin/cxone-assist
# Read from the working directory at start; override with --config or environment variables.
COPY config ./config
# The default ledger is SQLite at /app/data/cxone-assist.db: mount a volume here, or set
# DATABASE_URL to PostgreSQL when running several replicas.
VOLUME /app/data
USER 10001:10001
# The allocator commits its arena lazily: peak RSS with 256 connections 49 MiB instead of
# 62 MiB, at no measurable CPU cost (BENCHMARKS.md).
ENV MIMALLOC_ARENA_EAGER_COMMIT=0
# It returns freed pages to the kernel at once instead of 10 ms later: peak RSS with 256
# connections 28.4-29.4 MiB instead of 30.4-31.8, CPU per prompt within noise (BENCHMARKS.md).
ENV MIMALLOC_PURGE_DELAY=0
EXPOSE 8080
# The image has no curl: the binary probes its own liveness endpoint. Adjust the URL if
# LISTEN_ADDR moves the port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/cxone-assist", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
# The binary handles SIGTERM itself (graceful drain), so it can run as PID 1 directly.
ENTRYPOINT ["/usr/local/bin/cxone-assist"]
