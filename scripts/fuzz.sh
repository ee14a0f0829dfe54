#!/usr/bin/env bash
# Builds every fuzz target and runs each for FUZZ_SECONDS (default 10) on a copy of its seed
# corpus. CI runs this; for long runs: FUZZ_SECONDS=3600 scripts/fuzz.sh [target]
# Stable Rust: built with `--sanitizer none` (coverage-guided libFuzzer without ASan, which
# needs nightly); panics and failed assertions are what the targets check.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-10}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_request route_match integrated_response request_reader websocket_frames tencentcloud_reply)
cargo fuzz build -s none
for target in "${targets[@]}"; do
  corpus=$(mktemp -d)
  cp -r "seeds/$target/." "$corpus/" 2>/dev/null || true
  echo "fuzz: $target for ${seconds}s"
  log=$(mktemp)
  if ! cargo fuzz run -s none "$target" "$corpus" -- -max_total_time="$seconds" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "^Done" "$log" || true
  rm -rf "$corpus" "$log"
done
