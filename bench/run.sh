#!/usr/bin/env bash
# Benchmark of cxone-assist against its built-in fake tenant, with nginx references.
#
#   bench/run.sh                 # build the release binary, install missing tools, run it all
#
# Prints one line per scenario/reference on stdout (key=value), then one `check=` line per
# performance target; progress goes to stderr. See BENCHMARKS.md for what each line means.
#
# Knobs (environment; defaults in brackets):
#   BENCH_WARMUP [5]        seconds of warm-up load before each measured run
#   BENCH_DURATION [15]     seconds of each measured run
#   BENCH_CONNS [32]        connections for the throughput and flood scenarios
#   BENCH_MEM_CONNS [256]   connections for the memory scenario
#   BENCH_RATE [1000]       requests/s of the open-loop latency scenario
#   BENCH_COLD [1000]       requests (= connections) of the cold-start scenario
#   BENCH_LOG_LEVEL [info]  the service's LOG_LEVEL (info is the shipped default)
#   BENCH_DATABASE_URL      the service's DATABASE_URL [the default: a SQLite file in the
#                           scenario's own working directory]
#   BENCH_API_KEY [bench-inbound-key-0123456789]  inbound API key (INBOUND_API_KEYS, >= 16
#                           characters) given to the service and sent
#                           by the load generator; empty = inbound auth off
#   BENCH_SETTINGS          TOML for the service's settings file, e.g. a
#                           "[correlation]" table [empty: the built-in defaults]
#   BENCH_MIMALLOC_ARENA_EAGER_COMMIT [0]  allocator settings the container image ships
#   BENCH_MIMALLOC_PURGE_DELAY [0]
#   BENCH_BIN               binary to measure [target/release/cxone-assist, built first]
#   BENCH_SKIP_BUILD=1      do not run `cargo build --release`
#   BENCH_NGINX_C_MODE      force reference (c)'s mechanism: echo | auth_request [auto]
#   BENCH_ONLY              space-separated subset of: refa refb refc s1 s2 refb_rate s2q s3
#                           s4 s5
#
# Only loopback: every server binds 127.0.0.1, every load run is bounded by count or time.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
export PATH="$HOME/.cargo/bin:$PATH"

WARMUP=${BENCH_WARMUP:-5}
DURATION=${BENCH_DURATION:-15}
CONNS=${BENCH_CONNS:-32}
MEM_CONNS=${BENCH_MEM_CONNS:-256}
RATE=${BENCH_RATE:-1000}
COLD=${BENCH_COLD:-1000}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
API_KEY=${BENCH_API_KEY-bench-inbound-key-0123456789}
ONLY=${BENCH_ONLY:-refa refb refc s1 s2 refb_rate s2q s3 s4 s5}
HUGE_BURST=1000000000 # "rate limit opened"
HUGE_RATE=1000000000
DEFAULT_BURST=10 # the service's default bucket (scenario 3)
DEFAULT_RATE=2

# The service's request body (the issue's), and the upstream prompt body used by the
# references that talk to the fake directly or through nginx: the same shape the service
# sends (src/tenant/tutorial.rs PromptPayload), so the fake does the same work for both.
BODY='{"interactionId":"int_bench","agentId":"agt_bench","content":"Customer asks for a refund after the delay.","priority":"HIGH","sentiment":0.5}'
UP_BODY='{"interactionId":"int_bench","promptId":"prompt_int_bench_01M894NC7312XF70MD38S39JGS","content":"Customer asks for a refund after the delay.","priority":"HIGH","uiConfig":{"componentType":"CARD","position":"BOTTOM","timeoutMs":15000},"context":{"sentimentScore":0.5,"keywords":["refund","delay"]},"targetAgentId":"agt_bench"}'
SVC_AUTH=""
[[ -n $API_KEY ]] && SVC_AUTH="Bearer $API_KEY"

