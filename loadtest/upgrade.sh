#!/usr/bin/env bash
# Binary upgrades under load: wrk against the bundled example (examples/hello: local functions)
# while `scfgate --upgrade` runs every few seconds, each handing the listening sockets to a new
# process. Says whether any connection was refused, reset or timed out, whether any answer was
# not the expected 200, and whether every replaced process exited; prints how long each upgrade
# took and how many requests were served. See "Running in production" in README.md.
#
#   loadtest/upgrade.sh                          # 64 connections, 20 s, an upgrade every 5 s
#   DURATION=60 EVERY=10 loadtest/upgrade.sh
#
# An upgrade's times come from the gateways' log: `seconds` on "the new process serves" is from
# the SIGUSR2 to the new process serving (it has started its functions and they are ready), and
# on "every connection of this process has closed" from then to the old process's last
# connection closing (each closes after its next response). `--upgrade`'s own wall time is
# printed beside them.
#
# Verdict (exit 0 only when all hold): wrk reports no socket error (connect, read, write,
# timeout: wrk's default 2 s), every response is a 200 with the expected body, every upgrade
# succeeded, and every replaced process has exited.
#
# Environment: DURATION (seconds; default 20), EVERY (seconds between upgrades; default 5),
# CONNECTIONS (default 64), THREADS (wrk's; default 2), PORT (default 18490), SKIP_BUILD=1 (use
# the binaries in target/release), UPGRADE_DIR (logs; default a new temporary folder, kept).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-20}
EVERY=${EVERY:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18490}
UPGRADE_DIR=${UPGRADE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/scfgate-upgrade.XXXXXX")}
mkdir -p "$UPGRADE_DIR"
BASE=http://127.0.0.1:$PORT
PID_FILE=$UPGRADE_DIR/scfgate.pid

log() { printf '%s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "wrk is not installed (apt-get install wrk)"; exit 1; }
command -v curl >/dev/null || { log "curl is not installed (apt-get install curl)"; exit 1; }
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries (cargo build --release --bin scfgate --bin scf-example-function)"
    cargo build --release --bin scfgate --bin scf-example-function
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SCFGATE_BIN=$TARGET_DIR/release/scfgate
[[ -x $SCFGATE_BIN && -x $TARGET_DIR/release/scf-example-function ]] || { log "missing release binaries in $TARGET_DIR/release"; exit 1; }
if curl -s -o /dev/null --max-time 2 "$BASE/"; then
    log "something already answers on 127.0.0.1:$PORT; set PORT to a free port"
    exit 1
fi

# ---- cleanup: whichever process serves at the end --------------------------------------------
WRK_PID=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [[ -n $WRK_PID ]] && kill "$WRK_PID" 2>/dev/null || true
    if [[ -f $PID_FILE ]]; then
        local pid
        pid=$(cat "$PID_FILE")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the gateway: the example, its per-request function lines left out of the log ------------
ulimit -n 65536 2>/dev/null || true
PATH="$TARGET_DIR/release:$PATH" "$SCFGATE_BIN" --config examples/hello/scfgate.toml --listen "127.0.0.1:$PORT" \
    --pid-file "$PID_FILE" \
    > >(grep --line-buffered -v 'scf-example-function\[[a-z-]*\] request_id=' >"$UPGRADE_DIR/scfgate.log") 2>&1 &
for _ in $(seq 1 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/release/hello/upgrade" || true) == 200 ]] && break
    sleep 0.1
done
[[ -f $PID_FILE ]] || { log "scfgate did not start; its log:"; cat "$UPGRADE_DIR/scfgate.log" >&2; exit 1; }
FIRST=$(cat "$PID_FILE")
log "upgrade: ${DURATION}s of wrk -t$THREADS -c$CONNECTIONS against $BASE, an upgrade every ${EVERY}s (gateway pid $FIRST, $(nproc) cores); logs in $UPGRADE_DIR"

# ---- load, and an upgrade every EVERY seconds ------------------------------------------------
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s loadtest/wrk-hello.lua "$BASE" >"$UPGRADE_DIR/wrk.txt" 2>&1 &
WRK_PID=$!
start=$SECONDS
replaced=()
failures=()
printf '%6s %8s %8s %12s\n' "t (s)" "old pid" "new pid" "--upgrade (s)" | tee "$UPGRADE_DIR/upgrades.txt"
next=$EVERY
while ((next < DURATION)); do
    while ((SECONDS - start < next)); do sleep 0.1; done
    old=$(cat "$PID_FILE")
    began=$(date +%s.%N)
    if ! "$SCFGATE_BIN" --config examples/hello/scfgate.toml --upgrade --pid-file "$PID_FILE" >>"$UPGRADE_DIR/upgrade-cli.txt" 2>&1; then
        failures+=("the upgrade at ${next}s failed: $(tail -n1 "$UPGRADE_DIR/upgrade-cli.txt")")
    fi
    ended=$(date +%s.%N)
    new=$(cat "$PID_FILE")
    replaced+=("$old")
    printf '%6d %8d %8d %12.3f\n' "$next" "$old" "$new" "$(awk -v a="$began" -v b="$ended" 'BEGIN { print b - a }')" |
        tee -a "$UPGRADE_DIR/upgrades.txt"
    next=$((next + EVERY))
done
wait "$WRK_PID" || true
WRK_PID=""

# ---- verdict ----------------------------------------------------------------------------------
for pid in "${replaced[@]}"; do
    for _ in $(seq 1 400); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && failures+=("replaced process $pid has not exited")
done
echo
cat "$UPGRADE_DIR/wrk.txt"
echo
echo "per upgrade, from the log (SIGUSR2 -> the new process serves; then -> the old one's last connection closed):"
grep -Eo 'the new process serves; draining this one new_pid=[0-9]+ seconds=[0-9.]+' "$UPGRADE_DIR/scfgate.log" |
    sed -E 's/.*new_pid=([0-9]+) seconds=([0-9.]+)/  new pid \1: serving after \2 s/'
grep -Eo 'every connection of this process has closed seconds=[0-9.]+' "$UPGRADE_DIR/scfgate.log" |
    sed -E 's/.*seconds=([0-9.]+)/  an old process drained in \1 s/'
grep -q 'Socket errors' "$UPGRADE_DIR/wrk.txt" && failures+=("wrk: $(grep 'Socket errors' "$UPGRADE_DIR/wrk.txt" | xargs)")
summary=$(grep '^say-hello:' "$UPGRADE_DIR/wrk.txt" || true)
[[ -n $summary ]] || failures+=("no summary from wrk")
[[ $summary == *"non-200: 0, unexpected bodies: 0"* ]] || failures+=("unexpected answers: $summary")
echo
if ((${#failures[@]})); then
    printf 'FAILED: %s\n' "${failures[@]}"
    exit 1
fi
echo "OK: ${#replaced[@]} upgrades, $(awk '/ requests in /{print $1}' "$UPGRADE_DIR/wrk.txt") requests, no socket error, every answer a 200 with the expected body, every replaced process exited"
