#!/usr/bin/env bash
# scfgate vs nginx vs the backend itself, on loopback, with the same fixed-reply backend behind both
# proxies. See loadtest/README.md.
#
#   loadtest/compare.sh                 # full: event and web modes, connections 1 16 64 256,
#                                       # 1 worker and all cores, 3 runs
#   QUICK=1 loadtest/compare.sh         # 64 connections, all cores only, 1 run
#   MODES=web loadtest/compare.sh       # web-function mode only
#   DURATION=10s RUNS=5 loadtest/compare.sh
#
# Environment: MODES ("event web"), SCFGATE_ARGS (extra scfgate flags, e.g. "--driver legacy"),
# RATE (paced runs: about RATE requests per second in all, each connection sending one request every
# round(1000 * connections / RATE) ms, wrk's resolution; for comparing latency at the same load), DURATION (per run, default 5s), WARMUP (per target and worker count, default 1s,
# 0 to skip), RUNS (runs per cell, interleaved across targets; the median by req/s is reported;
# default 3, 1 with QUICK), QUICK=1,
# CONNECTIONS ("1 16 64 256"), WORKERS ("1 <nproc>"), WRK_THREADS (default: the client cores),
# SKIP_BUILD=1 (use the binaries already in target/release, or $CARGO_TARGET_DIR/release),
# UPSTREAM_KEEPALIVE (idle upstream connections each proxy worker keeps: nginx `keepalive N`,
# scfgate `--pool-size N`; default 64), BASE_PORT (backend, nginx, scfgate and the web function
# listen on it and the next three, the relay on the fifth; default: five free ports picked from 21000-28999), MAX_OTHER_LOAD and RETRIES (a run
# during which other work used more than MAX_OTHER_LOAD percent of the CPUs, default 20, is
# repeated up to RETRIES times, default 3; the least disturbed attempt counts), QUIET_WAIT and
# QUIET_BUDGET (before each run, while the machine is more than MAX_OTHER_LOAD percent busy with
# other work, wait up to QUIET_WAIT seconds, default 60, and QUIET_BUDGET seconds in all, default
# 900), RESULTS (default loadtest/results/latest.md).
#
# What runs where, event mode (an event function behind API Gateway):
#   backend  target/release/scfgate-bench-backend, integrated mode: every request gets the same
#            integration-format JSON (119 bytes).
#   direct   wrk -> backend. Expected body: the backend's JSON.
#   nginx    wrk -> nginx -> backend (upstream keepalive 64, HTTP/1.1, access_log off).
#            (keepalive and scfgate's --pool-size are both UPSTREAM_KEEPALIVE, default 64.)
#            Expected body: the backend's JSON, passed through.
#   scfgate  wrk -> scfgate -> backend: scfgate builds the SCF event, POSTs it (runtime = "remote"),
#            maps the integrated reply. Expected body: its `body` field, {"hello":"world"}.
# Web-function mode (runtime = "web": the function is an HTTP server):
#   backend  the same binary in plain mode ({"hello":"world"}), started by scfgate as the web
#            function's scf_bootstrap on a fixed port (`port = ...`), then pinned like the event
#            backend; nginx proxies to that same process.
#   direct   wrk -> backend; nginx: wrk -> nginx -> backend; scfgate: wrk -> scfgate -> backend
#            (raw HTTP proxied with Tencent's X-Scf-* headers added, the stage prefix removed).
#            Expected body everywhere: {"hello":"world"}.
#   relay    wrk -> scfgate-bench-relay -> backend (loadtest/relay.rs): a byte relay with as many
#            threads as the proxies have workers, on scfgate's runtime set-up, parsing nothing and
#            keeping one backend connection per client connection. The floor of any proxy: no proxy
#            in this placement can serve more. Web mode only (in event mode the proxies do
#            different work: there is no like-for-like relay).
# Every response's status and body are checked by loadtest/check.lua.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
QUICK=${QUICK:-0}
RESULTS=${RESULTS:-$ROOT/loadtest/results/latest.md}
NCPU=$(nproc)
if [[ $QUICK == 1 ]]; then
    RUNS=${RUNS:-1}
    CONNECTIONS=${CONNECTIONS:-64}
    WORKERS=${WORKERS:-$NCPU}
