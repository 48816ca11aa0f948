# shellcheck shell=bash
# Benchmark tools: installs what is missing (idempotent).
# Sourced by bench/run.sh, whose globals it uses: say.

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
