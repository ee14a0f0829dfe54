#!/usr/bin/env python3
"""The edge's connection economics, scfgate beside nginx (issue 23): what an idle keep-alive
connection costs in memory, and how many new connections per second each proxy takes.

  loadtest/connections.py [--binary target/release/scfgate] [--idle 1000,10000] [--rounds 3]
                          [--duration 4] [--only idle|new] [--scfgate-args "..."]

Like for like, each in processes of its own, one worker each, on loopback:
  backend  an nginx of its own answering every request `{"ok":1}` (return 200);
  nginx    nginx as reverse proxy (plain and TLS listeners), upstream keepalive 64, logs off,
           ssl_session_cache and tickets on (its defaults for resumption);
  scfgate  event mode, a `remote` function whose invoke_url is the backend, plain and TLS
           listeners, the same self-signed certificate (RSA 2048).

Idle memory: for each proxy and protocol (plain HTTP, HTTPS; PROTOCOLS="HTTP" for one), on
freshly started proxies, N connections each send one request, read its answer and stay open;
the proxy worker's VmRSS (median of 5 readings) before and after (read once scfgate has parked
them: `--park-after` plus a margin, the same wait for nginx), divided by N; and what closing
them gave back, divided by N (what the connections held, without what the process kept from
having served them).
Descriptor limits: the script raises its own soft RLIMIT_NOFILE to the hard limit, and the
proxies inherit it; a size that does not fit is skipped and said so.

New connections: `wrk -t1 -c32 -dDs -H 'Connection: close'` (a new TCP connection, and over TLS a
full handshake, per request: wrk does not resume sessions), `--rounds` alternating rounds, the
median; and resumed TLS handshakes from two Python client processes, each connection resuming
the session of the one before and carrying one request (openssl s_time cannot send SNI, which
scfgate needs; the rate is the clients', so the proxy's CPU per connection is the figure to
compare; the run fails if a connection did not resume). CPU per connection is
the proxy worker's utime+stime (from /proc) over the run, divided by the connections it served.

Prints a Markdown table; nothing is written to the repository.
"""

import argparse
import os
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PATH = "/release/idle"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def wait_port(port, limit=20):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def nginx_conf(work, name, body):
    folder = os.path.join(work, name)
    os.makedirs(os.path.join(folder, "logs"), exist_ok=True)
    with open(os.path.join(folder, "nginx.conf"), "w") as conf:
        conf.write(
            f"""worker_processes 1; daemon off; master_process on; pid {folder}/nginx.pid;
error_log {folder}/logs/error.log warn; worker_rlimit_nofile 65536;
events {{ worker_connections 65536; use epoll; multi_accept on; }}
http {{ access_log off; keepalive_requests 1000000; keepalive_timeout 600s;
  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy; fastcgi_temp_path {folder}/f;
  uwsgi_temp_path {folder}/u; scgi_temp_path {folder}/s;
{body}
}}
"""
        )
    return subprocess.Popen(["nginx", "-p", folder, "-c", "nginx.conf"], stderr=subprocess.DEVNULL)