else
    RUNS=${RUNS:-3}
    CONNECTIONS=${CONNECTIONS:-1 16 64 256}
    if ((NCPU > 1)); then WORKERS=${WORKERS:-1 $NCPU}; else WORKERS=${WORKERS:-1}; fi
fi
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-64}
MAX_OTHER_LOAD=${MAX_OTHER_LOAD:-20}
RETRIES=${RETRIES:-3}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_BUDGET=${QUIET_BUDGET:-900}
MODES=${MODES:-event web}
SCFGATE_ARGS=${SCFGATE_ARGS:-}
RATE=${RATE:-}
COMMAND="MODES=\"$MODES\" SCFGATE_ARGS=\"$SCFGATE_ARGS\" RATE=$RATE DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS QUICK=$QUICK UPSTREAM_KEEPALIVE=$UPSTREAM_KEEPALIVE loadtest/compare.sh"

log() { printf '%s\n' "$*" >&2; }

# ---- tools -------------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v taskset >/dev/null || missing+=(util-linux)
command -v ss >/dev/null || missing+=(iproute2)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    SUDO=""
    ((EUID == 0)) || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries (cargo build --release --bins)"
    cargo build --release --bins
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BACKEND_BIN=$TARGET_DIR/release/scfgate-bench-backend
SCFGATE_BIN=$TARGET_DIR/release/scfgate
RELAY_BIN=$TARGET_DIR/release/scfgate-bench-relay
[[ -x $BACKEND_BIN && -x $SCFGATE_BIN && -x $RELAY_BIN ]] || { log "missing $BACKEND_BIN, $SCFGATE_BIN or $RELAY_BIN"; exit 1; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- ports: SO_REUSEPORT lets a second listener share a busy port silently, so check first -----
port_busy() { [[ -n $(ss -Hltn "( sport = :$1 )") ]]; }
if [[ -n ${BASE_PORT:-} ]]; then
    for port in "$BASE_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)) $((BASE_PORT + 4)); do
        if port_busy "$port"; then log "port $port is in use"; exit 1; fi
    done
else
    for _ in $(seq 50); do
        BASE_PORT=$((21000 + RANDOM % 8000))
        port_busy "$BASE_PORT" || port_busy $((BASE_PORT + 1)) || port_busy $((BASE_PORT + 2)) ||
            port_busy $((BASE_PORT + 3)) || port_busy $((BASE_PORT + 4)) || break
    done
fi
BACKEND_PORT=$BASE_PORT
NGINX_PORT=$((BASE_PORT + 1))
SCFGATE_PORT=$((BASE_PORT + 2))
WEB_PORT=$((BASE_PORT + 3))
RELAY_PORT=$((BASE_PORT + 4))

# ---- processes and cleanup ---------------------------------------------------------------------
WORK=$(mktemp -d /tmp/scfgate-compare.XXXXXX)
chmod 755 "$WORK"
BACKEND_PID="" NGINX_PID="" SCFGATE_PID="" RELAY_PID="" WRK_PID=""

stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

stop_servers() {
    stop_pid "$WRK_PID"
    stop_pid "$SCFGATE_PID"
    stop_pid "$NGINX_PID"
    stop_pid "$RELAY_PID"
    stop_pid "$BACKEND_PID"
    WRK_PID="" SCFGATE_PID="" NGINX_PID="" RELAY_PID="" BACKEND_PID=""
}

cleanup() {
    local status=$?
    stop_servers
    if ((status != 0)) && [[ -s $WORK/servers.log ]]; then
        log "--- last lines of the servers' log:"
        tail -20 "$WORK/servers.log" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM

# Runs "$@" in the background pinned to CPU list $1 (empty: unpinned); sets STARTED_PID.
start_pinned() {
    local cpus=$1
    shift
    if [[ -n $cpus ]]; then
        taskset -c "$cpus" "$@" &
    else
        "$@" &
    fi
    STARTED_PID=$!
}

wait_http() {
    local url=$1
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    log "no answer from $url"
    return 1
}

# utime + stime in clock ticks of the given processes (all their threads).
cpu_ticks() {
    local total=0 pid stat
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }                   # fields from 3 (state) on; comm may contain spaces
        read -r -a fields <<<"$stat"
        total=$((total + fields[11] + fields[12]))   # fields 14 and 15
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# ---- expected bodies and configs ---------------------------------------------------------------
# Paced runs (RATE): check.lua plus a fixed wait between a connection's requests (wrk's delay()).
{
    cat "$ROOT/loadtest/check.lua"
    cat <<'EOF'

-- Paced (compare.sh RATE): every connection waits `interval_ms` between its requests.
local check_init = init
function init(args)
   check_init(args)
   interval_ms = tonumber(args[2])
end

function delay()
   return interval_ms
end
EOF
} >"$WORK/paced.lua"
INTEGRATED_JSON='{"isBase64Encoded":false,"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"world\"}"}'
printf '%s' "$INTEGRATED_JSON" >"$WORK/expected-event-backend"
printf '%s' '{"hello":"world"}' >"$WORK/expected-event-scfgate"
printf '%s' '{"hello":"world"}' >"$WORK/expected-web-backend"
printf '%s' '{"hello":"world"}' >"$WORK/expected-web-scfgate"
URL_NGINX="http://127.0.0.1:$NGINX_PORT/release/hello"
URL_SCFGATE="http://127.0.0.1:$SCFGATE_PORT/release/hello"
URL_RELAY="http://127.0.0.1:$RELAY_PORT/hello"
# Sets MODE, UPSTREAM_PORT (where the backend listens in this mode), URL_DIRECT and TARGETS.
use_mode() {
    MODE=$1
    if [[ $MODE == web ]]; then
        UPSTREAM_PORT=$WEB_PORT
        URL_DIRECT="http://127.0.0.1:$WEB_PORT/hello"
        TARGETS=(direct nginx scfgate relay)
    else
        UPSTREAM_PORT=$BACKEND_PORT
        URL_DIRECT="http://127.0.0.1:$BACKEND_PORT/release/hello"
        TARGETS=(direct nginx scfgate)
    fi
}

# shellcheck source=loadtest/nginx-proxy.sh
source "$ROOT/loadtest/nginx-proxy.sh"

cat >"$WORK/scfgate-event.toml" <<EOF
[gateway]
listen = ["127.0.0.1:$SCFGATE_PORT"]

[[service]]
id = "service-bench01"
name = "bench"
stages = ["release"]

[[service.api]]
name = "hello"
path = "/hello"
method = "GET"
function = { name = "bench" }
integrated_response = true

[[function]]
name = "bench"
runtime = "remote"
invoke_url = "http://127.0.0.1:$BACKEND_PORT/invoke"
EOF
"$SCFGATE_BIN" --config "$WORK/scfgate-event.toml" --check >/dev/null

# The web function: scfgate starts it and proxies raw HTTP to it. Its thread count is set per run
# (the same as the proxies' workers) through the environment of the scfgate process.
mkdir -p "$WORK/webfn"
cat >"$WORK/webfn/scf_bootstrap" <<EOF
#!/bin/sh
exec "$BACKEND_BIN" "127.0.0.1:\$PORT" plain "\${BENCH_BACKEND_THREADS:-1}"
EOF
chmod 755 "$WORK/webfn/scf_bootstrap"
cat >"$WORK/scfgate-web.toml" <<EOF
[gateway]
listen = ["127.0.0.1:$SCFGATE_PORT"]

[[service]]
id = "service-bench02"
name = "bench-web"
stages = ["release"]

[[service.api]]
name = "hello"
path = "/hello"
method = "GET"
function = { name = "bench-web" }

[[function]]
name = "bench-web"
runtime = "web"
code = "$WORK/webfn"
# A fixed port, so that nginx proxies to the very same process.
port = $WEB_PORT
# Room for the backend's threads: the limit counts thread stacks.
memory_limit_in_mb = 1024
EOF
"$SCFGATE_BIN" --config "$WORK/scfgate-web.toml" --check >/dev/null

# ---- placement ---------------------------------------------------------------------------------
# Sets SERVER_CPUS (the proxy under test; the backend in direct runs), BACKEND_CPUS (the backend in
# proxy runs), CLIENT_CPUS (wrk) and PLACEMENT (a sentence). Empty = unpinned.
# "a-b" as a CPU list, or "a" when a == b.
cpus() { if (($1 == $2)); then echo "$1"; else echo "$1-$2"; fi; }

place() {
    local workers=$1
    if ((NCPU >= workers + 2)); then
        local rest=$((NCPU - workers)) backend_count
        backend_count=$((rest / 2))
        SERVER_CPUS=$(cpus 0 $((workers - 1)))
        BACKEND_CPUS=$(cpus "$workers" $((workers + backend_count - 1)))
        CLIENT_CPUS=$(cpus $((workers + backend_count)) $((NCPU - 1)))
        PLACEMENT="proxy on CPUs $SERVER_CPUS, backend on $BACKEND_CPUS, wrk on $CLIENT_CPUS; direct runs: backend on $SERVER_CPUS, wrk on $CLIENT_CPUS"
    elif ((NCPU == workers + 1)); then
        SERVER_CPUS=$(cpus 0 $((workers - 1)))
        BACKEND_CPUS="$workers"
        CLIENT_CPUS="$workers"
        PLACEMENT="proxy on CPU $SERVER_CPUS; backend and wrk share CPU $CLIENT_CPUS; direct runs: backend on $SERVER_CPUS, wrk on $CLIENT_CPUS"
    else
        SERVER_CPUS="" BACKEND_CPUS="" CLIENT_CPUS=""
        PLACEMENT="not pinned: $workers proxy workers, the backend and wrk share all $NCPU CPUs"
    fi
    local client_count=$NCPU
    if [[ -n $CLIENT_CPUS ]]; then
        client_count=$((${CLIENT_CPUS#*-} - ${CLIENT_CPUS%-*} + 1))   # "a" gives a - a + 1
    elif ((NCPU > 1)); then
        client_count=$((NCPU / 2))
    fi
    WRK_THREADS_FOR=${WRK_THREADS:-$client_count}
}

pin_backend() {
    local cpus=$1
    [[ -n $cpus ]] && taskset -a -p -c "$cpus" "$BACKEND_PID" >/dev/null
    return 0
}

start_servers() {
    local workers=$1
    if [[ $MODE == web ]]; then
        # scfgate starts the backend (its web function); pinned to the backend's CPUs once found.
        export BENCH_BACKEND_THREADS=$workers
        start_pinned "$SERVER_CPUS" "$SCFGATE_BIN" --config "$WORK/scfgate-web.toml" \
            --workers "$workers" --pool-size "$UPSTREAM_KEEPALIVE" --log info $SCFGATE_ARGS
        SCFGATE_PID=$STARTED_PID
        wait_http "$URL_DIRECT"
        BACKEND_PID=$(pgrep -f "scfgate-bench-backend 127.0.0.1:$WEB_PORT" | head -1)
        [[ -n $BACKEND_PID ]] || { log "the web function's process was not found"; return 1; }
        pin_backend "$BACKEND_CPUS"
    else
        start_pinned "$BACKEND_CPUS" "$BACKEND_BIN" "127.0.0.1:$BACKEND_PORT" integrated "$workers"
        BACKEND_PID=$STARTED_PID
        start_pinned "$SERVER_CPUS" "$SCFGATE_BIN" --config "$WORK/scfgate-event.toml" --workers "$workers" --pool-size "$UPSTREAM_KEEPALIVE" --log info $SCFGATE_ARGS
        SCFGATE_PID=$STARTED_PID
    fi
    write_nginx_conf "$WORK/nginx" "$workers" "$NGINX_PORT" "$UPSTREAM_PORT" "$UPSTREAM_KEEPALIVE"
    start_pinned "$SERVER_CPUS" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"
    NGINX_PID=$STARTED_PID
    if [[ $MODE == web ]]; then
        start_pinned "$SERVER_CPUS" "$RELAY_BIN" "127.0.0.1:$RELAY_PORT" "127.0.0.1:$UPSTREAM_PORT" auto "$workers"
        RELAY_PID=$STARTED_PID
        wait_http "$URL_RELAY"
    fi
    wait_http "$URL_DIRECT"
    wait_http "$URL_NGINX"
    wait_http "$URL_SCFGATE"
}

# Process ids whose CPU time counts for a target.
target_pids() {
    case $1 in
        direct) echo "$BACKEND_PID" ;;
        nginx) echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID") ;;
        scfgate) echo "$SCFGATE_PID" ;;
        relay) echo "$RELAY_PID" ;;
    esac
}
target_url() {
    case $1 in direct) echo "$URL_DIRECT" ;; nginx) echo "$URL_NGINX" ;; scfgate) echo "$URL_SCFGATE" ;; relay) echo "$URL_RELAY" ;; esac
}
target_expected() {
    case $1 in scfgate) echo "$WORK/expected-$MODE-scfgate" ;; *) echo "$WORK/expected-$MODE-backend" ;; esac
}

