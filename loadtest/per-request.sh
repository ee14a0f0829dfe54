#!/usr/bin/env bash
# What one proxied request costs each proxy, in web-function mode: CPU split into user and kernel
# time, TCP segments on the machine, and (for scfgate, when `perf` can read tracepoints) io_uring
# submissions, poll arms and io_uring_enter calls. See loadtest/README.md.
#
#   loadtest/per-request.sh                  # 64 connections, 4 s, 3 alternating rounds, body checks on
#   CHECK=0 loadtest/per-request.sh          # plain wrk: no per-response Lua (a lighter client)
#   CONNECTIONS=16 ROUNDS=5 loadtest/per-request.sh
#   SCFGATE_BIN=/path/to/other/scfgate loadtest/per-request.sh   # another build, same setup
#   SCFGATE_ARGS="--ring-entries 64" loadtest/per-request.sh      # extra scfgate flags
#
# Placement as compare.sh's 1-worker runs: the proxy (1 worker) on CPU 0, the web function (one
# thread) and wrk on CPU 1. scfgate starts the function (`runtime = "web"`, fixed port); nginx
# proxies to that same process (loadtest/nginx-proxy.sh: upstream keepalive 64, HTTP/1.1, logs off). The two proxies are
# measured one after the other, ROUNDS times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
CHECK=${CHECK:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then cargo build --release --bins >&2; fi
SCFGATE_BIN=${SCFGATE_BIN:-$TARGET_DIR/release/scfgate}
BACKEND_BIN=$TARGET_DIR/release/scfgate-bench-backend
RELAY_BIN=$TARGET_DIR/release/scfgate-bench-relay
for tool in wrk nginx nstat taskset; do
    command -v "$tool" >/dev/null || { echo "per-request.sh: needs $tool (apt-get install wrk nginx-light iproute2 util-linux)" >&2; exit 1; }
done
(($(nproc) >= 2)) || { echo "per-request.sh: needs 2 CPUs" >&2; exit 1; }

WORK=$(mktemp -d /tmp/scfgate-per-request.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=loadtest/web-gateway.sh
source "$ROOT/loadtest/web-gateway.sh"
GATEWAY_PORT=$(free_port) FUNCTION_PORT=$(free_port) NGINX_PORT=$(free_port)
RELAY_PORT=$(free_port) EPOLL_RELAY_PORT=$(free_port)

write_web_gateway "$WORK" "$GATEWAY_PORT" "$FUNCTION_PORT" "$BACKEND_BIN"
# shellcheck source=loadtest/nginx-proxy.sh
source "$ROOT/loadtest/nginx-proxy.sh"
write_nginx_conf "$WORK/nginx" 1 "$NGINX_PORT" "$FUNCTION_PORT" 64
printf '%s' '{"hello":"world"}' >"$WORK/expected"

# shellcheck disable=SC2086 # SCFGATE_ARGS is a list of flags
taskset -c 0 "$SCFGATE_BIN" --config "$WORK/gateway.toml" --workers 1 --pool-size 64 ${SCFGATE_ARGS:-} >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
# The floor: a byte relay on scfgate's runtime set-up that parses nothing (loadtest/relay.rs).
taskset -c 0 "$RELAY_BIN" "127.0.0.1:$RELAY_PORT" "127.0.0.1:$FUNCTION_PORT" auto 2>"$WORK/relay.log" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
taskset -c 0 "$RELAY_BIN" "127.0.0.1:$EPOLL_RELAY_PORT" "127.0.0.1:$FUNCTION_PORT" legacy 2>"$WORK/epoll-relay.log" &
EPOLL_RELAY_PID=$!
PIDS+=("$EPOLL_RELAY_PID")
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/release/hello" && curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/hello" &&
        curl -sf -o /dev/null "http://127.0.0.1:$RELAY_PORT/hello" && curl -sf -o /dev/null "http://127.0.0.1:$EPOLL_RELAY_PORT/hello" && break
    sleep 0.1
done
FUNCTION_PID=$(pgrep -f "scfgate-bench-backend 127.0.0.1:$FUNCTION_PORT" | head -1)
[[ -n $FUNCTION_PID ]] || { echo "per-request.sh: the web function did not start; see $WORK/gateway.log" >&2; cat "$WORK/gateway.log" >&2; exit 1; }
taskset -a -p -c 1 "$FUNCTION_PID" >/dev/null

# perf can count io_uring tracepoints only with access to tracefs (root, or perf_event_paranoid <= -1).
PERF_EVENTS="io_uring:io_uring_submit_req,io_uring:io_uring_poll_arm,syscalls:sys_enter_io_uring_enter"
URING=0
if command -v perf >/dev/null && perf stat -e "$PERF_EVENTS" -p "$GATEWAY_PID" -- sleep 0.1 >/dev/null 2>&1; then URING=1; fi

ticks() { # user and system clock ticks of the given processes, summed
    local user=0 system=0 pid
    for pid in "$@"; do
        read -r -a stat <<<"$(sed 's/.*) //' "/proc/$pid/stat")"
        user=$((user + stat[11])) system=$((system + stat[12]))
    done
    echo "$user $system"
}

echo "| proxy | round | req/s | CPU µs/req | user µs/req | kernel µs/req | TCP segments/req | io_uring SQEs/req | poll arms/req | requests per io_uring_enter |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
HZ=$(getconf CLK_TCK)
measure() { # name url pids...
    local name=$1 url=$2 round=$3
    shift 3
    local script=() tail=()
    if [[ $CHECK == 1 ]]; then script=(-s "$ROOT/loadtest/check.lua") tail=(-- "$WORK/expected"); fi
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d1s "${script[@]}" "$url" "${tail[@]}" >/dev/null
    local before after
    before=$(ticks "$@")
    nstat -n
    local counter=""
    if [[ $name == "scfgate, io_uring counted" ]]; then
        perf stat -x, -e "$PERF_EVENTS" -p "$GATEWAY_PID" -o "$WORK/uring" -- sleep "$DURATION" &
        counter=$!
    fi
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${script[@]}" "$url" "${tail[@]}" >"$WORK/wrk.out"
    [[ -z $counter ]] || wait "$counter"
    after=$(ticks "$@")
    local segments requests rps
    segments=$(nstat -z TcpOutSegs | awk '/TcpOutSegs/ { print $2 }')
    requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
    rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")
    if [[ $CHECK == 1 ]] && ! grep -q "mismatches=0" "$WORK/wrk.out"; then
        echo "per-request.sh: $name answered something other than the function's body:" >&2
        cat "$WORK/wrk.out" >&2
        exit 1
    fi
    local uring="| | |"
    if [[ -n $counter ]]; then
        # perf counted for DURATION seconds, wrk's run as well; scale by wrk's rate.
        uring=$(awk -F, -v n="$rps" -v d="$DURATION" '
            /submit_req/ { submitted = $1 } /poll_arm/ { arms = $1 } /io_uring_enter/ { enters = $1 }
            END { printf "%.2f | %.2f | %.1f |", submitted / (n * d), arms / (n * d), (n * d) / enters }' "$WORK/uring")
    fi
    read -r user0 system0 <<<"$before"
    read -r user1 system1 <<<"$after"
    awk -v name="$name" -v round="$round" -v rps="$rps" -v n="$requests" -v u=$((user1 - user0)) -v s=$((system1 - system0)) \
        -v hz="$HZ" -v seg="$segments" -v uring="$uring" 'BEGIN {
        us = 1e6 / hz / n
        printf "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %s\n", name, round, rps, (u + s) * us, u * us, s * us, seg / n, uring
    }'
}
for round in $(seq "$ROUNDS"); do
    measure scfgate "http://127.0.0.1:$GATEWAY_PORT/release/hello" "$round" "$GATEWAY_PID"
    # shellcheck disable=SC2046
    measure nginx "http://127.0.0.1:$NGINX_PORT/hello" "$round" "$NGINX_PID" $(pgrep -P "$NGINX_PID")
    measure "relay, io_uring" "http://127.0.0.1:$RELAY_PORT/hello" "$round" "$RELAY_PID"
    measure "relay, epoll" "http://127.0.0.1:$EPOLL_RELAY_PORT/hello" "$round" "$EPOLL_RELAY_PID"
done
# Counting tracepoints costs the counted process CPU: a separate run, not one of the rounds above.
if [[ $URING == 1 ]]; then
    measure "scfgate, io_uring counted" "http://127.0.0.1:$GATEWAY_PORT/release/hello" 0 "$GATEWAY_PID"
fi
echo
echo "CPU: utime and stime of the proxy's processes over wrk's run, per request. TCP segments: the machine's TcpOutSegs"
echo "(all four hops of a request; 4.00 is the least: request and response on each connection). relay: loadtest/relay.rs,"
echo "a byte relay on scfgate's runtime set-up (1 worker; io_uring as scfgate, or epoll) that parses nothing: the floor of"
echo "any proxy here. io_uring: perf"
echo "tracepoints on scfgate, in a run of its own (round 0; counting slows it). Body checks: $([[ $CHECK == 1 ]] && echo "every response's body checked by check.lua" || echo "off (plain wrk)")."