def start(work, binary, extra):
    ports = {name: free_port() for name in ["backend", "nginx", "nginx_tls", "scfgate", "scfgate_tls"]}
    key, cert = os.path.join(work, "localhost.key"), os.path.join(work, "localhost.crt")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    processes = {}
    processes["backend"] = nginx_conf(
        work, "backend",
        f"""  server {{ listen 127.0.0.1:{ports['backend']} reuseport backlog=4096;
    location / {{ default_type application/json; return 200 '{{"ok":1}}'; }} }}""",
    )
    processes["nginx"] = nginx_conf(
        work, "proxy",
        f"""  upstream backend {{ server 127.0.0.1:{ports['backend']}; keepalive 64; }}
  ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
  server {{ listen 127.0.0.1:{ports['nginx']} reuseport backlog=4096;
    listen 127.0.0.1:{ports['nginx_tls']} ssl reuseport backlog=4096;
    ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""",
    )
    config = os.path.join(work, "scfgate.toml")
    with open(config, "w") as out:
        out.write(
            f"""[gateway]
listen = ["127.0.0.1:{ports['scfgate']}"]
tls_listen = ["127.0.0.1:{ports['scfgate_tls']}"]
workers = 1
idle_timeout = 600
[[service]]
id = "service-idle"
name = "idle"
[[service.api]]
name = "idle"
path = "/idle"
method = "ANY"
function = {{ name = "idle" }}
[[function]]
name = "idle"
runtime = "remote"
invoke_url = "http://127.0.0.1:{ports['backend']}/invoke"
[[certificate]]
hosts = ["localhost"]
cert = "{cert}"
key = "{key}"
"""
        )
    processes["scfgate"] = subprocess.Popen(
        [binary, "--config", config] + extra, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "scfgate.log"), "w")
    )
    for name in ports:
        wait_port(ports[name])
    # The process whose memory and CPU are read: nginx's one worker, scfgate's one process.
    time.sleep(0.5)
    workers = {
        "nginx": children(processes["nginx"].pid)[0],
        "scfgate": processes["scfgate"].pid,
    }
    return ports, processes, workers, cert


def request_bytes(port):
    return f"GET {PATH} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(rest) < length:
        rest += sock.recv(4096)
    return status


def open_connections(port, count, tls_context):
    held = []
    request = request_bytes(port)
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(request)
        status = read_response(sock)
        if status != 200:
            raise SystemExit(f"port {port}: status {status}")
        held.append(sock)
    return held


def steady_rss(pid, samples=5, pause=0.4):
    # RSS moves by itself by a few hundred KiB (the allocator returning pages on its own
    # schedule): the median of a few readings.
    readings = []
    for _ in range(samples):
        readings.append(rss_kib(pid))
        time.sleep(pause)
    return statistics.median(readings)


def idle_memory(port, pid, count, tls_context, settle):
    # A few connections first, so that what any traffic sets up (pools, the allocator's arenas)
    # is there before the baseline; few, so that neither proxy has memory for N already touched.
    for sock in open_connections(port, 50, tls_context):
        sock.close()
    time.sleep(1.0)
    before = steady_rss(pid)
    held = open_connections(port, count, tls_context)
    time.sleep(settle)
    after = steady_rss(pid)
    for sock in held:
        sock.close()
    time.sleep(1.5)
    closed = steady_rss(pid)
    # Growth per connection, and what closing them gave back per connection: what the
    # connections themselves held, without what the process kept from having served them.
    return (after - before) * 1024 / count, (after - closed) * 1024 / count


def wrk_new_connections(port, pid, duration, https):
    scheme = "https" if https else "http"
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{duration}s", "-H", "Connection: close", f"{scheme}://localhost:{port}{PATH}"],
        capture_output=True, text=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"port {port}: {errors.group(1)} non-2xx answers\n{out}")
    return rate, cpu * 1e6 / max(total, 1)


