#!/usr/bin/env bash
# Soak: a bounded run of mixed traffic against the bundled example (examples/hello), with function
# crashes injected, recording the gateway's resident memory and open descriptors over time, then
# saying whether they stayed flat after warm-up. See "Reliability" in README.md.
#
#   loadtest/soak.sh                     # 10 minutes
#   QUICK=1 loadtest/soak.sh             # about 60 s
#   DURATION=3600 loadtest/soak.sh       # an hour
#
# Traffic, all at once for DURATION seconds:
#   wrk -s loadtest/wrk-hello.lua   GET  /release/hello/<name>   (integrated response, hello function)
#   wrk -s loadtest/wrk-echo.lua    POST /release/echo           (pass-through, echo function)
#   curl '/release/echo?scf_crash=1' every CRASH_EVERY seconds: the echo instance that takes it
#        exits without answering; that request must get a 502 and the instance is restarted.
# Every INTERVAL seconds: the gateway's VmRSS (/proc/<pid>/status), its open descriptors
# (ls /proc/<pid>/fd | wc -l) and its live function processes, printed as a table.
#
# Verdict (exit 0 only when all hold):
#   - RSS flat after warm-up: over the samples taken after WARMUP seconds, max - min is within
#     RSS_TOLERANCE_PCT percent of the minimum, or RSS_TOLERANCE_MIB MiB if that is larger;
#   - descriptors flat after warm-up: max - min within FD_TOLERANCE;
#   - wrk saw no socket errors and no unexpected response (status or body);
#   - every injected crash was answered 502, and the functions are all running at the end.
#
# Environment: DURATION (seconds; default 600, 60 with QUICK=1), INTERVAL (default 10), WARMUP
# (default 60, 20 with QUICK=1), CRASH_EVERY (default 15, 10 with QUICK=1), CONNECTIONS (per wrk;
# default 16), PORT (default 18480), RSS_TOLERANCE_PCT (default 10), RSS_TOLERANCE_MIB (default 4),
# FD_TOLERANCE (default 8), SKIP_BUILD=1 (use the binaries in target/release), SOAK_DIR (logs;
# default a new temporary folder, kept).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    DURATION=${DURATION:-60}
    WARMUP=${WARMUP:-20}
    CRASH_EVERY=${CRASH_EVERY:-10}
else
    DURATION=${DURATION:-600}
    WARMUP=${WARMUP:-60}
    CRASH_EVERY=${CRASH_EVERY:-15}
fi
INTERVAL=${INTERVAL:-10}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18480}
RSS_TOLERANCE_PCT=${RSS_TOLERANCE_PCT:-10}
RSS_TOLERANCE_MIB=${RSS_TOLERANCE_MIB:-4}
FD_TOLERANCE=${FD_TOLERANCE:-8}
SOAK_DIR=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/scfgate-soak.XXXXXX")}
mkdir -p "$SOAK_DIR"
BASE=http://127.0.0.1:$PORT

log() { printf '%s\n' "$*" >&2; }

# ---- tools and binaries ------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    SUDO=""
    ((EUID == 0)) || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries (cargo build --release --bins)"
    cargo build --release --bins
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SCFGATE_BIN=$TARGET_DIR/release/scfgate
FUNCTION_BIN=$TARGET_DIR/release/scf-example-function
[[ -x $SCFGATE_BIN && -x $FUNCTION_BIN ]] || { log "missing $SCFGATE_BIN or $FUNCTION_BIN"; exit 1; }
if curl -s -o /dev/null --max-time 2 "$BASE/"; then
    log "something already answers on 127.0.0.1:$PORT; set PORT to a free port"
    exit 1
fi

