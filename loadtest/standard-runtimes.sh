#!/usr/bin/env bash
# What running a Tencent standard-runtime handler through scfgate costs, for a Python and a Node
# hello-world handler (loadtest/handlers/): cold start (the gateway's exec to the first answer,
# the runtime's process start and the handler's import included), warm req/s and latency with
# wrk, and the floor: the same handler called in-process in a loop by the same interpreter. The
# difference between scfgate's warm latency and the floor is what scfgate adds per invocation
# (HTTP in, event, the host's custom-runtime API round trip, the runtime's JSON, HTTP out).
#
#   loadtest/standard-runtimes.sh                 # 1 worker, 1 instance, 1 and 8 connections, 5 s
#   DURATION=10 loadtest/standard-runtimes.sh
#   SKIP_BUILD=1 SCFGATE_BIN=/path/to/scfgate loadtest/standard-runtimes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then cargo build --release --bins >&2; fi
SCFGATE_BIN=${SCFGATE_BIN:-$TARGET_DIR/release/scfgate}
for tool in wrk python3 node; do
    command -v "$tool" >/dev/null || { echo "standard-runtimes.sh: needs $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/scfgate-standard.XXXXXX)
GATEWAY_PID=""
cleanup() {
    [[ -n $GATEWAY_PID ]] && kill "$GATEWAY_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A latency quantile ("50%") of the last wrk run, in ms.
ms() { awk -v q="$1" '$1 == q { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }' "$WORK/wrk.out"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

echo "| handler | cold start (ms) | connections | req/s | p50 (ms) | p99 (ms) | in-process floor (µs/call) | scfgate adds (µs/call, p50 - floor) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for language in python node; do
    case $language in
        python) runtime=Python3.9 ;;
        node) runtime=Nodejs16.13 ;;
    esac
    port=$(free_port)
    cat >"$WORK/$language.toml" <<EOF
[gateway]
listen = ["127.0.0.1:$port"]
workers = 1
[[service]]
id = "service-bench"
name = "bench"
[[service.api]]
name = "hello"
path = "/hello"
method = "GET"
function = { name = "hello" }
[[function]]
name = "hello"
runtime = "$runtime"
code = "$ROOT/loadtest/handlers/$language"
EOF
    # Cold start: the gateway's exec to the first 200 (the runtime's process start, the
    # interpreter's start and the handler's import all on the way).
    start=$(now_ms)
    "$SCFGATE_BIN" --config "$WORK/$language.toml" --log warn >"$WORK/$language.log" 2>&1 &
    GATEWAY_PID=$!
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/release/hello" 2>/dev/null) == 200 ]]; do
        sleep 0.005
    done
    cold=$(($(now_ms) - start))
    case $language in
        python) floor=$(cd loadtest/handlers/python && python3 -c '
import time, index
context = {"request_id": "x", "function_name": "hello"}
event = {"path": "/hello", "queryString": {}}
n = 200000
start = time.perf_counter()
for _ in range(n):
    index.main_handler(event, context)
print("%.2f" % ((time.perf_counter() - start) / n * 1e6))') ;;
        node) floor=$(cd loadtest/handlers/node && node -e '
const { main_handler } = require("./index.js");
(async () => {
  const context = { request_id: "x", function_name: "hello" };
  const event = { path: "/hello", queryString: {} };
  const n = 200000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await main_handler(event, context);
  console.log((Number(process.hrtime.bigint() - start) / n / 1000).toFixed(2));
})();') ;;
    esac
    for connections in 1 8; do
        wrk -t1 -c"$connections" -d"${DURATION}s" --latency "http://127.0.0.1:$port/release/hello" >"$WORK/wrk.out"
        rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")
        p50=$(ms 50%)
        p99=$(ms 99%)
        adds=$(awk -v p="$p50" -v f="$floor" 'BEGIN { printf "%.0f", p * 1000 - f }')
        echo "| $runtime | $cold | $connections | $rps | $p50 | $p99 | $floor | $adds |"
    done
    kill "$GATEWAY_PID"
    wait "$GATEWAY_PID" 2>/dev/null || true
    GATEWAY_PID=""
done
# The same handlers under serverless-offline (the Serverless Framework's local emulator, which
# such users know), when asked: SERVERLESS_OFFLINE=1 installs serverless@3 and
# serverless-offline@13 from npm into $SLS_DIR once (a few minutes) and measures them alike.
if [[ ${SERVERLESS_OFFLINE:-0} == 1 ]]; then
    SLS_DIR=${SLS_DIR:-/tmp/scfgate-serverless-offline}
    mkdir -p "$SLS_DIR/py" "$SLS_DIR/js"
    if [[ ! -x $SLS_DIR/node_modules/.bin/serverless ]]; then
        (cd "$SLS_DIR" && npm install --no-audit --no-fund --silent serverless@3 serverless-offline@13 >&2)
    fi
    cp loadtest/handlers/python/index.py "$SLS_DIR/py/"
    cp loadtest/handlers/node/index.js "$SLS_DIR/js/"
    port=$(free_port)
    lambda_port=$(free_port)
    sed -e "s/HTTP_PORT/$port/" -e "s/LAMBDA_PORT/$lambda_port/" loadtest/handlers/serverless.yml >"$SLS_DIR/serverless.yml"
    start=$(now_ms)
    (cd "$SLS_DIR" && SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off exec node_modules/.bin/serverless offline start >"$WORK/sls.log" 2>&1) &
    GATEWAY_PID=$!
    for language in python node; do
        until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$language" 2>/dev/null) == 200 ]]; do
            sleep 0.005
        done
        cold=$(($(now_ms) - start))
        for connections in 1 8; do
            wrk -t1 -c"$connections" -d"${DURATION}s" --latency "http://127.0.0.1:$port/$language" >"$WORK/wrk.out"
            rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")
            echo "| serverless-offline $language | $cold | $connections | $rps | $(ms 50%) | $(ms 99%) | | |"
        done
        start=$(now_ms)
    done
    pkill -P "$GATEWAY_PID" 2>/dev/null || true
    kill "$GATEWAY_PID" 2>/dev/null || true
    GATEWAY_PID=""
fi
echo
echo "One gateway worker, one function instance (one invocation at a time, so 8 connections queue),"
echo "wrk on loopback. cold start: exec of scfgate (or serverless offline start) to the first 200"
echo "(curl polling every 5 ms); serverless-offline's node row counts from the python row's end."
