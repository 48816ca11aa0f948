# shellcheck shell=bash
# The servers bench/run.sh measures: the fake tenant, the service and nginx.
# Sourced by bench/run.sh, whose globals it uses: TMP, LOGS, BIN, PIN_SERVER, UP_BODY,
# LOG_LEVEL, API_KEY and the BENCH_* knobs of the service's environment.

# start_fake NAME LATENCY_MS: sets FAKE_PID FAKE_PORT FAKE_URL
start_fake() {
    local name=$1 conf=$TMP/fake-$2ms.toml
    fake_config "$conf" "$2"
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
