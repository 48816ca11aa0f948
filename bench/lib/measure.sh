# shellcheck shell=bash
# Measurements: CPU and memory from /proc, load generators, per-run figures.
# Sourced by bench/run.sh, whose globals it uses: TMP, LOGS, PIN_LOAD, CLK_TCK, BENCH_DIR,
# FAKE_URL, SVC_URL.

# proc_sum FILE AWK PIDS...: the sum over the pids of what AWK prints from /proc/PID/FILE.
proc_sum() {
    local file=$1 program=$2 pid total=0 value
    shift 2
    for pid in "$@"; do
        value=$(awk "$program" "/proc/$pid/$file")
        total=$((total + ${value:-0}))
    done
    echo "$total"
}
# utime+stime and stime (clock ticks), and VmHWM (peak RSS, KiB), summed over the given pids.
cpu_ticks() { proc_sum stat '{ sub(/^.*\) /, ""); print $12 + $13 }' "$@"; }
sys_ticks() { proc_sum stat '{ sub(/^.*\) /, ""); print $13 }' "$@"; }
hwm_kib() { proc_sum status '/^VmHWM:/ { print $2 }' "$@"; }
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
