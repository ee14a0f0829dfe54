#!/usr/bin/env python3
"""What slow and large bodies do to the gateway's memory: RSS under the two loads issue 14
reported, and after their clients leave.

  memory.py [--binary target/release/scfgate] [--workers 2] [-- extra scfgate flags]

It starts the gateway on the bundled example (examples/hello: the `echo` event API, whose local
function answers with the whole event) on free loopback ports, then:

1. held bodies: 100 connections each send 6 MiB of a declared 6 MiB body, all but its last byte,
   and pause (the gateway holds what it has buffered);
2. unread answers: 50 clients each post a whole 4 MiB body and never read the answer (the
   gateway holds the event, the function's answer and the response being written);

and prints the gateway's RSS (VmRSS) before, while each load is held, and after its clients
closed (after a settle pause). Each client prints what it got back (status or nothing), so a
503 from the body budget shows.
"""

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gateway(binary, workers, extra):
    port = free_port()
    command = [
        binary,
        "--config",
        os.path.join(ROOT, "examples/hello/scfgate.toml"),
        "--listen",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ] + extra
    environment = dict(os.environ)
    # The example's bootstraps find the function binary on PATH (beside the gateway's).
    environment["PATH"] = os.path.dirname(os.path.abspath(binary)) + ":" + environment.get("PATH", "")
    gateway = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment, text=True)
    lines = []

    def pump():
        for line in gateway.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.time() + 30
    while time.time() < deadline:
        if any("scfgate listening" in line for line in lines) and any("runtime ready" in line or "ready" in line for line in lines):
            break
        time.sleep(0.1)
    time.sleep(1.0)
    return gateway, port


def head(port, length):
    return (
        f"POST /release/echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def status_of(sock):
    sock.settimeout(0.2)
    try:
        data = sock.recv(64)
    except (socket.timeout, OSError):
        return "-"
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"


def held_bodies(port, clients, body):
    """Each client sends all but the last byte of a declared body, then pauses."""
    sockets = []
    payload = b"a" * (body - 1)

    def send(sock):
        try:
            sock.sendall(head(port, body))
            sock.sendall(payload)
        except OSError:
            pass

    threads = []
    for _ in range(clients):
        sock = socket.create_connection(("127.0.0.1", port))
        sockets.append(sock)
        thread = threading.Thread(target=send, args=(sock,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=60)
    return sockets


def unread_answers(port, clients, body):
    """Each client posts a whole body and never reads the answer."""
    sockets = []
    payload = b"b" * body

    def send(sock):
        try:
            sock.sendall(head(port, body))
            sock.sendall(payload)
        except OSError:
            pass

    threads = []
    for _ in range(clients):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sockets.append(sock)
        thread = threading.Thread(target=send, args=(sock,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=120)
    return sockets


def close_all(sockets):
    for sock in sockets:
        try:
            sock.close()
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/scfgate"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each reading")
    parser.add_argument("extra", nargs="*", help="extra scfgate flags (after --)")
    args = parser.parse_args()
    gateway, port = start_gateway(args.binary, args.workers, args.extra)
    pid = gateway.pid
    try:
        rows = [("start", rss_mb(pid), "")]
        held = held_bodies(port, 100, 6 * MIB)
        time.sleep(args.settle)
        answers = [status_of(sock) for sock in held]
        rows.append(("100 x 6 MiB bodies held", rss_mb(pid), summary(answers)))
        close_all(held)
        time.sleep(args.settle)
        rows.append(("after they closed", rss_mb(pid), ""))
        unread = unread_answers(port, 50, 4 * MIB)
        time.sleep(args.settle)
        rows.append(("50 x 4 MiB posts, answers unread", rss_mb(pid), ""))
        close_all(unread)
        time.sleep(args.settle)
        rows.append(("after they closed", rss_mb(pid), ""))
        time.sleep(args.settle * 3)
        rows.append((f"after {args.settle * 4:.0f} s more idle", rss_mb(pid), ""))
        print(f"| moment | gateway RSS (MB) | answers seen |")
        print(f"|---|---:|---|")
        for moment, rss, note in rows:
            print(f"| {moment} | {rss:.0f} | {note} |")
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


def summary(answers):
    counts = {}
    for answer in answers:
        counts[answer] = counts.get(answer, 0) + 1
    return ", ".join(f"{count} x {answer}" for answer, count in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
