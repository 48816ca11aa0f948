# shellcheck shell=bash
# The fake tenant's settings for a benchmark. Sourced by bench/run.sh, perf.sh and profile.sh.

# fake_config FILE LATENCY_MS: a fake that answers every call after LATENCY_MS, never fails
# or rate-limits, and has a transcript half a second after the prompt.
fake_config() {
    cat >"$1" <<EOF
[sandbox.tenant]
latency_ms = $2
failure_rate = 0.0
rate_limited_rate = 0.0
retry_after_secs = 1
token_lifetime_secs = 3600
transcript_delay_ms = 500
EOF
}
