#!/usr/bin/env bash
# The web console's end-to-end tests (tests/console): headless Chromium driven by playwright-core
# against target/debug/scfgate and the example function. Builds nothing: run `cargo build --bins`
# first. scripts/setup-debian.sh installs chromium, node and npm; when chromium still cannot be
# found (no apt, no package), the tests are skipped with a loud message, or fail with
# REQUIRE_CONSOLE_E2E=1. Node or npm missing is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium_path="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$chromium_path" ] || [ ! -x "$chromium_path" ]; then
  {
    echo "################################################################################"
    echo "# SKIPPED: the web console's end-to-end tests (tests/console)."
    echo "# No chromium was found and it could not be installed (Debian: apt-get install"
    echo "# chromium), or set CHROMIUM=/path/to/chromium."
    echo "################################################################################"
  } >&2
  [ "${REQUIRE_CONSOLE_E2E:-0}" = "1" ] && exit 1
  exit 0
fi
command -v node >/dev/null 2>&1 || { echo "console e2e: node is missing (Debian: apt-get install nodejs)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "console e2e: npm is missing (Debian: apt-get install npm)" >&2; exit 1; }

cd tests/console
# The lock file pins playwright-core; `npm ci` installs exactly it (no browser download: the
# tests use the system's chromium).
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
echo "console e2e: $("$chromium_path" --version 2>/dev/null || echo "$chromium_path"), node $(node --version)"
CHROMIUM="$chromium_path" npm test
