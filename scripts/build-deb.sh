#!/usr/bin/env bash
# Builds the Debian package: target/debian/scfgate_<version>-1_<arch>.deb, from Cargo.toml's
# [package.metadata.deb] (scripts/deb.py, with dpkg-deb; nothing to install). Prints its path.
#
#   scripts/build-deb.sh                      release binaries (cargo build --release), then the package
#   PROFILE=debug scripts/build-deb.sh        the debug binaries already built (what CI checks, cheaply)
#   DEB_COMPRESSION=gzip scripts/build-deb.sh faster than the default xz
#
# Then: sudo apt install ./target/debian/scfgate_*.deb   (scripts/check-deb.sh checks a package)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
    cargo build --release --bin scfgate --bin scf-example-function >&2
elif [ "${NO_BUILD:-}" != 1 ]; then
    cargo build --bin scfgate --bin scf-example-function >&2
fi
python3 scripts/deb.py "$profile" "${DEB_COMPRESSION:-xz}"
