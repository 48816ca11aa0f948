#!/usr/bin/env bash
# One profiling pass of cxone-assist's request path under valgrind's callgrind.
#
#   bench/profile.sh             # prints the top inclusive-cost functions per path
#
# Builds a symbolised copy of the release binary (strip off, debuginfo 1) in its own
# target dir (BENCH_PROFILE_TARGET, default /tmp/cxone-bench-profile-target) so the shared
# target/release binary is left alone, starts the fake tenant (natively, latency_ms=0) and the
# service under callgrind, and records a fixed number of requests on two paths:
#   delivered  rate limit opened, PROFILE_REQUESTS [1000] prompts (8 connections)
#   rejected   default bucket (burst 10, 2/s), PROFILE_REJECTS [5000] requests, ~all 429
# Counters are zeroed after a warm-up (token fetched, pool open), so start-up is not counted.
# Knobs: PROFILE_REQUESTS, PROFILE_REJECTS, BENCH_PROFILE_TARGET, PROFILE_TOP [25],
# PROFILE_BIN (an already symbolised binary: skip the build).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
source "$BENCH_DIR/lib/ports.sh"
source "$BENCH_DIR/lib/fake.sh"
export PATH="$HOME/.cargo/bin:$PATH"
REQUESTS=${PROFILE_REQUESTS:-1000}
REJECTS=${PROFILE_REJECTS:-5000}
TOP=${PROFILE_TOP:-25}
TARGET=${BENCH_PROFILE_TARGET:-/tmp/cxone-bench-profile-target}
API_KEY=bench-inbound-key-0123456789
BODY='{"interactionId":"int_bench","agentId":"agt_bench","content":"Customer asks for a refund after the delay.","priority":"HIGH","sentiment":0.5}'

for tool in valgrind callgrind_annotate callgrind_control oha curl ss; do
    command -v "$tool" >/dev/null || {
        echo "profile: $tool is missing (valgrind: apt-get install -y valgrind; oha: cargo install oha --locked)" >&2
        exit 1
    }
done

if [[ -n ${PROFILE_BIN:-} ]]; then
    BIN=$PROFILE_BIN
else
    echo "profile: building a symbolised release binary in $TARGET" >&2
    (cd "$REPO" && CARGO_TARGET_DIR=$TARGET CARGO_PROFILE_RELEASE_STRIP=false \
        CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --release >&2)
    BIN=$TARGET/release/cxone-assist
fi
echo "profile: binary $BIN (commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown))" >&2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cxone-profile.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? pid i
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "profile: outputs kept in $TMP" >&2
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # url pid seconds
    local i
    for i in $(seq 1 $(($3 * 10))); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true) != 000 ]] && return 0
        kill -0 "$2" 2>/dev/null || {
            echo "profile: process $2 died (see $TMP)" >&2
            exit 1
        }
        sleep 0.1
    done
    echo "profile: $1 did not answer" >&2
    exit 1
}
load() { # url n conns
    oha --no-tui --output-format json -m POST -T application/json -H "Authorization: Bearer $API_KEY" \
        -d "$BODY" -n "$2" -c "$3" -t 60s "$1" | jq -c '.statusCodeDistribution'
}

fake_config "$TMP/fake.toml" 0
: >"$TMP/service.toml"
pick_port
FAKE=http://127.0.0.1:$PORT
(cd "$TMP" && exec env -i PATH="$PATH" LOG_LEVEL=warn "$BIN" fake-tenant --listen "127.0.0.1:$PORT" \
    --config "$TMP/fake.toml") >"$TMP/fake.log" 2>&1 &
PIDS+=($!)
wait_http "$FAKE/_fake/stats" "${PIDS[-1]}" 10