verify_target() {
    local target=$1 url body sizes
    url=$(target_url "$target")
    body=$(curl -s "$url")
    if [[ $body != "$(cat "$(target_expected "$target")")" ]]; then
        log "$target answered an unexpected body: $body"
        exit 1
    fi
    sizes=$(curl -s -o /dev/null -w '%{size_header} %{size_download}' "$url")
    RESPONSE_BYTES[$MODE/$target]="${sizes% *} B head + ${sizes#* } B body"
}

# "busy total steal" clock ticks of all CPUs so far, from /proc/stat. Busy is user + nice + system
# only: with IRQ time accounting the kernel charges interrupt and softirq time (here mostly the
# loopback TCP receive path of our own traffic) to no process, so it cannot be told apart.
machine_ticks() {
    local cpu user nice system idle iowait irq softirq steal rest
    read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat
    echo "$((user + nice + system)) $((user + nice + system + idle + iowait + irq + softirq + steal)) $steal"
}

# Sets KIDS to the CPU ticks of this shell's finished children (wrk, once waited for). Call it
# directly, not in $(...): `times` in a subshell reports the subshell's own, empty, children.
children_ticks() {
    times >"$WORK/times"
    KIDS=$(awk -v hz="$CLK_TCK" 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz
    }' "$WORK/times")
}

