#!/usr/bin/env bash
# The project's test command (CI runs exactly this): unit and integration tests against the real
# binary and real function processes, plus clippy with warnings denied.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-debian.sh
export CARGO_TERM_COLOR=never
cargo build --bins
# The web console in headless Chromium, against the binaries just built (scripts/console-e2e.sh).
bash scripts/console-e2e.sh
cargo test --all-targets
cargo clippy --all-targets -- -D warnings
# Every fuzz target, built and run briefly on its seed corpus (longer runs: see README).
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" bash scripts/fuzz.sh
