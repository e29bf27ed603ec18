"""Test hosts in network namespaces, connected to the host by a veth and routed by it (never an
address off this machine), a host-side DNS responder on loopback, and what a test leaves behind."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


PUBLIC = "203.0.113.1"
PRIVATE = "10.213.7.1"


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class NsHost:
    netns: str
    address: str
    host_side: str
    port: int
    body: bytes


SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(2); c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: " + str(len(sys.argv[2])).encode() + b"\\r\\n\\r\\n" + sys.argv[2].encode())
    except OSError:
        pass
    c.close()
"""


@contextmanager
def namespace_host(address: str, host_side: str, prefix: int = 24, port: int = 8080) -> Iterator[NsHost]:
    """A namespace with ``address`` behind a veth whose host end has ``host_side``, serving a tiny
    HTTP server on ``port``; everything removed on exit, even after a failure."""
    tag = uuid.uuid4().hex[:6]
    ns, outer = f"lmbtest-{tag}", f"lmbt{tag}"
    body = f"hello from {address}".encode()
    proc: subprocess.Popen[bytes] | None = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "addr", "add", f"{host_side}/{prefix}", "dev", outer)
        sh("ip", "link", "set", outer, "up")
        sh("ip", "-n", ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", host_side)
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(port), body.decode()],
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        yield NsHost(ns, address, host_side, port, body)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        sh("ip", "link", "del", outer, check=False)
        sh("ip", "netns", "del", ns, check=False)


def _answer(query: bytes, names: dict[str, str]) -> bytes | None:
    """A minimal DNS answer: the A record of ``names`` for the question, NXDOMAIN otherwise."""
    if len(query) < 17:
        return None
    labels, i = [], 12
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode())
        i += 1 + query[i]
    question = query[12:i + 5]
    name = ".".join(labels).lower()
    header = query[:2]
    if name in names:
        flags = struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
        record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(names[name])
        return header + flags + question + record
    return header + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + question


@contextmanager
def dns_responder(names: dict[str, str]) -> Iterator[tuple[str, int, list[str]]]:
    """A UDP resolver on 127.0.0.1 answering ``names``; yields (host, port, names asked)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    asked: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except OSError:
                continue
            reply = _answer(data, names)
            if reply is not None:
                asked.append(addr[0])
                sock.sendto(reply, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", sock.getsockname()[1], asked
    finally:
        stop.set()
        thread.join()
        sock.close()


def lambent_traces(prefix: str, table: str) -> list[str]:
    """Whatever of one server's network is still on the host (links, tables, addresses)."""
    found = [line for line in sh("ip", "-o", "link", "show").splitlines() if prefix in line]
    found += [line for line in sh("ip", "-o", "addr", "show").splitlines() if prefix in line]
    found += [line for line in sh("nft", "list", "tables").splitlines() if table in line]
    return found


def network_env(upstream: tuple[str, int], **extra: str) -> dict[str, str]:
    return {"LAMBENT_NETWORK_ENABLED": "1", "LAMBENT_NETWORK_DNS_UPSTREAM": f"{upstream[0]}:{upstream[1]}", **extra}


def sweep_server_network(data_dir: Path) -> None:
    """Remove whatever a server of ``data_dir`` left of its network (a stop that had to kill it)."""
    from lambent.network import DefaultNetwork
    from lambent.settings import NetworkSettings

    DefaultNetwork(NetworkSettings(enabled=True), data_dir=data_dir, files_dir=data_dir).cleanup_leftovers()