# Runs wrk once; sets SAMPLE to "rps p50_us p99_us socket_errors non2xx mismatches cpu_s_per_M
# backend_conns other_load_percent". Not run in a subshell, so that cleanup knows WRK_PID.
#
# other_load_percent: the share of all CPUs busy with something other than this run's processes
# (the proxy, the backend, wrk) plus time stolen by the hypervisor: other work on a shared machine.
run_wrk() {
    local target=$1 connections=$2 duration=$3 threads pids before after out line conns
    local ours_before ours_after machine_before machine_after kids_before kids_after
    threads=$WRK_THREADS_FOR
    if ((threads > connections)); then threads=$connections; fi
    if [[ $target == direct ]]; then pin_backend "$SERVER_CPUS"; else pin_backend "$BACKEND_CPUS"; fi
    read -r -a pids <<<"$(target_pids "$target")"
    out=$WORK/wrk.out
    local ours=("${pids[@]}")
    [[ $target == direct ]] || ours+=("$BACKEND_PID")
    children_ticks
    kids_before=$KIDS
    machine_before=$(machine_ticks)
    ours_before=$(cpu_ticks "${ours[@]}")
    before=$(cpu_ticks "${pids[@]}")
    local script=$ROOT/loadtest/check.lua pacing=()
    if [[ -n $RATE && $duration != "$WARMUP" ]]; then
        script=$WORK/paced.lua
        pacing=("$(awk -v c="$connections" -v r="$RATE" 'BEGIN { i = int(1000 * c / r + 0.5); print (i < 1 ? 1 : i) }')")
    fi
    start_pinned "$CLIENT_CPUS" wrk -t"$threads" -c"$connections" -d"$duration" --timeout 5s \
        -s "$script" "$(target_url "$target")" -- "$(target_expected "$target")" "${pacing[@]}" >"$out" 2>&1
    WRK_PID=$STARTED_PID
    sleep "$(seconds_of "$duration" | awk '{ print $1 / 2 }')"
    # Connections to the backend owned by the process under load (wrk itself for direct runs).
    local owners=("${pids[@]}")
    [[ $target == direct ]] && owners=("$WRK_PID")
    conns=$(ss -Htnp state established "( dport = :$UPSTREAM_PORT )" |
        grep -cE "pid=($(IFS='|'; echo "${owners[*]}"))," || true)
    wait "$WRK_PID" || true
    WRK_PID=""
    after=$(cpu_ticks "${pids[@]}")
    ours_after=$(cpu_ticks "${ours[@]}")
    machine_after=$(machine_ticks)
    children_ticks
    kids_after=$KIDS
    local other
    read -r -a machine_before <<<"$machine_before"
    read -r -a machine_after <<<"$machine_after"
    other=$(awk -v busy=$((machine_after[0] - machine_before[0])) -v total=$((machine_after[1] - machine_before[1])) \
        -v steal=$((machine_after[2] - machine_before[2])) -v ours=$((ours_after - ours_before + kids_after - kids_before)) \
        'BEGIN { load = total > 0 ? 100 * (busy - ours + steal) / total : 0; if (load < 0) load = 0; printf "%.0f", load }')
    line=$(grep '^RESULT' "$out" || true)
    if [[ -z $line ]]; then
        log "wrk gave no result for $target:"
        cat "$out" >&2
        SAMPLE="0 0 0 0 0 0 0 $conns $other"
        return
    fi
    grep '^FIRST_MISMATCH' "$out" | head -1 >&2 || true
    local requests=0 duration_us=0 p50=0 p99=0 connect=0 read=0 write=0 timeout=0 non2xx=0 mismatches=0 kv
    for kv in ${line#RESULT }; do
        case ${kv%%=*} in
            requests) requests=${kv#*=} ;; duration_us) duration_us=${kv#*=} ;;
            p50_us) p50=${kv#*=} ;; p99_us) p99=${kv#*=} ;;
            connect) connect=${kv#*=} ;; read) read=${kv#*=} ;; write) write=${kv#*=} ;;
            timeout) timeout=${kv#*=} ;; non2xx) non2xx=${kv#*=} ;; mismatches) mismatches=${kv#*=} ;;
        esac
    done
    SAMPLE=$(awk -v r="$requests" -v d="$duration_us" -v p50="$p50" -v p99="$p99" \
        -v se=$((connect + read + write + timeout)) -v n="$non2xx" -v m="$mismatches" \
        -v ticks=$((after - before)) -v hz="$CLK_TCK" -v conns="$conns" -v other="$other" 'BEGIN {
            rps = d > 0 ? r / (d / 1e6) : 0
            cpu = r > 0 ? (ticks / hz) / r * 1e6 : 0
            printf "%.0f %d %d %d %d %d %.2f %d %d\n", rps, p50, p99, se, n, m, cpu, conns, other
        }')
}

# wrk's duration syntax (5s, 2m, 1h, or plain seconds) in seconds.
seconds_of() {
    case $1 in
        *h) echo $((${1%h} * 3600)) ;; *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) echo "$1" ;;
    esac
}

