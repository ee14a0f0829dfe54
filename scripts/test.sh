#!/usr/bin/env bash
# The project's test command (CI runs exactly this): formatting (rustfmt.toml), the Debian
# package's contents, unit and integration tests against the real binary and real function
# processes, clippy with warnings denied, and a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-debian.sh
export CARGO_TERM_COLOR=never
# Formatting first: it takes a second. `cargo fmt --all` (and in fuzz/) fixes what it reports.
cargo fmt --all --check
(cd fuzz && cargo fmt --check)
# Imports point one way (issue 20): any cycle among the modules of src/ fails.
python3 scripts/check-import-cycles.py
# No source file over 900 lines (the developers' guide): a file that grows past it is split.
long=$(find src -name '*.rs' -exec wc -l {} + | awk '$2 != "total" && $1 > 900 { print $2 " (" $1 " lines)" }')
if [[ -n $long ]]; then echo "over 900 lines, split them: $long" >&2; exit 1; fi
cargo build --bins
# The Debian package, from the debug binaries just built (gzip: seconds), and what it holds: the
# unit verified with systemd-analyze, the packaged gateway serving its packaged function.
PROFILE=debug NO_BUILD=1 DEB_COMPRESSION=gzip bash scripts/build-deb.sh >/dev/null
bash scripts/check-deb.sh
# The web console in headless Chromium, against the binaries just built (scripts/console-e2e.sh).
bash scripts/console-e2e.sh
cargo test --all-targets
cargo clippy --all-targets -- -D warnings
# Every fuzz target, built and run briefly on its seed corpus (longer runs: see README).
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" bash scripts/fuzz.sh
