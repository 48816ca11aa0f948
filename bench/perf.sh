#!/usr/bin/env bash
# Where the service's CPU goes under load: a sampled `perf` profile of the request path.
#
#   bench/perf.sh                # prints the CPU split by thread and the heaviest code paths
#
# Builds a symbolised release binary (debug info on, LTO off, so frames can be unwound) in its
# own target dir (BENCH_PERF_TARGET, default /tmp/cxone-bench-perf-target), starts the
# fake tenant and the service (rate limit opened, inbound auth on, the shipped log level) both
# pinned to CPU 1, warms up with wrk from CPU 0, then samples the service for PERF_SECONDS [8]
# at PERF_FREQ [499] Hz with DWARF call graphs while wrk keeps 32 connections busy.
# Needs perf (Debian: linux-perf) and wrk; this machine has no hardware counters, so perf
# samples the cpu-clock. Outputs are kept in a temporary directory it names.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
source "$BENCH_DIR/lib/ports.sh"
source "$BENCH_DIR/lib/fake.sh"
TARGET=${BENCH_PERF_TARGET:-/tmp/cxone-bench-perf-target}
SECONDS_=${PERF_SECONDS:-8}
FREQ=${PERF_FREQ:-499}
API_KEY=bench-inbound-key-0123456789
BODY='{"interactionId":"int_bench","agentId":"agt_bench","content":"Customer asks for a refund after the delay.","priority":"HIGH","sentiment":0.5}'

for tool in perf wrk curl ss; do
    command -v "$tool" >/dev/null || {
        echo "perf.sh: $tool is missing (apt-get install -y linux-perf wrk curl iproute2)" >&2
        exit 1
    }
done

echo "perf.sh: building a symbolised release binary in $TARGET" >&2
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET CARGO_PROFILE_RELEASE_STRIP=false \
    CARGO_PROFILE_RELEASE_DEBUG=1 CARGO_PROFILE_RELEASE_LTO=off \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo build --release >&2)
BIN=$TARGET/release/cxone-assist

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cxone-perf.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "perf.sh: outputs kept in $TMP" >&2
}
trap cleanup EXIT

wait_http() {
    local i
    for i in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "perf.sh: $1 did not answer" >&2
    exit 1
}

fake_config "$TMP/fake.toml" 0
: >"$TMP/service.toml"
pick_port
FAKE_PORT=$PORT
pick_port
SVC_PORT=$PORT
(cd "$TMP" && exec taskset -c 1 "$BIN" fake-tenant --listen "127.0.0.1:$FAKE_PORT" \
    --config "$TMP/fake.toml") >"$TMP/fake.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$FAKE_PORT/_fake/stats"
(cd "$TMP" && exec env -i PATH="$PATH" CXONE_TENANT_URL="http://127.0.0.1:$FAKE_PORT" \
    CXONE_CLIENT_ID=bench CXONE_CLIENT_SECRET=bench-secret LISTEN_ADDR="127.0.0.1:$SVC_PORT" \
    RATE_LIMIT_BURST=1000000000 RATE_LIMIT_PER_SECOND=1000000000 INBOUND_API_KEYS="$API_KEY" \
    taskset -c 1 "$BIN" --config "$TMP/service.toml") >"$TMP/service.log" 2>&1 &
SVC=$!
PIDS+=("$SVC")
wait_http "http://127.0.0.1:$SVC_PORT/healthz"

export BENCH_BODY=$BODY BENCH_AUTH="Bearer $API_KEY"
url=http://127.0.0.1:$SVC_PORT/simulate-prompt
taskset -c 0 wrk -t1 -c32 -d3s -s "$BENCH_DIR/post.lua" "$url" >/dev/null
perf record -p "$SVC" -o "$TMP/perf.data" -F "$FREQ" --call-graph dwarf,16384 \
    -- sleep "$SECONDS_" >/dev/null 2>&1 &
recorder=$!
taskset -c 0 wrk -t1 -c32 -d"$((SECONDS_ + 1))s" -s "$BENCH_DIR/post.lua" "$url" | grep '^WRK'
wait "$recorder" || true

report() { perf report -i "$TMP/perf.data" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
echo "-- CPU samples by thread"
# sed, not head: head would close the pipe early, and pipefail would make that the exit code.
report --no-children --sort comm | sed -n 1,5p
echo "-- heaviest paths of the service's own code (inclusive)"
report --children --sort sym | grep -E 'cxone_assist::|sqlx_sqlite::connection::worker' |
    sed -E 's/ +\[\.\] / /' | cut -c1-160 | sed -n 1,30p
