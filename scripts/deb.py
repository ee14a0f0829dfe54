#!/usr/bin/env python3
"""Builds scfgate's Debian package from Cargo.toml's [package.metadata.deb] with dpkg-deb.

The table is cargo-deb's format (assets, conf-files, maintainer-scripts, depends with $auto), so
`cargo deb` builds the same package where cargo-deb is installed; this script needs nothing
beyond dpkg-deb (and dpkg-shlibdeps, when present, for the library dependencies). Run it through
scripts/build-deb.sh, which builds the binaries first.

Usage: deb.py PROFILE [COMPRESSION]   PROFILE: release or debug (which target/ folder the
binaries come from); COMPRESSION: dpkg-deb's -Z (xz by default; CI uses gzip for speed).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE = "scfgate"


def cargo_metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], check=True, capture_output=True, text=True
    ).stdout
    meta = json.loads(out)
    package = next(p for p in meta["packages"] if p["name"] == PACKAGE)
    return meta["target_directory"], package


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shlib_depends(binaries):
    """What the binaries' shared libraries need, as dpkg-shlibdeps says (None without it)."""
    if not shutil.which("dpkg-shlibdeps"):
        return None
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "debian"))
        with open(os.path.join(work, "debian", "control"), "w") as f:
            f.write(f"Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n")
        result = subprocess.run(
            ["dpkg-shlibdeps", "-O", "--ignore-missing-info", "-e", *binaries], cwd=work, capture_output=True, text=True
        )
        for line in result.stdout.splitlines():
            if line.startswith("shlibs:Depends="):
                return line.split("=", 1)[1]
    return None


def description(package, deb):
    lines = [f"Description: {package['description']}"]
    for line in deb.get("extended-description", "").strip().splitlines():
        lines.append(" " + line if line.strip() else " .")
    return "\n".join(lines)


def main():
    profile = sys.argv[1] if len(sys.argv) > 1 else "release"
    compression = sys.argv[2] if len(sys.argv) > 2 else "xz"
    target_dir, package = cargo_metadata()
    deb = package["metadata"]["deb"]
    version = f"{package['version']}-{deb.get('revision', '1')}"
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()

    root = tempfile.mkdtemp(prefix="scfgate-deb-")
    os.chmod(root, 0o755)  # the package's "/", which mkdtemp makes private
    try:
        binaries = []
        for source, dest, mode in deb["assets"]:
            if source.startswith("target/release/"):
                source = os.path.join(target_dir, profile, source[len("target/release/") :])
            if not os.path.exists(source):
                sys.exit(f"deb: {source} is missing (build it first: scripts/build-deb.sh does)")
            target = os.path.join(root, dest.lstrip("/"))
            if dest.endswith("/"):
                target = os.path.join(target, os.path.basename(source))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
            os.chmod(target, int(mode, 8))
            if is_elf(target):
                # As cargo-deb does: no debug info in the package (a release build has line tables).
                if shutil.which("strip"):
                    subprocess.run(["strip", "--strip-unneeded", target], check=True)
                binaries.append(target)
        # The state directory, owned by the package (the postinst gives it to the scfgate user;
        # with cargo-deb, which ships no empty folder, the postinst alone makes it).
        os.makedirs(os.path.join(root, "var/lib", PACKAGE), exist_ok=True)

        docs = os.path.join(root, "usr/share/doc", PACKAGE)
        os.makedirs(docs, exist_ok=True)
        with open(os.path.join(docs, "copyright"), "w") as f:
            f.write(
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
                f"Upstream-Name: {PACKAGE}\n\n"
                f"Files: *\nCopyright: {deb['copyright']}\nLicense: {package['license']}\n"
                " On Debian systems, the full text of the Apache License 2.0 is in\n"
                " /usr/share/common-licenses/Apache-2.0.\n"
            )

        control_dir = os.path.join(root, "DEBIAN")
        os.makedirs(control_dir)
        depends = deb.get("depends", "$auto")
        auto = shlib_depends(binaries) or "libc6 (>= 2.34), libgcc-s1"
        depends = depends.replace("$auto", auto)
        installed_kib = 0
        md5sums = []
        for directory, _, files in os.walk(root):
            if directory.startswith(control_dir):
                continue
            for name in sorted(files):
                path = os.path.join(directory, name)
                installed_kib += (os.path.getsize(path) + 1023) // 1024
                with open(path, "rb") as f:
                    md5sums.append(f"{hashlib.md5(f.read()).hexdigest()}  {os.path.relpath(path, root)}")
        control = [
            f"Package: {PACKAGE}",
            f"Version: {version}",
            f"Architecture: {arch}",
            f"Maintainer: {deb['maintainer']}",
            f"Installed-Size: {installed_kib}",
            f"Depends: {depends}",
            f"Section: {deb.get('section', 'net')}",
            f"Priority: {deb.get('priority', 'optional')}",
            description(package, deb),
        ]
        with open(os.path.join(control_dir, "control"), "w") as f:
            f.write("\n".join(control) + "\n")
        with open(os.path.join(control_dir, "md5sums"), "w") as f:
            f.write("\n".join(sorted(md5sums, key=lambda line: line.split("  ", 1)[1])) + "\n")
        with open(os.path.join(control_dir, "conffiles"), "w") as f:
            f.write("".join(path + "\n" for path in deb.get("conf-files", [])))
        scripts = deb.get("maintainer-scripts")
        if scripts:
            for name in ("preinst", "postinst", "prerm", "postrm"):
                source = os.path.join(scripts, name)
                if os.path.exists(source):
                    shutil.copyfile(source, os.path.join(control_dir, name))
                    os.chmod(os.path.join(control_dir, name), 0o755)

        out_dir = os.path.join(target_dir, "debian")
        os.makedirs(out_dir, exist_ok=True)
        out = os.path.join(out_dir, f"{PACKAGE}_{version}_{arch}.deb")
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", root, out],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