fmt_us() {
    awk -v us="$1" 'BEGIN { if (us < 1000) printf "%dµs", us; else printf "%.2fms", us / 1000 }'
}

# ---- the runs ----------------------------------------------------------------------------------
declare -A RPS RESPONSE_BYTES
RETRIED_TOTAL=0
ROWS=()
PLACEMENTS=()
DRIVER=""
# How busy the machine was with other work just before the runs (1-second sample of /proc/stat).
busy_percent() {
    local a b
    read -r -a a < <(head -1 /proc/stat)
    sleep 1
    read -r -a b < <(head -1 /proc/stat)
    awk -v idle=$((b[4] + b[5] - a[4] - a[5])) \
        -v total=$((b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + b[7] + b[8] - a[1] - a[2] - a[3] - a[4] - a[5] - a[6] - a[7] - a[8])) \
        'BEGIN { busy = total > 0 ? 100 * (1 - idle / total) : 0; printf "%.0f%%", busy }'
}
BUSY_BEFORE=$(busy_percent)

# Between runs our servers are idle, so a busy machine means other work: wait for it to pass, up
# to QUIET_WAIT seconds before one run and QUIET_BUDGET seconds over the whole script.
WAITED_TOTAL=0
wait_for_quiet() {
    local waited=0 busy
    while ((waited < QUIET_WAIT && WAITED_TOTAL < QUIET_BUDGET)); do
        busy=$(busy_percent)
        ((${busy%\%} <= MAX_OTHER_LOAD)) && return 0
        ((waited == 0)) && log "    machine $busy busy with other work: waiting (up to ${QUIET_WAIT}s)"
        sleep 1
        waited=$((waited + 2)) WAITED_TOTAL=$((WAITED_TOTAL + 2))
    done
    return 0
}
log "machine: $NCPU CPUs, kernel $(uname -r), $BUSY_BEFORE busy before the runs; modes: $MODES; duration $DURATION, runs $RUNS, connections: $CONNECTIONS; workers: $WORKERS"

