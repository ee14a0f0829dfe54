#!/usr/bin/env python3
"""What one admin change costs once a service has a long release history.

Starts BINARY with the admin API on loopback (no token) over a fresh state directory seeded with
one service of --apis APIs (a remote function: nothing is started), publishes it --publishes
times, then times admin changes one at a time: a draft edit (PUT of an API's description), a live
change (a key pair created) and a publish. Prints the median and the range of each, the size of
state.json and of the state directory. Extra arguments after `--` go to scfgate.

    cargo build --release --bins
    python3 loadtest/admin-history.py target/release/scfgate --publishes 288 --apis 200
    python3 loadtest/admin-history.py target/release/scfgate -- --max-releases 1000
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def config(apis):
    lines = [
        "[gateway]",
        'listen = ["127.0.0.1:0"]',
        "workers = 1",
        "",
        "[[function]]",
        'name = "f"',
        'runtime = "remote"',
        'invoke_url = "http://127.0.0.1:9/"',
        "",
        "[[service]]",
        'id = "service-history1"',
        'name = "history"',
        'stages = ["release"]',
    ]
    for index in range(apis):
        lines += [
            "[[service.api]]",
            f'name = "api{index}"',
            f'path = "/items{index}/{{id}}"',
            'method = "GET"',
            'function = { name = "f" }',
            f'description = "API number {index} of the history measurement"',
            "[[service.api.param]]",
            'name = "id"',
            'position = "path"',
            'type = "long"',
        ]
    return "\n".join(lines) + "\n"


class Admin:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)

    def call(self, method, path, body=None, headers=None):
        payload = None if body is None else json.dumps(body)
        self.connection.request(method, path, body=payload, headers=headers or {})
        response = self.connection.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {data[:500]!r}")
        return json.loads(data) if data else None

    def timed(self, method, path, body=None, headers=None):
        started = time.perf_counter()
        answer = self.call(method, path, body, headers)
        return (time.perf_counter() - started) * 1000, answer


def summary(name, samples):
    return f"{name:<28} median {statistics.median(samples):8.1f} ms   min {min(samples):8.1f}   max {max(samples):8.1f}   (n={len(samples)})"


def size_of(directory):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(directory) for name in names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("--publishes", type=int, default=288)
    parser.add_argument("--apis", type=int, default=200)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("extra", nargs="*", help="flags for scfgate (after --)")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="scfgate-admin-history-")
    config_path = os.path.join(scratch, "scfgate.toml")
    state_dir = os.path.join(scratch, "state")
    with open(config_path, "w") as file:
        file.write(config(args.apis))
    environment = dict(os.environ, SCFGATE_ADMIN_TOKEN="", SCFGATE_LOG="warn,scfgate=info")
    gateway = subprocess.Popen(
        [args.binary, "--config", config_path, "--admin-listen", "127.0.0.1:0", "--state-dir", state_dir]
        + args.extra,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = None
        for line in gateway.stderr:
            found = re.search(r"admin API listening on http://(\S+)", line)
            if found:
                address = found.group(1)
                break
        if address is None:
            sys.exit("scfgate exited before its admin API listened")
        # Keep reading its log, so a full pipe never stalls the gateway.
        threading.Thread(target=lambda: [None for _ in gateway.stderr], daemon=True).start()
        admin = Admin(address)
        service = "/v1/services/service-history1"
        started = time.perf_counter()
        publishes = []
        for index in range(args.publishes):
            took, _ = admin.timed("POST", f"{service}/releases", {"stage": "release", "description": f"publish {index}"})
            publishes.append(took)
        print(f"{args.publishes} publishes of {args.apis} APIs took {time.perf_counter() - started:.1f} s;"
              f" first 10 median {statistics.median(publishes[:10]):.1f} ms, last 10 median {statistics.median(publishes[-10:]):.1f} ms")
        releases = admin.call("GET", f"{service}/releases?limit=1")["total_count"]
        print(f"releases kept: {releases}; state.json {os.path.getsize(os.path.join(state_dir, 'state.json')) / 1e6:.2f} MB,"
              f" state directory {size_of(state_dir) / 1e6:.2f} MB")

        edits = []
        for index in range(args.samples):
            api = admin.call("GET", f"{service}/apis/api0")
            api["description"] = f"edited {index}"
            for key in ("created_at", "updated_at"):
                api.pop(key, None)
            took, _ = admin.timed("PUT", f"{service}/apis/api0", api)
            edits.append(took)
        secrets = [admin.timed("POST", "/v1/secrets", {})[0] for _ in range(args.samples)]
        more = [
            admin.timed("POST", f"{service}/releases", {"stage": "release", "description": "timed"})[0]
            for _ in range(args.samples)
        ]
        print(summary("draft edit (PUT api)", edits))
        print(summary("live change (POST secret)", secrets))
        print(summary("publish", more))
    finally:
        gateway.terminate()
        gateway.wait()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