# profile_path NAME BURST RATE N CONNS
profile_path() {
    local name=$1 burst=$2 rate=$3 n=$4 conns=$5 svc pid out=$TMP/callgrind.$1.out
    pick_port
    svc=http://127.0.0.1:$PORT
    mkdir -p "$TMP/$name" # own working directory: a fresh ledger (data/cxone-assist.db)
    (cd "$TMP/$name" && exec env -i PATH="$PATH" CXONE_TENANT_URL="$FAKE" CXONE_CLIENT_ID=bench \
        CXONE_CLIENT_SECRET=bench-secret LISTEN_ADDR="127.0.0.1:$PORT" RATE_LIMIT_BURST="$burst" \
        RATE_LIMIT_PER_SECOND="$rate" LOG_LEVEL=info INBOUND_API_KEYS="$API_KEY" \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" --config "$TMP/service.toml") \
        >"$TMP/service.$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "$svc/healthz" "$pid" 60
    echo "profile[$name]: warm-up $(load "$svc/simulate-prompt" 50 4)" >&2
    sleep 1
    callgrind_control -z "$pid" >/dev/null
    echo "profile[$name]: measured $(load "$svc/simulate-prompt" "$n" "$conns")" >&2
    sleep 2 # let background correlation of these requests finish
    callgrind_control -d "$pid" >/dev/null
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    # The dump after zeroing is the one with the highest part number.
    local dump
    dump=$(ls -1 "$out".* 2>/dev/null | sort -t. -k3 -n | tail -1)
    [[ -n $dump ]] || dump=$out
    local total
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    echo "== $name: $n requests measured; Ir total=$total; $((total / n)) Ir per request (background correlation included)"
    callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null >"$TMP/inclusive.$name.txt"
    callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null >"$TMP/self.$name.txt"
    echo "-- project functions (src/), inclusive Ir: % of total, Ir per request"
    listing "$TMP/inclusive.$name.txt" "$total" "$n" project "$TOP"
    echo "-- library entry points on the path (sqlx/SQLite, reqwest, tracing, serde_json, ...), inclusive"
    listing "$TMP/inclusive.$name.txt" "$total" "$n" libs 20
    echo "-- hottest functions by self cost (exclusive Ir)"
    listing "$TMP/self.$name.txt" "$total" "$n" self 20
    echo "   (full listings: $TMP/inclusive.$name.txt, $TMP/self.$name.txt; callgrind_annotate $dump)"
}

# listing FILE TOTAL N KIND TOP: filters callgrind_annotate output. Recursion duplicates ('2)
# and the thread-start/runtime frames that wrap everything are dropped.
listing() {
    awk -v total="$2" -v n="$3" -v kind="$4" -v top="$5" '
        match($0, /^ *[0-9,]+ \( *[0-9.]+%\) +/) {
            ir = substr($0, 1, RLENGTH); sub(/ *\(.*/, "", ir); gsub(/[ ,]/, "", ir)
            rest = substr($0, RLENGTH + 1); sub(/ \[[^]]*\]$/, "", rest)
            if (rest ~ /PROGRAM TOTALS/) next
            file = rest; sub(/:.*/, "", file)
            fn = substr(rest, length(file) + 2)
            if (fn ~ /\x27[0-9]+$/ || fn ~ /\x27[0-9]+ /) next
            if (fn ~ /^(clone|start_thread)$|thread_start|call_once\{\{vtable.shim\}\}|__rust_begin_short_backtrace/) next
            # Files of the crate itself appear both as "src/x.rs" and "/abs/path/src/x.rs".
            project = (file ~ /^src\// || (file ~ /\/src\// && file !~ /\.cargo\/registry|^\/rustc\/|^\/rust\/deps\//))
            if (kind == "project" && !project) next
            if (kind == "libs" && (project || file !~ /sqlx|libsqlite3|reqwest|tracing-subscriber|serde_json|ulid|sha2|url-|hyper-util-[^/]*\/src\/client|hyper-[0-9.]*\/src\/client/)) next
            if (project) { base = file; sub(/^.*\/src\//, "src/", base); fn = base ": " fn }
            if (seen[fn]++) next
            if (length(fn) > 150) fn = substr(fn, 1, 147) "..."
            printf "   %5.1f%% %9d/req  %s\n", 100 * ir / total, ir / n, fn
            if (++shown >= top) exit
        }' "$1"
}

profile_path delivered 1000000000 1000000000 "$REQUESTS" 8
profile_path rejected 10 2 "$REJECTS" 8
