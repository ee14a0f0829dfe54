#!/usr/bin/env bash
# Builds scfgate and the example function, then serves examples/hello on http://127.0.0.1:8080,
# with the web console on http://127.0.0.1:9180/.
# Extra arguments go to scfgate (e.g. --workers 1, --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-debian.sh
cargo build --release --bins
# The web console and admin API on loopback (no token there), over a fresh state directory each
# run, seeded from examples/hello/scfgate.toml, so edits to the file always show.
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/scfgate-example-state.XXXXXX")
echo "Try: curl -i http://127.0.0.1:8080/release/hello/alice   (Ctrl-C stops the gateway and its functions)"
echo "Console: http://127.0.0.1:9180/   (state for this run in $state_dir)"
exec ./target/release/scfgate --config examples/hello/scfgate.toml --admin-listen 127.0.0.1:9180 --state-dir "$state_dir" "$@"