def resumed_client(port, cafile, seconds, results):
    """One client process: TLS connections that resume the session of the one before, each
    carrying one request; puts (connections, resumed) on `results`."""
    context = ssl.create_default_context(cafile=cafile)
    session, connections, resumed = None, 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                tls.sendall(f"GET {PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
                while tls.recv(4096):
                    pass
                resumed += tls.session_reused
                # TLS 1.3 tickets arrive after the handshake: the session to resume is the one
                # read once the response is in.
                session = tls.session
        connections += 1
    results.put((connections, resumed))


def tls_resumed(port, pid, duration, cafile, clients=2):
    # openssl s_time cannot send SNI, which scfgate requires to pick a certificate; these clients
    # send it, as browsers do.
    import multiprocessing
    results = multiprocessing.Queue()
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    workers = [multiprocessing.Process(target=resumed_client, args=(port, cafile, duration, results)) for _ in range(clients)]
    for worker in workers:
        worker.start()
    totals = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    connections = sum(total[0] for total in totals)
    resumed = sum(total[1] for total in totals)
    if resumed < connections - clients:
        raise SystemExit(f"port {port}: only {resumed} of {connections} connections resumed their session")
    return connections / elapsed, cpu * 1e6 / max(connections, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/scfgate"))
    parser.add_argument("--idle", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--only", choices=["idle", "new"])
    parser.add_argument("--scfgate-args", default="")
    args = parser.parse_args()
    for tool in ["nginx", "wrk", "openssl"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (apt-get install nginx-light wrk openssl)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"descriptor limit: {hard} (each held connection takes one in this client and one in the proxy)")
    extra = args.scfgate_args.split()
    if args.only in (None, "idle"):
        idle_table(args, hard, extra)
    if args.only in (None, "new"):
        new_connections_table(args, extra)


def stop(processes, work):
    for process in processes.values():
        process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(work, ignore_errors=True)


def idle_table(args, hard, extra):
    # Each figure on freshly started proxies: memory one run touched would make the next look
    # free.
    print(
        "\n| idle keep-alive connections | protocol | nginx bytes each | scfgate bytes each | ratio "
        "| nginx: freed on close, each | scfgate: freed on close, each |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for count in [int(n) for n in args.idle.split(",")]:
        if count + 200 > hard:
            print(f"| {count} | skipped: the descriptor limit is {hard} | | | | | |")
            continue
        for protocol in os.environ.get("PROTOCOLS", "HTTP HTTPS").split():
            figures = {}
            for proxy in ["nginx", "scfgate"]:
                work = tempfile.mkdtemp(prefix="scfgate-connections-")
                ports, processes, workers, cert = start(work, args.binary, extra)
                try:
                    context = None if protocol == "HTTP" else ssl.create_default_context(cafile=cert)
                    port = ports[proxy if context is None else proxy + "_tls"]
                    figures[proxy] = idle_memory(port, workers[proxy], count, context, settle=2.5)
                finally:
                    stop(processes, work)
            nginx, scfgate = figures["nginx"][0], figures["scfgate"][0]
            ratio = scfgate / nginx if nginx > 0 else float("nan")
            print(
                f"| {count} | {protocol} | {nginx:,.0f} | {scfgate:,.0f} | {ratio:.2f} "
                f"| {figures['nginx'][1]:,.0f} | {figures['scfgate'][1]:,.0f} |",
                flush=True,
            )


def new_connections_table(args, extra):
    work = tempfile.mkdtemp(prefix="scfgate-connections-")
    ports, processes, workers, cert = start(work, args.binary, extra)
    kinds = [
        ("HTTP, Connection: close (wrk)", lambda proxy: wrk_new_connections(ports[proxy], workers[proxy], args.duration, False)),
        ("HTTPS full handshake (wrk)", lambda proxy: wrk_new_connections(ports[proxy + "_tls"], workers[proxy], args.duration, True)),
        ("HTTPS resumed (2 Python clients, one request each)", lambda proxy: tls_resumed(ports[proxy + "_tls"], workers[proxy], args.duration, cert)),
    ]
    try:
        print("\n| new connections | nginx conn/s | scfgate conn/s | ratio | nginx CPU µs each | scfgate CPU µs each |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, run in kinds:
            rounds = {"nginx": [], "scfgate": []}
            for _ in range(args.rounds):
                for proxy in ["nginx", "scfgate"]:
                    rounds[proxy].append(run(proxy))
            rate = {proxy: statistics.median(r[0] for r in rounds[proxy]) for proxy in rounds}
            cpu = {proxy: statistics.median(r[1] for r in rounds[proxy]) for proxy in rounds}
            print(
                f"| {label} | {rate['nginx']:,.0f} | {rate['scfgate']:,.0f} | {rate['scfgate'] / rate['nginx']:.2f} "
                f"| {cpu['nginx']:.1f} | {cpu['scfgate']:.1f} |",
                flush=True,
            )
    finally:
        stop(processes, work)


if __name__ == "__main__":
    sys.exit(main())
