#!/usr/bin/env bash
# Builds scfgate and the example function, then serves examples/hello on http://127.0.0.1:8080.
# Extra arguments go to scfgate (e.g. --workers 1, --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-debian.sh
cargo build --release --bins
echo "Try: curl -i http://127.0.0.1:8080/release/hello/alice   (Ctrl-C stops the gateway and its functions)"
exec ./target/release/scfgate --config examples/hello/scfgate.toml "$@"
