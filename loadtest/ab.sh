#!/usr/bin/env bash
# Two scfgate builds side by side: CPU per request (user and kernel) of each, in alternating
# rounds, in web-function mode (1 worker on CPU 0; its function and wrk on CPU 1), as
# loadtest/per-request.sh measures one. Both run for the whole comparison, so a change in the
# machine's speed lands on both alike.
#
#   OLD_BIN=/tmp/scfgate-before loadtest/ab.sh                 # against target/release/scfgate
#   OLD_BIN=... NEW_BIN=... ROUNDS=6 NEW_ARGS="--park-after 60 --idle-timeout 60" loadtest/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OLD_BIN=${OLD_BIN:?set OLD_BIN to the build to compare with}
NEW_BIN=${NEW_BIN:-$TARGET_DIR/release/scfgate}
BACKEND_BIN=$TARGET_DIR/release/scfgate-bench-backend
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-4}
for tool in wrk taskset curl python3; do
    command -v "$tool" >/dev/null || { echo "ab.sh: needs $tool" >&2; exit 1; }
done
[[ -x $BACKEND_BIN ]] || { echo "ab.sh: build first (cargo build --release --bins)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/scfgate-ab.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=loadtest/web-gateway.sh
source "$ROOT/loadtest/web-gateway.sh"

start() { # name binary extra-args: starts a gateway with a web function of its own; prints its pid and ports
    local name=$1 binary=$2 args=$3 port function_port
    port=$(free_port) function_port=$(free_port)
    write_web_gateway "$WORK/$name" "$port" "$function_port" "$BACKEND_BIN"
    # shellcheck disable=SC2086 # args is a list of flags
    taskset -c 0 "$binary" --config "$WORK/$name/gateway.toml" --workers 1 --pool-size 64 $args >"$WORK/$name/log" 2>&1 &
    echo "$! $port $function_port"
}
read -r OLD_PID OLD_PORT OLD_FN <<<"$(start old "$OLD_BIN" "${OLD_ARGS:-}")"
PIDS+=("$OLD_PID")
read -r NEW_PID NEW_PORT NEW_FN <<<"$(start new "$NEW_BIN" "${NEW_ARGS:-}")"
PIDS+=("$NEW_PID")
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$OLD_PORT/release/hello" && curl -sf -o /dev/null "http://127.0.0.1:$NEW_PORT/release/hello" && break
    sleep 0.1
done
for function_port in "$OLD_FN" "$NEW_FN"; do
    pid=$(pgrep -f "scfgate-bench-backend 127.0.0.1:$function_port" | head -1)
    [[ -n $pid ]] || { echo "ab.sh: a web function did not start; see $WORK/*/log" >&2; exit 1; }
    taskset -a -p -c 1 "$pid" >/dev/null
done

HZ=$(getconf CLK_TCK)
echo "| build | round | req/s | CPU µs/req | user µs/req | kernel µs/req |"
echo "|---|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
    for build in old new; do
        if [[ $build == old ]]; then pid=$OLD_PID port=$OLD_PORT; else pid=$NEW_PID port=$NEW_PORT; fi
        url="http://127.0.0.1:$port/release/hello"
        taskset -c 1 wrk -t1 -c64 -d1s "$url" >/dev/null
        read -r -a before <<<"$(sed 's/.*) //' "/proc/$pid/stat")"
        taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "$url" >"$WORK/wrk.out"
        read -r -a after <<<"$(sed 's/.*) //' "/proc/$pid/stat")"
        requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
        python3 - "$build" "$round" "$requests" "$DURATION" "$HZ" \
            "$((after[11] - before[11]))" "$((after[12] - before[12]))" <<'PY'
import sys
build, round_, requests, duration, hz, user, kernel = sys.argv[1:]
requests, hz = int(requests), int(hz)
user_us, kernel_us = int(user) * 1e6 / hz / requests, int(kernel) * 1e6 / hz / requests
print(f"| {build} | {round_} | {requests / float(duration):,.0f} | {user_us + kernel_us:.2f} | {user_us:.2f} | {kernel_us:.2f} |")
PY
    done
done
