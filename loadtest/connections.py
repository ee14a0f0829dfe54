#!/usr/bin/env python3
"""The edge's connection economics, scfgate beside nginx (issue 23): what an idle connection
(keep-alive HTTP and HTTPS, WebSocket over either) costs in memory, and how many new connections
per second each proxy takes.

  loadtest/connections.py [--binary target/release/scfgate] [--idle 1000,10000] [--rounds 3]
                          [--duration 4] [--only idle|new] [--protocols HTTP,HTTPS,WS,WSS]
                          [--scfgate-args "..."]

Like for like, each in processes of its own, one worker each, on loopback:
  backend  an nginx of its own answering every request `{"ok":1}` (return 200), and
           `{"errNo":0,"errMsg":"ok"}` on /ws-register; for nginx's WebSockets, a minimal
           WebSocket server (this script with `--ws-backend PORT`: Python asyncio, stdlib only)
           that answers the handshake, answers pings, and otherwise holds the connection;
  nginx    nginx as reverse proxy (plain and TLS listeners), upstream keepalive 64, logs off,
           ssl_session_cache and tickets on (its defaults for resumption); /release/ws proxied
           to the WebSocket server as its documentation says (HTTP/1.1, `Upgrade` and
           `Connection: upgrade` passed on, proxy_read_timeout 1 h);
  scfgate  event mode, a `remote` function whose invoke_url is the backend, plain and TLS
           listeners, the same self-signed certificate (RSA 2048); /release/ws a WebSocket API
           (`protocol = "ws&wss"`) whose register, transport and cleanup functions are `remote`
           functions on the same backend nginx.

Idle memory: for each proxy and protocol (`--protocols WS,WSS`, or the environment's
PROTOCOLS="WS WSS"; all four by default), on freshly started proxies, N connections are opened
one after another and stay open: over HTTP and HTTPS each sends one request and reads its
answer; over WS and WSS each does the upgrade (a random Sec-WebSocket-Key, the 101 and its
Sec-WebSocket-Accept checked), sends one text message and one ping, and reads the pong (a frame
each way; the pong comes after the message was handled), then is silent. The proxy worker's
VmRSS (median of 5 readings) before and after (read once scfgate has parked the keep-alive ones:
`--park-after` plus a margin, the same wait for nginx; WebSockets are measured as scfgate keeps
them, which is not parked), divided by N; and what closing them gave back, divided by N (what the
connections held, without what the process kept from having served them), read once the proxy
has closed every one of its client sockets (in scfgate a WebSocket's cleanup call comes first)
and a moment after. A WebSocket client closes with a close frame and does not wait for the echo.
What a WebSocket costs each proxy differs in kind: scfgate holds the client's WebSocket itself and
calls functions per event (register, each message, cleanup), so an idle WebSocket costs the
gateway its client side only and the functions nothing between events; nginx relays the
connection to the application's WebSocket server and holds two sockets per client (the client's
and the upstream one, each with its buffers), which is what a user of nginx pays; the WebSocket
server's own memory (a third socket) is the application's and is not counted on either side.
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
import asyncio
import base64
import hashlib
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
WS_PATH = "/release/ws"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ["HTTP", "HTTPS", "WS", "WSS"]


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
    ports = {
        name: free_port()
        for name in ["backend", "ws_backend", "nginx", "nginx_tls", "scfgate", "scfgate_tls"]
    }
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
    location = /ws-register {{ default_type application/json; return 200 '{{"errNo":0,"errMsg":"ok"}}'; }}
    location / {{ default_type application/json; return 200 '{{"ok":1}}'; }} }}""",
    )
    # nginx's WebSockets end at an application server: this script, in a process of its own.
    processes["ws_backend"] = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--ws-backend", str(ports["ws_backend"])],
        stderr=open(os.path.join(work, "ws-backend.log"), "w"),
    )
    processes["nginx"] = nginx_conf(
        work, "proxy",
        f"""  upstream backend {{ server 127.0.0.1:{ports['backend']}; keepalive 64; }}
  ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
  server {{ listen 127.0.0.1:{ports['nginx']} reuseport backlog=4096;
    listen 127.0.0.1:{ports['nginx_tls']} ssl reuseport backlog=4096;
    ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;
    location = {WS_PATH} {{ proxy_pass http://127.0.0.1:{ports['ws_backend']}; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";
      proxy_read_timeout 3600s; proxy_send_timeout 3600s; }}
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""",
    )
    config = os.path.join(work, "scfgate.toml")
    backend = f"http://127.0.0.1:{ports['backend']}"
    with open(config, "w") as out:
        out.write(
            f"""[gateway]
listen = ["127.0.0.1:{ports['scfgate']}"]
tls_listen = ["127.0.0.1:{ports['scfgate_tls']}"]
workers = 1
idle_timeout = 600
push_listen = "127.0.0.1:0"
websocket_idle_timeout = 3600
[[service]]
id = "service-idle"
name = "idle"
[[service.api]]
name = "idle"
path = "/idle"
method = "ANY"
function = {{ name = "idle" }}
[[service.api]]
name = "ws"
path = "/ws"
protocol = "ws&wss"
register = {{ name = "ws-register" }}
transport = {{ name = "ws-transport" }}
cleanup = {{ name = "ws-cleanup" }}
[[function]]
name = "idle"
runtime = "remote"
invoke_url = "{backend}/invoke"
[[function]]
name = "ws-register"
runtime = "remote"
invoke_url = "{backend}/ws-register"
[[function]]
name = "ws-transport"
runtime = "remote"
invoke_url = "{backend}/ws-transport"
[[function]]
name = "ws-cleanup"
runtime = "remote"
invoke_url = "{backend}/ws-cleanup"
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


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def ws_frame(opcode, payload, masked):
    """One final frame (payloads under 126 bytes: all this script sends); a client's is masked."""
    head = bytes([0x80 | opcode, (0x80 if masked else 0) | len(payload)])
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def recv_exact(sock, size, data=b""):
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed mid-frame")
        data += chunk
    return data


def open_websockets(port, count, tls_context):
    """`count` WebSockets to WS_PATH, each: the upgrade (its 101 and Sec-WebSocket-Accept
    checked), one text message, one ping, its pong read (so the message was handled first);
    then silent."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16))
        sock.sendall(
            f"GET {WS_PATH} HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise SystemExit(f"port {port}: closed before the 101")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        accept = re.search(rb"(?im)^sec-websocket-accept:\s*(\S+)", head)
        if status != 101 or not accept or accept.group(1) != ws_accept(key):
            raise SystemExit(f"port {port}: no WebSocket: {head.decode(errors='replace')}")
        sock.sendall(ws_frame(0x1, b"hello", True) + ws_frame(0x9, b"ping", True))
        first, second = recv_exact(sock, 2, rest[:2])
        payload = recv_exact(sock, second & 0x7F, rest[2:])
        if first & 0x0F != 0xA or payload != b"ping":
            raise SystemExit(f"port {port}: expected the pong, got opcode {first & 0x0F}")
        held.append(sock)
    return held


def close_websockets(held):
    # A client's close frame (1000), then the socket closes without waiting for the echo.
    for sock in held:
        try:
            sock.sendall(ws_frame(0x8, (1000).to_bytes(2, "big"), True))
        except OSError:
            pass
        sock.close()


def ws_backend(port):
    """The WebSocket server nginx proxies to (`--ws-backend PORT`, a process of its own): the
    handshake, a pong for each ping, the close echoed; everything else read and dropped."""
    async def session(reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", head).group(1)
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + ws_accept(key) + b"\r\n\r\n"
            )
            while True:
                first, second = await reader.readexactly(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length >= 126:
                    length = int.from_bytes(await reader.readexactly(2 if length == 126 else 8), "big")
                mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
                payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(await reader.readexactly(length)))
                if opcode == 0x9:
                    writer.write(ws_frame(0xA, payload, False))
                elif opcode == 0x8:
                    writer.write(ws_frame(0x8, payload[:2], False))
                    await writer.drain()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, AttributeError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(session, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def open_sockets(port):
    """Server-side TCP sockets of `port` still open (ESTABLISHED, or CLOSE_WAIT: the client has
    gone and the proxy has not closed its end yet)."""
    local = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        return sum(1 for line in table if (fields := line.split())[1].endswith(local) and fields[3] in ("01", "08"))


def wait_closed(port, limit=60):
    deadline = time.time() + limit
    while open_sockets(port) and time.time() < deadline:
        time.sleep(0.1)


def steady_rss(pid, samples=5, pause=0.4):
    # RSS moves by itself by a few hundred KiB (the allocator returning pages on its own
    # schedule): the median of a few readings.
    readings = []
    for _ in range(samples):
        readings.append(rss_kib(pid))
        time.sleep(pause)
    return statistics.median(readings)


def idle_memory(port, pid, count, tls_context, settle, websocket=False):
    opened, close = (open_websockets, close_websockets) if websocket else (open_connections, close_all)
    # A few connections first, so that what any traffic sets up (pools, the allocator's arenas)
    # is there before the baseline; few, so that neither proxy has memory for N already touched.
    close(opened(port, 50, tls_context))
    wait_closed(port)
    time.sleep(1.0)
    before = steady_rss(pid)
    held = opened(port, count, tls_context)
    time.sleep(settle)
    after = steady_rss(pid)
    close(held)
    # Until the proxy has closed every client socket (scfgate calls a WebSocket's cleanup
    # function first), then what the allocator gives back on its own schedule.
    wait_closed(port)
    time.sleep(1.5)
    closed = steady_rss(pid)
    # Growth per connection, and what closing them gave back per connection: what the
    # connections themselves held, without what the process kept from having served them.
    return (after - before) * 1024 / count, (after - closed) * 1024 / count


def close_all(held):
    for sock in held:
        sock.close()


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
    parser.add_argument(
        "--protocols", default=",".join(os.environ.get("PROTOCOLS", " ".join(PROTOCOLS)).split()),
        help="idle rows to measure, of HTTP,HTTPS,WS,WSS (default: $PROTOCOLS, else all four)",
    )
    parser.add_argument("--scfgate-args", default="")
    parser.add_argument("--ws-backend", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ws_backend:
        return ws_backend(args.ws_backend)
    args.protocols = args.protocols.replace(",", " ").split()
    unknown = [protocol for protocol in args.protocols if protocol not in PROTOCOLS]
    if unknown:
        raise SystemExit(f"unknown protocols {unknown}: choose from {PROTOCOLS}")
    for tool in ["nginx", "wrk", "openssl"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (apt-get install nginx-light wrk openssl)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"descriptor limit: {hard} (each held connection takes one in this client and one in the proxy; "
          f"two in nginx for a WebSocket)")
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
        "\n| idle connections | protocol | nginx bytes each | scfgate bytes each | ratio "
        "| nginx: freed on close, each | scfgate: freed on close, each |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for count in [int(n) for n in args.idle.split(",")]:
        for protocol in args.protocols:
            # nginx holds two descriptors per WebSocket: the client's and the upstream one.
            if count * (2 if protocol.startswith("WS") else 1) + 200 > hard:
                print(f"| {count} | {protocol} skipped: the descriptor limit is {hard} | | | | | |")
                continue
            figures = {}
            for proxy in ["nginx", "scfgate"]:
                work = tempfile.mkdtemp(prefix="scfgate-connections-")
                ports, processes, workers, cert = start(work, args.binary, extra)
                try:
                    context = None if protocol in ("HTTP", "WS") else ssl.create_default_context(cafile=cert)
                    port = ports[proxy if context is None else proxy + "_tls"]
                    figures[proxy] = idle_memory(
                        port, workers[proxy], count, context, settle=2.5, websocket=protocol.startswith("WS")
                    )
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
