#!/usr/bin/env python3
"""Cluster mode under load: three scfgate nodes (one worker each) behind one wrk per node, the
usage plans counted in Redis (`--limits`) or not, and what that costs and admits.

    python3 loadtest/cluster.py                 # 3 nodes, 8 s per run, 3 alternating rounds
    ROUNDS=5 SECONDS_PER_RUN=10 python3 loadtest/cluster.py

Two figures, each with its command line in the output (PERF.md quotes them):

1. CPU per request with Redis limits on vs off: a stage-wide plan of 10,000,000 requests per
   second (never reached, so every request is admitted and only the accounting costs), wrk
   `-t1 -c16` against each node at once; CPU is the three gateway processes' user + system time
   (/proc/PID/stat) over the requests wrk completed. Redis's own CPU is reported beside.
2. Overshoot against the documented bound: a plan of 100 per second driven as fast as the three
   nodes answer for SECONDS_PER_RUN; admitted (2xx) per second against `limit + nodes x workers x
   batch` (batch = clamp(floor(100 / (4 x 3)), 1, 64) = 8, so 124).

The backend is nginx answering `{"ok":1}` (a `remote` function), in processes of its own.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SCFGATE_BIN", os.path.join(ROOT, "target", "release", "scfgate"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS = int(os.environ.get("SECONDS_PER_RUN", "8"))
NODES = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=20):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(backend_port, rate):
    return f"""[[function]]
name = "backend"
runtime = "remote"
invoke_url = "http://127.0.0.1:{backend_port}/invoke"

[[service]]
id = "service-load0001"
name = "load"
stages = ["release"]

[[service.api]]
name = "hello"
path = "=/hello"
method = "GET"
function = {{ name = "backend" }}

[[usage_plan]]
name = "plan"
max_requests_per_second = {rate}
environments = [{{ service = "service-load0001", stage = "release" }}]
"""


def start_nodes(work, backend_port, rate, redis_url, prefix):
    path = os.path.join(work, f"scfgate-{rate}.toml")
    open(path, "w").write(config(backend_port, rate))
    nodes = []
    for _ in range(NODES):
        port = free_port()
        args = [BIN, "--config", path, "--listen", f"127.0.0.1:{port}", "--workers", "1", "--log", "warn"]
        if redis_url:
            args += ["--limits", redis_url, "--limits-prefix", prefix]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        nodes.append((process, port))
    time.sleep(2.5)  # every node registered, every worker counting the cluster
    return nodes


def stop(nodes):
    for process, _ in nodes:
        process.send_signal(signal.SIGTERM)
    for process, _ in nodes:
        process.wait(timeout=30)


def drive(nodes, seconds, connections=16):
    """wrk against every node at once; returns (requests, non-2xx, gateway CPU seconds)."""
    before = sum(cpu_seconds(process.pid) for process, _ in nodes)
    runs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/release/hello"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _, port in nodes
    ]
    outputs = [run.communicate()[0] for run in runs]
    after = sum(cpu_seconds(process.pid) for process, _ in nodes)
    requests = sum(int(re.search(r"(\d+) requests in", out).group(1)) for out in outputs)
    refused = sum(int(m.group(1)) for out in outputs for m in [re.search(r"Non-2xx or 3xx responses: (\d+)", out)] if m)
    return requests, refused, after - before


def main():
    for tool in ("wrk", "nginx", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"cluster.py needs {tool} (apt-get install wrk nginx redis-server)")
    work = tempfile.mkdtemp(prefix="scfgate-cluster-")
    backend_port, redis_port = free_port(), free_port()
    os.makedirs(os.path.join(work, "logs"))
    open(os.path.join(work, "nginx.conf"), "w").write(
        f"""worker_processes 1; daemon off; error_log {work}/logs/error.log; pid {work}/nginx.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; server {{ listen 127.0.0.1:{backend_port};
  location / {{ default_type application/json; return 200 '{{"ok":1}}'; }} }} }}"""
    )
    nginx = subprocess.Popen(["nginx", "-p", work, "-c", os.path.join(work, "nginx.conf")], stderr=subprocess.DEVNULL)
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", work],
        stdout=subprocess.DEVNULL,
    )
    wait_port(backend_port)
    wait_port(redis_port)
    redis_url = f"redis://127.0.0.1:{redis_port}"
    try:
        print(f"# python3 loadtest/cluster.py (ROUNDS={ROUNDS} SECONDS_PER_RUN={SECONDS}); {NODES} nodes x 1 worker, "
              f"wrk -t1 -c16 -d{SECONDS}s per node, {os.cpu_count()} CPUs")
        print("\n## CPU per request, plan never reached (10,000,000/s)")
        print("| round | limits | requests/s (3 nodes) | gateway CPU us/request | redis CPU us/request |")
        print("|---|---|---:|---:|---:|")
        totals = {"local": [0, 0.0], "redis": [0, 0.0]}
        for round_ in range(1, ROUNDS + 1):
            for label, url in (("local", None), ("redis", redis_url)):
                nodes = start_nodes(work, backend_port, 10_000_000, url, f"load{round_}")
                redis_before = cpu_seconds(redis.pid)
                requests, _, cpu = drive(nodes, SECONDS)
                redis_cpu = cpu_seconds(redis.pid) - redis_before
                stop(nodes)
                totals[label][0] += requests
                totals[label][1] += cpu
                redis_share = f"{redis_cpu / requests * 1e6:.2f}" if url else "-"
                print(f"| {round_} | {label} | {requests / SECONDS:,.0f} | {cpu / requests * 1e6:.2f} | {redis_share} |")
        local = totals["local"][1] / totals["local"][0] * 1e6
        shared = totals["redis"][1] / totals["redis"][0] * 1e6
        print(f"\nall rounds: local {local:.2f} us/request, redis {shared:.2f} us/request ({(shared / local - 1) * 100:+.1f}%)")

        print(f"\n## Overshoot: 100 per second across {NODES} nodes, bound 100 + 3 x 1 x 8 = 124 per second")
        nodes = start_nodes(work, backend_port, 100, redis_url, "overshoot")
        # Start on a second's boundary so the run spans whole windows.
        time.sleep(1 - time.time() % 1)
        requests, refused, _ = drive(nodes, SECONDS)
        stop(nodes)
        admitted = requests - refused
        # wrk's run spans SECONDS whole windows plus parts of one more at most.
        print(f"{requests} requests in {SECONDS} s, {admitted} admitted: at most {SECONDS + 1} windows, so "
              f"{admitted / (SECONDS + 1):.1f} to {admitted / SECONDS:.1f} per window (limit 100, bound 124)")
    finally:
        for process in (nginx, redis):
            process.terminate()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
