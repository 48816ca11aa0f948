# shellcheck shell=bash
# Loopback ports for the benchmark's servers. Sourced by bench/run.sh, perf.sh and profile.sh.

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
    echo "bench: no free port found" >&2
    exit 1
}