for mode in $MODES; do
use_mode "$mode"
for workers in $WORKERS; do
    place "$workers"
    [[ $mode == "${MODES%% *}" ]] && PLACEMENTS+=("$workers worker(s): $PLACEMENT; wrk -t$WRK_THREADS_FOR")
    log ""
    log "== $mode mode, $workers worker(s): $PLACEMENT"
    start_servers "$workers" >>"$WORK/servers.log" 2>&1
    for target in "${TARGETS[@]}"; do verify_target "$target"; done
    if [[ -z $DRIVER ]]; then
        sleep 0.2
        DRIVER=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/servers.log" | grep -o 'driver=.*' | head -1 || true)
    fi
    if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
        for target in "${TARGETS[@]}"; do run_wrk "$target" 64 "$WARMUP"; done
    fi
    for connections in $CONNECTIONS; do
        declare -A SAMPLES=()
        for ((run = 1; run <= RUNS; run++)); do
            for target in "${TARGETS[@]}"; do
                # A run disturbed by other work on the machine is repeated (up to RETRIES times);
                # the least disturbed attempt counts.
                best="" best_other=101
                for ((attempt = 0; attempt <= RETRIES; attempt++)); do
                    wait_for_quiet
                    run_wrk "$target" "$connections" "$DURATION"
                    other=${SAMPLE##* }
                    log "  $mode $target workers=$workers c=$connections run $run: ${SAMPLE%% *} req/s, other load $other%"
                    if ((other < best_other)); then best=$SAMPLE best_other=$other; fi
                    ((other <= MAX_OTHER_LOAD)) && break
                    if ((attempt < RETRIES)); then
                        log "    disturbed (other load $other% > $MAX_OTHER_LOAD%): again"
                        RETRIED_TOTAL=$((RETRIED_TOTAL + 1))
                    fi
                done
                SAMPLES[$target]+="$best"$'\n'
            done
        done
        for target in "${TARGETS[@]}"; do
            # The median run by req/s (and the spread when RUNS > 1).
            sorted=$(printf '%s' "${SAMPLES[$target]}" | sort -n -k1,1)
            count=$(printf '%s\n' "$sorted" | grep -c .)
            median=$(printf '%s\n' "$sorted" | sed -n "$(((count + 1) / 2))p")
            spread="-"
            if ((count > 1)); then
                spread="$(printf '%s\n' "$sorted" | head -1 | cut -d' ' -f1)–$(printf '%s\n' "$sorted" | tail -1 | cut -d' ' -f1)"
            fi
            read -r rps p50 p99 socket_errors non2xx mismatches cpu conns other <<<"$median"
            RPS[$MODE/$target/$workers/$connections]=$rps
            ROWS+=("$MODE|$target|$workers|$connections|$rps|$spread|$(fmt_us "$p50")|$(fmt_us "$p99")|$socket_errors|$non2xx|$mismatches|$cpu|$conns|$other%")
        done
        unset SAMPLES
    done
    stop_servers
done
done

# ---- the table ---------------------------------------------------------------------------------
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "-" }'
}
table() {
    echo "| mode | target | workers | conns | req/s | req/s spread | p50 | p99 | socket errors | non-2xx | body mismatches | CPU s / M req | backend conns | other load | scfgate/nginx | scfgate/direct | scfgate/relay | relay/nginx |"
    echo "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local row mode target workers connections rest vs_nginx vs_direct vs_relay relay_vs_nginx
    for row in "${ROWS[@]}"; do
        IFS='|' read -r mode target workers connections rest <<<"$row"
        vs_nginx="" vs_direct="" vs_relay="" relay_vs_nginx=""
        if [[ $target == scfgate ]]; then
            vs_nginx=$(ratio "${RPS[$mode/scfgate/$workers/$connections]}" "${RPS[$mode/nginx/$workers/$connections]}")
            vs_direct=$(ratio "${RPS[$mode/scfgate/$workers/$connections]}" "${RPS[$mode/direct/$workers/$connections]}")
            [[ -z ${RPS[$mode/relay/$workers/$connections]:-} ]] ||
                vs_relay=$(ratio "${RPS[$mode/scfgate/$workers/$connections]}" "${RPS[$mode/relay/$workers/$connections]}")
        fi
        if [[ $target == relay ]]; then
            relay_vs_nginx=$(ratio "${RPS[$mode/relay/$workers/$connections]}" "${RPS[$mode/nginx/$workers/$connections]}")
        fi
        echo "| $mode | $target | $workers | $connections | ${rest//|/ | } | $vs_nginx | $vs_direct | $vs_relay | $relay_vs_nginx |"
    done
}