say() { echo "bench: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}
want() { [[ " $ONLY " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------------------------
# Tools (idempotent: installs only what is missing)
# ---------------------------------------------------------------------------------------------
ensure_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx-light)
    command -v jq >/dev/null || missing+=(jq)
    command -v curl >/dev/null || missing+=(curl)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v ss >/dev/null || missing+=(iproute2)
    command -v ps >/dev/null || missing+=(procps)
    if ((${#missing[@]})); then
        say "installing ${missing[*]} (apt)"
        # Do not let the package start a system nginx on :80 while installing.
        local guard=""
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            guard=/usr/sbin/policy-rc.d
        fi
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
        [[ -n $guard ]] && rm -f "$guard"
    fi
    if ! command -v oha >/dev/null; then
        say "installing oha (cargo install oha --locked)"
        cargo install oha --locked >&2
    fi
}

ensure_tools

if [[ -z ${BENCH_BIN:-} ]]; then
    BIN=$REPO/target/release/cxone-assist
    if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
        say "cargo build --release"
        (cd "$REPO" && cargo build --release >&2)
    fi
else
    BIN=$BENCH_BIN
fi
[[ -x $BIN ]] || die "no binary at $BIN"

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n ${BENCH_BIN:-} || ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    COMMIT="$COMMIT(build-skipped:binary-may-differ)"
fi
if [[ -n $(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    COMMIT="$COMMIT+uncommitted-src-changes"
fi

# Pin the load generator to CPU 0 and the servers (service, fake, nginx) to CPU 1, so the
# load generator does not steal the servers' core. Without a second CPU, no pinning.
if (($(nproc) >= 2)); then
    PIN_LOAD=(taskset -c 0)
    PIN_SERVER=(taskset -c 1)
    PIN_DESC="load-generator=cpu0 servers=cpu1"
else
    PIN_LOAD=()
    PIN_SERVER=()
    PIN_DESC="none (1 cpu)"
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
CLK_TCK=$(getconf CLK_TCK)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cxone-bench.XXXXXX")
LOGS=$TMP/logs
mkdir -p "$LOGS"
# The built-in defaults (the repo's config file is not read), changed only by BENCH_SETTINGS.
printf '%s\n' "${BENCH_SETTINGS:-}" >"$TMP/service.toml"

# ---------------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is stopped on exit
# ---------------------------------------------------------------------------------------------
PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
}
cleanup() {
    local rc=$?
    stop_all
    say "logs and configs kept in $TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keeps the head and tail of a large log (an info-level service log under load is ~1 GB/min).
trim_log() {
    local f=$1 n
    [[ -f $f ]] || return 0
    n=$(wc -l <"$f")
    if ((n > 200)); then
        { head -n 100 "$f"; echo "... ($((n - 200)) lines elided by bench/run.sh) ..."; tail -n 100 "$f"; } >"$f.trim"
        mv "$f.trim" "$f"
    fi
}

# A free loopback port below the ephemeral range (so client sockets cannot collide with it),
# never handed out twice in one run. Sets PORT.
USED_PORTS=" "
pick_port() {
    local p i
    for i in $(seq 1 500); do
        p=$(((RANDOM * 32768 + RANDOM) % 12000 + 20000))
        [[ $USED_PORTS == *" $p "* ]] && continue
        if [[ -z $(ss -Htan "sport = :$p") ]]; then
            USED_PORTS+="$p "
            PORT=$p
            return 0
        fi
    done
    die "no free port found"
}

# Waits (at most 10 s) until something answers HTTP at $1; fails if process $2 died.
wait_http() {
    local url=$1 pid=$2 i code
    for i in $(seq 1 200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
        [[ $code != 000 ]] && return 0
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before $url answered (see $LOGS)"
        sleep 0.05
    done
    die "$url did not answer within 10 s (see $LOGS)"
}

# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------
# start_fake NAME LATENCY_MS: sets FAKE_PID FAKE_PORT FAKE_URL
start_fake() {
    local name=$1 latency=$2 conf=$TMP/fake-$2ms.toml
    cat >"$conf" <<EOF
[sandbox.tenant]
latency_ms = $latency
failure_rate = 0.0
rate_limited_rate = 0.0
retry_after_secs = 1
token_lifetime_secs = 3600
transcript_delay_ms = 500
EOF
    pick_port
    FAKE_PORT=$PORT
    FAKE_URL=http://127.0.0.1:$FAKE_PORT
    (cd "$TMP" && exec env -i PATH="$PATH" HOME="$HOME" LOG_LEVEL=warn \
        "${PIN_SERVER[@]}" "$BIN" fake-tenant --listen "127.0.0.1:$FAKE_PORT" --config "$conf") \
        >"$LOGS/$name-fake.log" 2>&1 &
    FAKE_PID=$!
    PIDS+=("$FAKE_PID")
    wait_http "$FAKE_URL/_fake/stats" "$FAKE_PID"
}

# start_service NAME BURST PER_SECOND: sets SVC_PID SVC_URL (tenant = FAKE_URL); the
# service also gets the VAR=VALUE pairs in SVC_ENV
SVC_ENV=()
start_service() {
    local name=$1 burst=$2 rate=$3
    pick_port
    SVC_URL=http://127.0.0.1:$PORT
    SVC_LOG=$LOGS/$name-service.log
    # Each service gets its own working directory, so its ledger (default
    # sqlite://data/cxone-assist.db, relative to the working directory) starts empty and no
    # correlation work is inherited from an earlier scenario.
    SVC_DIR=$TMP/run-$name
    mkdir -p "$SVC_DIR"
    (cd "$SVC_DIR" && exec env -i PATH="$PATH" HOME="$HOME" \
        CXONE_TENANT_URL="$FAKE_URL" CXONE_CLIENT_ID=bench CXONE_CLIENT_SECRET=bench-secret \
        LISTEN_ADDR="127.0.0.1:$PORT" RATE_LIMIT_BURST="$burst" RATE_LIMIT_PER_SECOND="$rate" \
        LOG_LEVEL="$LOG_LEVEL" INBOUND_API_KEYS="$API_KEY" ${BENCH_DATABASE_URL:+DATABASE_URL="$BENCH_DATABASE_URL"} \
        MIMALLOC_ARENA_EAGER_COMMIT="${BENCH_MIMALLOC_ARENA_EAGER_COMMIT-0}" \
        MIMALLOC_PURGE_DELAY="${BENCH_MIMALLOC_PURGE_DELAY-0}" \
        "${SVC_ENV[@]}" "${PIN_SERVER[@]}" "$BIN" --config "$TMP/service.toml") >"$SVC_LOG" 2>&1 &
    SVC_PID=$!
    PIDS+=("$SVC_PID")
    wait_http "$SVC_URL/healthz" "$SVC_PID"
}

# Stops everything of a service scenario, keeps the head and tail of its log and drops its
# ledger files (hundreds of MB after a throughput run).
finish_service() {
    stop_all
    trim_log "$SVC_LOG"
    rm -rf "$SVC_DIR/data"
}

get_token() {
    curl -sf --max-time 5 -X POST "$FAKE_URL/api/v2/oauth/token" \
        -d grant_type=client_credentials -d client_id=bench -d client_secret=bench-secret |
        jq -er .access_token
}

# One prompt straight to the fake, so the interaction's transcript clock starts now.
prime_fake() {
    curl -sf --max-time 5 -o /dev/null -X POST "$FAKE_URL/api/v2/agentassist/prompts" \
        -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$UP_BODY" ||
        die "priming prompt to the fake failed"
}

# How reference (c) makes two upstream requests per inbound request.
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
nginx_c_mode() {
    if [[ -n ${BENCH_NGINX_C_MODE:-} ]]; then
        echo "$BENCH_NGINX_C_MODE"
    elif nginx -V 2>&1 | grep -q echo || [[ -f $ECHO_MODULE ]]; then
        echo echo
    else
        echo auth_request
    fi
}

# start_nginx NAME TOKEN: nginx (1 worker) in front of FAKE_URL. Locations:
#   /ref-b  proxy_pass of the prompt POST (upstream keepalive)
#   /ref-c  the prompt POST and the transcript GET (mechanism from nginx_c_mode)
# Sets NGINX_PID NGINX_URL.
start_nginx() {
    local name=$1 token=$2 mode d conf load="" refc
    mode=$(nginx_c_mode)
    d=$TMP/nginx-$name
    conf=$d/nginx.conf
    mkdir -p "$d"
    local headers="proxy_set_header Connection \"\";
            proxy_set_header Authorization \"Bearer $token\";"
    local post="proxy_pass http://fake/api/v2/agentassist/prompts;
            proxy_method POST;
            $headers
            proxy_set_header Content-Type application/json;
            proxy_set_body '$UP_BODY';"
    if [[ $mode == echo ]]; then
        [[ -f $ECHO_MODULE ]] && ! nginx -V 2>&1 | grep -q echo && load="load_module $ECHO_MODULE;"
        refc="location = /ref-c {
            echo_read_request_body;
            echo_location /_prompt;
            echo_location /_transcript;
        }"
    else
        # auth_request never reads the subrequest's response body, so nginx would close the
        # upstream connection after every GET; HEAD (answered by the same handler in the fake,
        # body dropped) keeps the upstream connection reusable.
        refc="location = /ref-c {
            auth_request /_transcript_head;
            $post
        }
        location = /_transcript_head {
            internal;
            proxy_pass http://fake/api/v2/interactions/int_bench/transcripts;
            proxy_method HEAD;
            proxy_pass_request_body off;
            $headers
            proxy_set_header Content-Length \"\";
            proxy_set_header Content-Type \"\";
        }"
    fi
    pick_port
    NGINX_URL=http://127.0.0.1:$PORT
    cat >"$conf" <<EOF
$load
worker_processes 1;
user root;
pid $d/nginx.pid;
error_log $LOGS/$name-nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    keepalive_timeout 65s;
    keepalive_requests 10000000;
    proxy_http_version 1.1;
    upstream fake {
        server 127.0.0.1:$FAKE_PORT;
        keepalive 64;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$PORT;
        location = /ref-b {
            $post
        }
        $refc
        location = /_prompt {
            internal;
            $post
        }
        location = /_transcript {
            internal;
            proxy_pass http://fake/api/v2/interactions/int_bench/transcripts;
            proxy_method GET;
            proxy_pass_request_body off;
            $headers
            proxy_set_header Content-Length "";
            proxy_set_header Content-Type "";
        }
    }
}
EOF
    nginx -t -q -p "$d" -c "$conf" 2>"$LOGS/$name-nginx-test.log" || die "nginx config invalid: $(cat "$LOGS/$name-nginx-test.log")"
    "${PIN_SERVER[@]}" nginx -p "$d" -c "$conf" -g 'daemon off;' >"$LOGS/$name-nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http "$NGINX_URL/" "$NGINX_PID"
    NGINX_C_MODE=$mode
}

# The nginx master and its workers.
nginx_pids() { echo "$1 $(ps -o pid= --ppid "$1" | tr '\n' ' ')"; }

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
# Sum of utime+stime (clock ticks) of the given pids.
cpu_ticks() {
    local pid total=0 t
    for pid in "$@"; do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
        total=$((total + t))
    done
    echo "$total"
}
# Sum of stime (clock ticks) of the given pids.
sys_ticks() {
    local pid total=0 t
    for pid in "$@"; do
        t=$(awk '{ sub(/^.*\) /, ""); print $13 }' "/proc/$pid/stat")
        total=$((total + t))
    done
    echo "$total"
}
# Sum of VmHWM (peak RSS, KiB) of the given pids.
hwm_kib() {
    local pid total=0 t
    for pid in "$@"; do
        t=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
        total=$((total + t))
    done
    echo "$total"
}
# Waits (at most 120 s) until the service's correlation queue is empty, so the CPU measured
# includes the transcript look-up of every prompt sent, not just the response path. Sets DRAIN_S.
drain_correlation() {
    local start depth i
    start=$(now)
    for i in $(seq 1 1200); do
        depth=$(curl -sf --max-time 5 "$SVC_URL/metrics" | awk '/^cxone_assist_correlation_queue_depth / { print $2 }')
        [[ $depth == 0 ]] && break
        sleep 0.1
    done
    [[ $depth == 0 ]] || die "correlation queue still at $depth after 120 s"
    DRAIN_S=$(calc %.2f "$(now) - $start")
}
fake_stat() { curl -sf --max-time 5 "$FAKE_URL/_fake/stats" | jq -er ".$1"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }

# Parses "k=v k=v ..." into the associative array M.
declare -A M
parse_kv() {
    local kv
    M=()
    for kv in $1; do
        [[ $kv == *=* ]] && M[${kv%%=*}]=${kv#*=}
    done
}

# run_wrk TAG URL CONNS SECONDS AUTH BODY: closed loop; result in M
# (requests duration_s rps p50_ms p99_ms p999_ms non2xx socket_errors).
run_wrk() {
    local tag=$1 url=$2 conns=$3 secs=$4 auth=$5 body=$6 out=$LOGS/$1.wrk.txt
    BENCH_AUTH=$auth BENCH_BODY=$body "${PIN_LOAD[@]}" \
        wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$BENCH_DIR/post.lua" "$url" >"$out" 2>&1 ||
        die "wrk failed: $(tail -3 "$out")"
    parse_kv "$(grep '^WRK ' "$out" | tail -1)"
    [[ -n ${M[requests]:-} ]] || die "no wrk summary in $out"
}

# run_oha TAG URL AUTH BODY ARGS...: result in M
# (requests duration_s rps p50_ms p99_ms p999_ms ok2xx non2xx socket_errors).
run_oha() {
    local tag=$1 url=$2 auth=$3 body=$4 out=$LOGS/$1.oha.json
    shift 4
    local hdr=()
    [[ -n $auth ]] && hdr=(-H "Authorization: $auth")
    "${PIN_LOAD[@]}" oha --no-tui --output-format json -m POST -T application/json \
        "${hdr[@]}" -d "$body" "$@" "$url" >"$out" 2>"$LOGS/$tag.oha.err" ||
        die "oha failed: $(tail -3 "$LOGS/$tag.oha.err")"
    parse_kv "$(jq -r '
        (.statusCodeDistribution // {}) as $s | (.errorDistribution // {}) as $e
        | ([$s | to_entries[] | .value] | add // 0) as $answered
        | ([$s | to_entries[] | select(.key | test("^2")) | .value] | add // 0) as $ok
        | ([$e | to_entries[] | .value] | add // 0) as $sock
        | "requests=\($answered + $sock) ok2xx=\($ok) non2xx=\($answered - $ok) socket_errors=\($sock)"
          + " duration_s=\(.summary.total) rps=\(.summary.requestsPerSec)"
          + " p50_ms=\(.latencyPercentiles.p50 * 1000) p99_ms=\(.latencyPercentiles.p99 * 1000)"
          + " p999_ms=\(.latencyPercentiles["p99.9"] * 1000)"' "$out")"
}

# Snapshot before / after a measured run: CPU of the measured pids, the fake's counters, time.
declare -A B A
snap() { # snap ARRAYNAME PIDS...
    local -n s=$1
    shift
    s[ticks]=$(cpu_ticks "$@")
    s[sys]=$(sys_ticks "$@")
    s[fake_ticks]=$(cpu_ticks "$FAKE_PID")
    s[t]=$(now)
    s[prompts]=$(fake_stat prompts)
    s[transcripts]=$(fake_stat transcripts)
    s[conns]=$(fake_stat connections)
    s[tokens]=$(fake_stat tokenRequests)
}

# Stores figures of the last run in RES[<id>.<key>] and the standard fields in FIELDS
# (not called in a subshell, so RES survives).
declare -A RES
RESULTS=$TMP/results.txt
common_fields() { # common_fields ID PIDS...
    local id=$1
    shift
    local reqs=${M[requests]} wall secs_cpu
    wall=$(calc %.3f "${A[t]} - ${B[t]}")
    RES[$id.rps]=$(calc %.0f "${M[rps]}")
    RES[$id.p50]=$(calc %.3f "${M[p50_ms]}")
    RES[$id.p99]=$(calc %.3f "${M[p99_ms]}")
    RES[$id.p999]=$(calc %.3f "${M[p999_ms]}")
    RES[$id.errors]=$((M[non2xx] + M[socket_errors]))
    RES[$id.requests]=$reqs
    RES[$id.wall]=$wall
    RES[$id.cpu]=$(calc %.1f "(${A[ticks]} - ${B[ticks]}) * 1000000 / $CLK_TCK / ($reqs > 0 ? $reqs : 1)")
    RES[$id.fake_cpu]=$(calc %.1f "(${A[fake_ticks]} - ${B[fake_ticks]}) * 1000000 / $CLK_TCK / ($reqs > 0 ? $reqs : 1)")
    RES[$id.sys]=$(calc %.0f "(${A[ticks]} - ${B[ticks]}) > 0 ? 100 * (${A[sys]} - ${B[sys]}) / (${A[ticks]} - ${B[ticks]}) : 0")
    RES[$id.rss]=$(calc %.1f "$(hwm_kib "$@") / 1024")
    RES[$id.posts]=$(calc %.2f "(${A[prompts]} - ${B[prompts]}) / ($reqs > 0 ? $reqs : 1)")
    RES[$id.gets]=$(calc %.2f "(${A[transcripts]} - ${B[transcripts]}) / ($reqs > 0 ? $reqs : 1)")
    RES[$id.conns]=$((A[conns] - B[conns]))
    FIELDS="rps=${RES[$id.rps]} p50_ms=${RES[$id.p50]} p99_ms=${RES[$id.p99]} p999_ms=${RES[$id.p999]} errors=${RES[$id.errors]} requests=$reqs cpu_us_per_req=${RES[$id.cpu]} cpu_sys_pct=${RES[$id.sys]} peak_rss_mib=${RES[$id.rss]}"
}
emit() { echo "$*" | tee -a "$RESULTS"; }

# ---------------------------------------------------------------------------------------------
# Header
# ---------------------------------------------------------------------------------------------
{
    echo "# cxone-assist bench: commit=$COMMIT binary=$BIN"
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) nproc=$(nproc) cpu=\"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)\" kernel=$(uname -r)"
    echo "# tools: $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'); $(oha --version); $(nginx -v 2>&1 | sed 's/.*: //'); $(curl --version | head -1 | awk '{print $1, $2}')"
    echo "# warmup=${WARMUP}s duration=${DURATION}s conns=$CONNS mem_conns=$MEM_CONNS rate=$RATE cold=$COLD log_level=$LOG_LEVEL database=${BENCH_DATABASE_URL:-sqlite-default} inbound_auth=$([[ -n $API_KEY ]] && echo on || echo off) pinning: $PIN_DESC"
    echo "# loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
    echo "# logs: $LOGS"
} | tee "$RESULTS"

# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------
if want refa; then
    say "reference (a): the fake tenant alone, ${CONNS} connections, latency_ms=0"
    start_fake refa 0
    TOKEN=$(get_token)
    prime_fake "$TOKEN"
    url=$FAKE_URL/api/v2/agentassist/prompts
    run_wrk refa-warmup "$url" "$CONNS" "$WARMUP" "Bearer $TOKEN" "$UP_BODY"
    snap B "$FAKE_PID"
    run_wrk refa "$url" "$CONNS" "$DURATION" "Bearer $TOKEN" "$UP_BODY"
    snap A "$FAKE_PID"
    common_fields refa "$FAKE_PID"
    emit "ref=a-fake-alone $FIELDS conns=$CONNS tenant_latency_ms=0 upstream_conns=+${RES[refa.conns]}"
    stop_all
fi

# Reference (b) or (c) under closed-loop load: ID LOCATION LABEL
nginx_ref() {
    local id=$1 loc=$2 label=$3 pids
    start_fake "$id" 0
    TOKEN=$(get_token)
    prime_fake "$TOKEN"
    start_nginx "$id" "$TOKEN"
    pids=$(nginx_pids "$NGINX_PID")
    # shellcheck disable=SC2086
    {
        run_wrk "$id-warmup" "$NGINX_URL$loc" "$CONNS" "$WARMUP" "$SVC_AUTH" "$BODY"
        snap B $pids
        run_wrk "$id" "$NGINX_URL$loc" "$CONNS" "$DURATION" "$SVC_AUTH" "$BODY"
        snap A $pids
        common_fields "$id" $pids
        emit "ref=$label $FIELDS conns=$CONNS tenant_latency_ms=0 tenant_cpu_us_per_req=${RES[$id.fake_cpu]} upstream_posts_per_req=${RES[$id.posts]} upstream_gets_per_req=${RES[$id.gets]} upstream_conns=+${RES[$id.conns]}"
    }
    stop_all
}
if want refb; then
    say "reference (b): nginx proxy_pass to the fake, ${CONNS} connections, latency_ms=0"
    nginx_ref refb /ref-b b-nginx-proxy
fi
if want refc; then
    say "reference (c): nginx prompt POST + transcript GET per request ($(nginx_c_mode)), ${CONNS} connections"
    nginx_ref refc /ref-c "c-nginx-post+get($(nginx_c_mode))"
fi

# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------
if want s1; then
    say "scenario 1: throughput, ${CONNS} connections, latency_ms=0"
    start_fake s1 0
    start_service s1 "$HUGE_BURST" "$HUGE_RATE"
    run_wrk s1-warmup "$SVC_URL/simulate-prompt" "$CONNS" "$WARMUP" "$SVC_AUTH" "$BODY"
    drain_correlation
    snap B "$SVC_PID"
    run_wrk s1 "$SVC_URL/simulate-prompt" "$CONNS" "$DURATION" "$SVC_AUTH" "$BODY"
    drain_correlation
    snap A "$SVC_PID"
    common_fields s1 "$SVC_PID"
    # Prompts per second over the load and the correlation catching up after it: the rate
    # the service can keep up, transcript look-ups included.
    RES[s1.sustained]=$(calc %.0f "${M[requests]} / ${RES[s1.wall]}")
    emit "scenario=1-throughput $FIELDS sustained_rps=${RES[s1.sustained]} correlation_drain_s=$DRAIN_S conns=$CONNS tenant_latency_ms=0 tenant_cpu_us_per_req=${RES[s1.fake_cpu]} upstream_posts_per_req=${RES[s1.posts]} upstream_gets_per_req=${RES[s1.gets]} upstream_conns=+${RES[s1.conns]} upstream_conns_total=${A[conns]}"
    finish_service
fi

# latency_scenario ID LABEL [VAR=VALUE...]: scenario 2's open-loop run, the service started
# with the extra environment given
latency_scenario() {
    local id=$1 label=$2
    shift 2
    say "scenario $label: latency at ${RATE} req/s open loop (oha -q, --latency-correction), latency_ms=5 $*"
    start_fake "$id" 5
    SVC_ENV=("$@")
    start_service "$id" "$HUGE_BURST" "$HUGE_RATE"
    SVC_ENV=()
    run_oha "$id-warmup" "$SVC_URL/simulate-prompt" "$SVC_AUTH" "$BODY" -q "$RATE" --latency-correction -z "${WARMUP}s" -w -c "$CONNS"
    drain_correlation
    snap B "$SVC_PID"
    run_oha "$id" "$SVC_URL/simulate-prompt" "$SVC_AUTH" "$BODY" -q "$RATE" --latency-correction -z "${DURATION}s" -w -c "$CONNS"
    drain_correlation
    snap A "$SVC_PID"
    common_fields "$id" "$SVC_PID"
    emit "scenario=$label $FIELDS correlation_drain_s=$DRAIN_S rate=$RATE tenant_latency_ms=5 tenant_cpu_us_per_req=${RES[$id.fake_cpu]} upstream_posts_per_req=${RES[$id.posts]} upstream_gets_per_req=${RES[$id.gets]}"
    finish_service
}

if want s2; then
    latency_scenario s2 2-latency
fi

# Scenario 2 again with the opt-in answer before the ledger's commit (README, "The prompt
# ledger"): what taking the commit off the response path buys.
if want s2q; then
    latency_scenario s2q 2q-latency-acknowledge-queued LEDGER_ACKNOWLEDGE=queued
fi

if want refb_rate; then
    say "reference (b) at ${RATE} req/s open loop, latency_ms=5"
    start_fake refb_rate 5
    TOKEN=$(get_token)
    prime_fake "$TOKEN"
    start_nginx refb_rate "$TOKEN"
    pids=$(nginx_pids "$NGINX_PID")
    # shellcheck disable=SC2086
    {
        run_oha refb_rate-warmup "$NGINX_URL/ref-b" "$SVC_AUTH" "$BODY" -q "$RATE" --latency-correction -z "${WARMUP}s" -w -c "$CONNS"
        snap B $pids
        run_oha refb_rate "$NGINX_URL/ref-b" "$SVC_AUTH" "$BODY" -q "$RATE" --latency-correction -z "${DURATION}s" -w -c "$CONNS"
        snap A $pids
        common_fields refb_rate $pids
        emit "ref=b-nginx-proxy-at-rate $FIELDS rate=$RATE tenant_latency_ms=5 tenant_cpu_us_per_req=${RES[refb_rate.fake_cpu]} upstream_posts_per_req=${RES[refb_rate.posts]}"
    }
    stop_all
fi

if want s3; then
    say "scenario 3: flood against the default bucket (burst $DEFAULT_BURST, $DEFAULT_RATE/s), ${CONNS} connections"
    start_fake s3 0
    start_service s3 "$DEFAULT_BURST" "$DEFAULT_RATE"
    run_wrk s3-warmup "$SVC_URL/simulate-prompt" "$CONNS" "$WARMUP" "$SVC_AUTH" "$BODY"
    snap B "$SVC_PID"
    run_wrk s3 "$SVC_URL/simulate-prompt" "$CONNS" "$DURATION" "$SVC_AUTH" "$BODY"
    snap A "$SVC_PID"
    common_fields s3 "$SVC_PID"
    # wrk counts every status > 399 as non2xx; under the flood those are the 429s (the 2xx
    # count is cross-checked against the prompts the fake received).
    RES[s3.rej_rps]=$(calc %.0f "${M[non2xx]} / ${M[duration_s]}")
    RES[s3.cpu_rej]=$(calc %.1f "(${A[ticks]} - ${B[ticks]}) * 1000000 / $CLK_TCK / (${M[non2xx]} > 0 ? ${M[non2xx]} : 1)")
    RES[s3.permitted]=$(calc %.2f "(${A[prompts]} - ${B[prompts]}) / ${RES[s3.wall]}")
    emit "scenario=3-flood $FIELDS rejected_429=${M[non2xx]} rejected_429_rps=${RES[s3.rej_rps]} cpu_us_per_rejection=${RES[s3.cpu_rej]} ok_2xx=$((M[requests] - M[non2xx])) permitted_prompts=$((A[prompts] - B[prompts])) permitted_prompts_per_s=${RES[s3.permitted]} configured_per_s=$DEFAULT_RATE conns=$CONNS"
    finish_service
fi

if want s4; then
    say "scenario 4: memory, ${MEM_CONNS} connections, latency_ms=0"
    start_fake s4 0
    start_service s4 "$HUGE_BURST" "$HUGE_RATE"
    run_wrk s4-warmup "$SVC_URL/simulate-prompt" "$MEM_CONNS" "$WARMUP" "$SVC_AUTH" "$BODY"
    drain_correlation
    snap B "$SVC_PID"
    run_wrk s4 "$SVC_URL/simulate-prompt" "$MEM_CONNS" "$DURATION" "$SVC_AUTH" "$BODY"
    drain_correlation
    snap A "$SVC_PID"
    common_fields s4 "$SVC_PID"
    emit "scenario=4-memory $FIELDS correlation_drain_s=$DRAIN_S conns=$MEM_CONNS tenant_latency_ms=0 rss_now_mib=$(calc %.1f "$(awk '/^VmRSS:/ { print $2 }' "/proc/$SVC_PID/status") / 1024")"
    finish_service
fi

if want s5; then
    say "scenario 5: ${COLD} concurrent cold requests against a fresh service"
    start_fake s5 0
    start_service s5 "$HUGE_BURST" "$HUGE_RATE"
    snap B "$SVC_PID"
    run_oha s5 "$SVC_URL/simulate-prompt" "$SVC_AUTH" "$BODY" -n "$COLD" -c "$COLD" -t 30s
    snap A "$SVC_PID"
    RES[s5.tokens]=${A[tokens]}
    common_fields s5 "$SVC_PID"
    emit "scenario=5-cold $FIELDS ok_2xx=${M[ok2xx]} concurrent=$COLD token_requests=${A[tokens]} token_requests_before=${B[tokens]}"
    finish_service
fi

# ---------------------------------------------------------------------------------------------
# Targets (from the issue)
# ---------------------------------------------------------------------------------------------
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }
have() { [[ -n ${RES[$1]:-} ]]; }
if have s1.sustained && have refc.rps; then
    r=$(calc %.2f "${RES[s1.sustained]} / ${RES[refc.rps]}")
    emit "check=s1-sustained-rps-vs-ref-c ratio=$r target=>=0.80 $(verdict "$r >= 0.80")"
fi
if have s1.cpu; then
    emit "check=s1-cpu-per-prompt cpu_us=${RES[s1.cpu]} target=<=100 $(verdict "${RES[s1.cpu]} <= 100")"
fi
if have s2.p50 && have refb_rate.p50; then
    d50=$(calc %.3f "${RES[s2.p50]} - ${RES[refb_rate.p50]}")
    d99=$(calc %.3f "${RES[s2.p99]} - ${RES[refb_rate.p99]}")
    emit "check=s2-p50-vs-ref-b delta_ms=$d50 target=<=0.5 $(verdict "$d50 <= 0.5")"
    emit "check=s2-p99-vs-ref-b delta_ms=$d99 target=<=1.0 $(verdict "$d99 <= 1.0")"
fi
if have s2q.p50 && have refb_rate.p50; then
    d50=$(calc %.3f "${RES[s2q.p50]} - ${RES[refb_rate.p50]}")
    d99=$(calc %.3f "${RES[s2q.p99]} - ${RES[refb_rate.p99]}")
    emit "check=s2q-p50-vs-ref-b delta_ms=$d50 target=<=0.5 $(verdict "$d50 <= 0.5") (LEDGER_ACKNOWLEDGE=queued)"
    emit "check=s2q-p99-vs-ref-b delta_ms=$d99 target=<=1.0 $(verdict "$d99 <= 1.0") (LEDGER_ACKNOWLEDGE=queued)"
fi
if have s3.rej_rps && have refa.rps; then
    r=$(calc %.2f "${RES[s3.rej_rps]} / ${RES[refa.rps]}")
    emit "check=s3-429-rate-vs-ref-a ratio=$r target=>=0.70 $(verdict "$r >= 0.70")"
fi
if have s3.cpu_rej; then
    emit "check=s3-cpu-per-rejection cpu_us=${RES[s3.cpu_rej]} target=<=20 $(verdict "${RES[s3.cpu_rej]} <= 20")"
    emit "check=s3-permitted-rate per_s=${RES[s3.permitted]} target=$DEFAULT_RATE(+-10%) $(verdict "${RES[s3.permitted]} >= $DEFAULT_RATE * 0.9 && ${RES[s3.permitted]} <= $DEFAULT_RATE * 1.1")"
fi
if have s4.rss; then
    emit "check=s4-peak-rss mib=${RES[s4.rss]} target=<=30 $(verdict "${RES[s4.rss]} <= 30")"
fi
if have s5.tokens; then
    emit "check=s5-token-requests count=${RES[s5.tokens]} target=1 $(verdict "${RES[s5.tokens]} == 1")"
fi
echo "# loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg); results: $RESULTS" | tee -a "$RESULTS"