# ---- cleanup: every process this script started ------------------------------------------------
GATEWAY_PID=""
BACKGROUND=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${BACKGROUND[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
        # SIGTERM: the gateway stops its function processes and exits.
        kill -TERM "$GATEWAY_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$GATEWAY_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$GATEWAY_PID" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the gateway ---------------------------------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# The example function logs a line per invocation (millions here): those stay out of the log.
# The example's bootstraps find scf-example-function on the PATH the gateway passes on.
PATH="$TARGET_DIR/release:$PATH" "$SCFGATE_BIN" --config examples/hello/scfgate.toml --listen "127.0.0.1:$PORT" \
    > >(grep --line-buffered -v '^scf-example-function\[[a-z-]*\] request_id=' >"$SOAK_DIR/scfgate.log") 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 1 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/release/hello/soak" || true) == 200 ]] && break
    kill -0 "$GATEWAY_PID" 2>/dev/null || { log "scfgate exited; its log:"; cat "$SOAK_DIR/scfgate.log" >&2; exit 1; }
    sleep 0.1
done
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/release/hello/soak") == 200 ]] || {
    log "scfgate does not answer on $BASE"
    exit 1
}
# The example runs 2 instances of each of its 2 functions.
FUNCTIONS_EXPECTED=4

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$GATEWAY_PID/status"; }
fds() { ls "/proc/$GATEWAY_PID/fd" | wc -l; }
# Live (not zombie) function processes, children of the gateway (so is the log filter above).
functions() { ps --ppid "$GATEWAY_PID" -o stat=,comm= | awk '$1 !~ /^Z/ && $2 ~ /^scf-example-fun/' | wc -l; }

log "soak: ${DURATION}s against $BASE (gateway pid $GATEWAY_PID, $(nproc) cores), 2 x wrk -c$CONNECTIONS," \
    "a crash every ${CRASH_EVERY}s, samples every ${INTERVAL}s, warm-up ${WARMUP}s; logs in $SOAK_DIR"

# ---- traffic -------------------------------------------------------------------------------------
REST_FDS_BEFORE=$(fds)
REST_RSS_BEFORE=$(rss_kib)
# wrk runs a few seconds past the last sample, so that every sample is taken under load.
WRK_DURATION=$((DURATION + 5))
wrk -t1 -c"$CONNECTIONS" -d"${WRK_DURATION}s" --timeout 10s -s loadtest/wrk-hello.lua "$BASE" >"$SOAK_DIR/wrk-hello.txt" 2>&1 &
BACKGROUND+=($!)
WRK_PIDS=($!)
wrk -t1 -c"$CONNECTIONS" -d"${WRK_DURATION}s" --timeout 10s -s loadtest/wrk-echo.lua "$BASE" >"$SOAK_DIR/wrk-echo.txt" 2>&1 &
BACKGROUND+=($!)
WRK_PIDS+=($!)
(
    while sleep "$CRASH_EVERY"; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$BASE/release/echo?scf_crash=1" || echo "curl-failed"
    done
) >"$SOAK_DIR/crashes.txt" 2>&1 &
BACKGROUND+=($!)
CRASHER_PID=$!

# ---- samples -------------------------------------------------------------------------------------
declare -a SAMPLE_T SAMPLE_RSS SAMPLE_FDS
printf '%8s %12s %10s %6s %10s %8s\n' "t (s)" "RSS (KiB)" "RSS (MiB)" "fds" "functions" "crashes" | tee "$SOAK_DIR/samples.txt"
start=$SECONDS
sample() {
    local t=$((SECONDS - start)) rss fd fn crashes
    rss=$(rss_kib)
    fd=$(fds)
    fn=$(functions)
    crashes=$(grep -c . "$SOAK_DIR/crashes.txt" || true)
    SAMPLE_T+=("$t")
    SAMPLE_RSS+=("$rss")
    SAMPLE_FDS+=("$fd")
    printf '%8d %12d %10.1f %6d %10d %8d\n' "$t" "$rss" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$fd" "$fn" "$crashes" |
        tee -a "$SOAK_DIR/samples.txt"
}
next=0
while ((next <= DURATION)); do
    while ((SECONDS - start < next)); do sleep 0.2; done
    kill -0 "$GATEWAY_PID" 2>/dev/null || { log "scfgate exited during the soak; see $SOAK_DIR/scfgate.log"; exit 1; }
    sample
    next=$((next + INTERVAL))
done
kill "$CRASHER_PID" 2>/dev/null || true
for pid in "${WRK_PIDS[@]}"; do wait "$pid" || true; done
sleep 1
REST_FDS_AFTER=$(fds)
REST_RSS_AFTER=$(rss_kib)

# ---- verdict -------------------------------------------------------------------------------------
failures=()
after_rss=()
after_fds=()
for i in "${!SAMPLE_T[@]}"; do
    if ((SAMPLE_T[i] >= WARMUP)); then
        after_rss+=("${SAMPLE_RSS[i]}")
        after_fds+=("${SAMPLE_FDS[i]}")
    fi
done
if ((${#after_rss[@]} < 2)); then
    failures+=("fewer than 2 samples after the ${WARMUP}s warm-up: run longer")
else
    read -r rss_min rss_max < <(printf '%s\n' "${after_rss[@]}" | sort -n | awk 'NR == 1 { min = $1 } { max = $1 } END { print min, max }')
    read -r fd_min fd_max < <(printf '%s\n' "${after_fds[@]}" | sort -n | awk 'NR == 1 { min = $1 } { max = $1 } END { print min, max }')
    rss_allowed=$((rss_min * RSS_TOLERANCE_PCT / 100))
    ((rss_allowed >= RSS_TOLERANCE_MIB * 1024)) || rss_allowed=$((RSS_TOLERANCE_MIB * 1024))
    rss_spread=$((rss_max - rss_min))
    fd_spread=$((fd_max - fd_min))
    echo
    echo "after warm-up (${#after_rss[@]} samples from t=${WARMUP}s): RSS ${rss_min}-${rss_max} KiB (spread ${rss_spread} KiB," \
        "allowed ${rss_allowed} KiB = max(${RSS_TOLERANCE_PCT}% of the minimum, ${RSS_TOLERANCE_MIB} MiB));" \
        "descriptors ${fd_min}-${fd_max} (spread ${fd_spread}, allowed ${FD_TOLERANCE})"
    ((rss_spread <= rss_allowed)) || failures+=("RSS grew by ${rss_spread} KiB after warm-up (allowed ${rss_allowed} KiB)")
    ((fd_spread <= FD_TOLERANCE)) || failures+=("open descriptors moved by ${fd_spread} after warm-up (allowed ${FD_TOLERANCE})")
fi

echo "at rest (no client connected): before the traffic ${REST_RSS_BEFORE} KiB, ${REST_FDS_BEFORE} descriptors;" \
    "after it ${REST_RSS_AFTER} KiB, ${REST_FDS_AFTER} descriptors (pooled connections to the functions stay open)"

echo
for name in hello echo; do
    summary=$(grep -E '^(say-hello|echo-event):' "$SOAK_DIR/wrk-$name.txt" || echo "wrk-$name: no summary")
    errors=$(grep -E 'Socket errors' "$SOAK_DIR/wrk-$name.txt" || true)
    rate=$(awk '/^Requests\/sec:/ { print $2 }' "$SOAK_DIR/wrk-$name.txt")
    echo "$summary, ${rate:-?} req/s${errors:+; $errors}"
    [[ -z $errors ]] || failures+=("wrk-$name: $errors")
    grep -q 'non-200: 0, unexpected bodies: 0' <<<"$summary" || failures+=("wrk-$name: $summary")
done
crashes=$(grep -c . "$SOAK_DIR/crashes.txt" || true)
crash_502=$(grep -c '^502$' "$SOAK_DIR/crashes.txt" || true)
echo "injected crashes: $crashes, answered 502: $crash_502"
((crashes > 0)) || failures+=("no crash was injected (DURATION shorter than CRASH_EVERY?)")
((crash_502 == crashes)) || failures+=("injected crashes answered: $(sort "$SOAK_DIR/crashes.txt" | uniq -c | tr -s ' \n' ' ')")
# The last crash's instance may still be restarting: wait (bounded) for all of them.
for _ in $(seq 1 100); do
    (($(functions) == FUNCTIONS_EXPECTED)) && break
    sleep 0.1
done
running=$(functions)
echo "function processes running at the end: $running (expected $FUNCTIONS_EXPECTED)"
((running == FUNCTIONS_EXPECTED)) ||
    failures+=("$running function processes running at the end, expected $FUNCTIONS_EXPECTED: $(ps --ppid "$GATEWAY_PID" -o pid=,stat=,args= | tr -s ' \n' ' ')")
if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/release/hello/after") != 200 ]]; then
    failures+=("the gateway does not answer after the soak")
fi

echo
if ((${#failures[@]})); then
    echo "SOAK FAILED:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "SOAK OK: RSS and descriptors flat after warm-up, no errors (logs: $SOAK_DIR)"