TABLE=$(table)
{
    echo "# loadtest/compare.sh results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- command: \`$COMMAND\`"
    echo "- machine: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
    echo "- CPU busy with other work in the second before the runs: $BUSY_BEFORE (of all $NCPU CPUs)"
    echo "- scfgate driver: ${DRIVER:-unknown} (from its start-up log line)"
    echo "- tools: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-3), $("$NGINX" -v 2>&1 | cut -d' ' -f3)"
    echo "- wrk: -d$DURATION --timeout 5s, keep-alive, every response checked by loadtest/check.lua; warm-up ${WARMUP} per target and worker count; median of $RUNS run(s)"
    [[ -z $RATE ]] || echo "- paced: about $RATE req/s in all (each connection waits round(1000 × connections / $RATE) ms between its requests; wrk's latency counts from each send)"
    for placement in "${PLACEMENTS[@]}"; do echo "- placement, $placement"; done
    echo "- upstream keep-alive: nginx \`keepalive $UPSTREAM_KEEPALIVE\`, scfgate \`--pool-size $UPSTREAM_KEEPALIVE\` (idle connections kept per worker; more concurrent requests than that open extra connections, closed after use)"
    for mode in $MODES; do
        echo "- $mode mode responses: direct ${RESPONSE_BYTES[$mode/direct]:-?}, nginx ${RESPONSE_BYTES[$mode/nginx]:-?}, scfgate ${RESPONSE_BYTES[$mode/scfgate]:-?}${RESPONSE_BYTES[$mode/relay]:+, relay ${RESPONSE_BYTES[$mode/relay]}}"
    done
    echo "- event mode: the backend answers the integration JSON, which nginx passes through and scfgate maps to its body \`{\"hello\":\"world\"}\`; web mode: the backend answers \`{\"hello\":\"world\"}\` itself"
    [[ " $MODES " != *" web "* ]] || echo "- relay (web mode): loadtest/relay.rs, a byte relay on scfgate's runtime set-up with as many threads as the proxies' workers, parsing nothing, one backend connection per client connection: the most any proxy can serve in this placement"
    echo "- CPU s / M req: utime+stime from /proc/PID/stat of the proxy (nginx: master and workers; direct: the backend) per million requests"
    echo "- other load: share of all CPUs used in user and system time during the run by anything but the proxy, the backend and wrk, plus hypervisor steal (other work on a shared machine). Before each run the script waited while other work kept the machine over $MAX_OTHER_LOAD% busy (${WAITED_TOTAL}s in all, of at most ${QUIET_BUDGET}s); runs above $MAX_OTHER_LOAD% were repeated up to $RETRIES times and the least disturbed attempt kept ($RETRIED_TOTAL repeats)"
    echo "- backend conns: established TCP connections from the process under load to the backend's port, halfway through the run (for the proxies: their upstream pool; for direct: wrk's)"
    echo
    echo "$TABLE"
} >"$WORK/latest.md"
mkdir -p "$(dirname "$RESULTS")"
cp "$WORK/latest.md" "$RESULTS"
echo
cat "$RESULTS"
echo
log "written to $RESULTS"
