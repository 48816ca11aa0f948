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
# The helpers (tools, processes, servers, measurements) are in bench/lib/.
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

# Tools (idempotent: installs only what is missing)
source "$BENCH_DIR/lib/tools.sh"
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

# Process bookkeeping (everything started here is stopped on exit), the servers, and the
# measurements.
source "$BENCH_DIR/lib/ports.sh"
source "$BENCH_DIR/lib/fake.sh"
source "$BENCH_DIR/lib/processes.sh"
source "$BENCH_DIR/lib/servers.sh"
source "$BENCH_DIR/lib/measure.sh"

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
