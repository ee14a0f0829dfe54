#!/usr/bin/env bash
# Checks a built scfgate .deb (default: the newest in target/debian): its control fields,
# conffiles and maintainer scripts, that it holds the binary, the unit, the configuration, the
# state directory and the documentation, that the unit verifies (systemd-analyze, where
# installed), and that the packaged binary serves the packaged configuration and function.
#   scripts/check-deb.sh [PACKAGE.deb]
set -euo pipefail
cd "$(dirname "$0")/.."
deb="${1:-$(ls -t target/debian/scfgate_*.deb 2>/dev/null | head -n1)}"
[ -n "$deb" ] && [ -f "$deb" ] || { echo "check-deb: no package; build one with scripts/build-deb.sh" >&2; exit 1; }
fail() { echo "check-deb: FAILED: $*" >&2; exit 1; }
work=$(mktemp -d)
gateway=""
cleanup() {
    if [ -n "$gateway" ]; then kill "$gateway" 2>/dev/null || true; wait "$gateway" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "check-deb: $deb"
info=$(dpkg-deb --info "$deb")
for field in "Package: scfgate" "Architecture: $(dpkg --print-architecture)" "Depends: .*libc6" "Depends: .*adduser" "Section: net"; do
    grep -Eq "^ $field" <<<"$info" || fail "control has no '$field'"
done

contents=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
for path in ./usr/bin/scfgate ./lib/systemd/system/scfgate.service ./etc/scfgate/scfgate.toml ./etc/default/scfgate \
    ./var/lib/scfgate/ ./usr/share/doc/scfgate/README.md ./usr/share/doc/scfgate/copyright \
    ./usr/share/doc/scfgate/examples/sysctl-scfgate.conf ./usr/lib/scfgate/scf-example-function \
    ./usr/share/scfgate/functions/hello/bootstrap; do
    grep -qxF "$path" <<<"$contents" || fail "the package has no $path"
done

dpkg-deb --control "$deb" "$work/control"
for conffile in /etc/scfgate/scfgate.toml /etc/default/scfgate; do
    grep -qxF "$conffile" "$work/control/conffiles" || fail "$conffile is not a conffile"
done
for script in postinst prerm postrm; do
    [ -x "$work/control/$script" ] || fail "no executable $script"
    sh -n "$work/control/$script" || fail "$script does not parse"
done

root="$work/root"
dpkg-deb --extract "$deb" "$root"
unit="$root/lib/systemd/system/scfgate.service"
for setting in "Type=notify" "NotifyAccess=all" "ExecReload=/usr/bin/scfgate .*--reload" "User=scfgate" \
    "LimitNOFILE=" "AmbientCapabilities=CAP_NET_BIND_SERVICE" "KillMode=mixed" "StateDirectory=scfgate"; do
    grep -Eq "^$setting" "$unit" || fail "the unit has no $setting"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    # Against the package's own tree, where /usr/bin/scfgate exists; units it names but does not
    # ship (network-online.target) are not followed.
    systemd-analyze verify --root="$root" --man=no --recursive-errors=no "$unit" || fail "systemd-analyze verify"
    echo "check-deb: systemd-analyze verify: the unit is valid"
    systemd-analyze security --offline=yes --root="$root" "$unit" 2>/dev/null | tail -n1 || true
else
    echo "check-deb: SKIPPED systemd-analyze verify (systemd-analyze is not installed here)"
fi

"$root/usr/bin/scfgate" --version
# The packaged configuration, pointed at the unpacked tree and a free port, serves the packaged
# function with the packaged binary.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|/usr/share/scfgate|$root/usr/share/scfgate|" -e "s|127.0.0.1:8080|127.0.0.1:$port|" \
    "$root/etc/scfgate/scfgate.toml" >"$work/scfgate.toml"
"$root/usr/bin/scfgate" --config "$work/scfgate.toml" --check >/dev/null || fail "the packaged configuration does not pass --check"
"$root/usr/bin/scfgate" --config "$work/scfgate.toml" --workers 1 >"$work/gateway.log" 2>&1 &
gateway=$!
answer=""
for _ in $(seq 1 100); do
    answer=$(curl -s --max-time 5 "http://127.0.0.1:$port/release/hello/deb" || true)
    [ -n "$answer" ] && break
    sleep 0.1
done
grep -q "Hello, deb" <<<"$answer" || { cat "$work/gateway.log" >&2; fail "GET /release/hello/deb answered '$answer'"; }
echo "check-deb: the packaged gateway answered: $answer"
echo "check-deb: OK"
