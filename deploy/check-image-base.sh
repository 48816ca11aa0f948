#!/usr/bin/env bash
# Without a Docker engine, checks what the image relies on: the release binary needs no glibc
# newer than the final image's (debian:bookworm-slim ships glibc 2.36), runs as an
# unprivileged user, and answers its own health check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=target/release/cxone-assist
needed=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
echo "newest glibc symbol version the binary needs: $needed (bookworm has 2.36)"
[ "$(printf '%s\n2.36\n' "$needed" | sort -V | tail -1)" = "2.36" ] || { echo "too new for bookworm"; exit 1; }
echo "dynamic libraries:"; ldd "$bin" | sed 's/^/  /'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The image's data volume belongs to uid 10001; mirror that with a temporary directory.
data=$(mktemp -d)
chown 10001:10001 "$data"
LISTEN_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$data/cxone-assist.db" setpriv --reuid=10001 --regid=10001 --clear-groups "$bin" --sandbox >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do "$bin" healthcheck --url "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
"$bin" healthcheck --url "http://127.0.0.1:$port/healthz" && echo "runs as uid 10001 and passes its HEALTHCHECK"
