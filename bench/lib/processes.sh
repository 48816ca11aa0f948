# shellcheck shell=bash
# Process bookkeeping: everything bench/run.sh starts is stopped on exit; ports; readiness.
# Sourced by bench/run.sh, whose globals it uses: say, die, TMP, LOGS.

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
