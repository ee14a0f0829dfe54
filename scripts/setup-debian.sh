#!/usr/bin/env bash
# Installs what building and testing scfgate needs on a fresh Debian/Ubuntu machine:
# a C compiler (mimalloc, ring), protoc (etcd-client's build compiles etcd's API), curl (Tencent's bash bootstrap in the tests), python3 (the
# tests' careless web function and standard-library servers, scripts/deb.py), Rust, and
# chromium, node and npm for the web console's end-to-end tests, wrk for the upgrades under
# load (tests/upgrade.rs) and systemd's systemd-analyze to verify the packaged unit
# (scripts/check-deb.sh): the tests that need one of these skip loudly without it.
# Safe to run again: it only installs what is missing.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v protoc >/dev/null 2>&1 || [ -n "${PROTOC:-}" ] || need_apt+=(protobuf-compiler)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Not needed to build, each for some tests that say loudly when they skip without it: the web
# console's end-to-end tests (Debian's chromium, node/npm for playwright-core), the upgrades
# under load (wrk), the packaged unit's check (systemd-analyze, from systemd), cluster mode
# (tests/cluster.rs: etcd-server, redis-server).
need_optional=()
command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ] || need_optional+=(chromium)
command -v node >/dev/null 2>&1 || need_optional+=(nodejs)
command -v npm >/dev/null 2>&1 || need_optional+=(npm)
command -v wrk >/dev/null 2>&1 || need_optional+=(wrk)
command -v systemd-analyze >/dev/null 2>&1 || need_optional+=(systemd)
command -v etcd >/dev/null 2>&1 || need_optional+=(etcd-server)
command -v redis-server >/dev/null 2>&1 || need_optional+=(redis-server)
if [ ${#need_optional[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "setup: installing ${need_optional[*]} with apt-get (console end-to-end tests, upgrades under load, the unit's check, cluster mode)"
    { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_optional[@]}" >/dev/null; } \
      || echo "setup: WARNING: could not install ${need_optional[*]}; the tests that need them will be skipped" >&2
  else
    echo "setup: WARNING: no apt-get to install ${need_optional[*]}; the tests that need them will be skipped" >&2
  fi
fi

# Tests run Tencent's web-function templates: Flask (tests/fixtures/templates/flask) and
# Express (tests/fixtures/templates/express, its dependencies from the npm registry).
if ! python3 -c 'import flask' >/dev/null 2>&1; then
  echo "setup: installing Flask (web-function template tests)"
  python3 -m pip install --quiet flask >/dev/null 2>&1 || {
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -qq python3-flask >/dev/null
  } || echo "setup: WARNING: could not install Flask; the Flask template test will fail" >&2
fi
express_dir="$(dirname "${BASH_SOURCE[0]}")/../tests/fixtures/templates/express"
if command -v npm >/dev/null 2>&1 && [ ! -d "$express_dir/node_modules/express" ]; then
  echo "setup: installing Express for the web-function template tests (npm ci)"
  (cd "$express_dir" && npm ci --no-audit --no-fund --silent) \
    || echo "setup: WARNING: npm ci failed in $express_dir; the Express template test will fail" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    # Debian's own cargo is too old for this crate (it needs Rust 1.85+); rustup is the supported way.
    echo "setup: installing Rust with rustup (https://rustup.rs)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
# scripts/test.sh runs clippy and rustfmt, which rustup's minimal profile (above) leaves out.
for tool in clippy fmt; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    component=$tool
    [ "$tool" = fmt ] && component=rustfmt
    if command -v rustup >/dev/null 2>&1; then
      echo "setup: adding $component with rustup"
      rustup component add "$component"
    else
      echo "setup: WARNING: cargo has no $component and there is no rustup to add it; scripts/test.sh will fail at it" >&2
    fi
  fi
done
echo "setup: $(cargo --version)"
