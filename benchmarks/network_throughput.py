"""Bulk TCP throughput through the default network's NAT vs a plain veth, same run.

NAT arm: a ``DefaultNetwork`` of this process (its real bridge and nftables ruleset: deny list,
masquerade, per-port isolation), a network namespace standing in for a sandbox attached to it
with ``DefaultNetwork.attach`` (as an environment is), sending to a "public host": a namespace at
203.0.113.1 (TEST-NET-3) behind a veth of the host, routed by the host. Raw arm: two namespaces
joined by one veth pair (192.0.2.1 ↔ 192.0.2.2, TEST-NET-1), no bridge, no nftables. Nothing
leaves the machine; everything is removed at the end, also on failure.

Each transfer is one TCP connection sending ``--mib`` MiB (bounded also by ``--timeout`` s) to a
sink that acknowledges the byte count; arms alternate for ``--rounds`` rounds; medians compared.

Target (issue 11): NAT throughput ≥ 90 % of the raw veth path.

Usage: python benchmarks/network_throughput.py [--mib 256] [--rounds 5] [--timeout 30] [--json PATH]
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

from _common import Figure, Report, arg_parser

MIN_RATIO = 0.90
PORT = 5201

SINK = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4)
print("ready", flush=True)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept()
    c.settimeout(float(sys.argv[2]))
    total = 0
    try:
        while True:
            n = c.recv_into(buf)
            if not n:
                break
            total += n
        c.sendall(str(total).encode())
    except OSError:
        pass
    c.close()
"""

SEND = r"""
import socket, sys, time
host, port, size, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
chunk = b"x" * (1 << 20)
t0 = time.perf_counter()
c = socket.create_connection((host, port), timeout=timeout)
sent = 0
while sent < size and time.perf_counter() - t0 < timeout:
    c.sendall(chunk)
    sent += len(chunk)
c.shutdown(socket.SHUT_WR)
got = int(c.recv(64) or b"0")
elapsed = time.perf_counter() - t0
print(got, elapsed)
"""


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def _netns(stack: ExitStack, tag: str) -> str:
    name = f"lmbbench-{tag}-{uuid.uuid4().hex[:4]}"
    sh("ip", "netns", "add", name)
    stack.callback(sh, "ip", "netns", "del", name, check=False)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    return name


def _sink(stack: ExitStack, netns: str, timeout_s: float) -> None:
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SINK, str(PORT), str(timeout_s)],
                            stdout=subprocess.PIPE)

    def stop() -> None:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    stack.callback(stop)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"


def _transfer(netns: str, host: str, size: int, timeout_s: float) -> float:
    """Bytes a second of one transfer from ``netns`` to ``host`` (0 if not all arrived)."""
    out = sh("ip", "netns", "exec", netns, sys.executable, "-c", SEND, host, str(PORT), str(size), str(timeout_s))
    got, elapsed = out.split()
    return int(got) / float(elapsed) if int(got) >= size else 0.0


def _raw_pair(stack: ExitStack, timeout_s: float) -> str:
    """Two namespaces over one veth pair; the sink in the second. Returns the sender's netns."""
    a, b = _netns(stack, "rawa"), _netns(stack, "rawb")
    sh("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b)
    sh("ip", "-n", a, "addr", "add", "192.0.2.1/24", "dev", "eth0")
    sh("ip", "-n", b, "addr", "add", "192.0.2.2/24", "dev", "eth0")
    sh("ip", "-n", a, "link", "set", "eth0", "up")
    sh("ip", "-n", b, "link", "set", "eth0", "up")
    _sink(stack, b, timeout_s)
    return a


async def _nat_path(stack: ExitStack, loop: asyncio.AbstractEventLoop, tmp: Path, timeout_s: float) -> str:
    """A DefaultNetwork, a 'sandbox' namespace attached to it, a public host at 203.0.113.1.
    Returns the sandbox's netns."""
    from lambent.network import DefaultNetwork
    from lambent.settings import NetworkSettings

    public = _netns(stack, "pub")
    outer = f"lmbb{uuid.uuid4().hex[:6]}"
    sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", public)
    stack.callback(sh, "ip", "link", "del", outer, check=False)
    sh("ip", "addr", "add", "203.0.113.254/24", "dev", outer)
    sh("ip", "link", "set", outer, "up")
    sh("ip", "-n", public, "addr", "add", "203.0.113.1/24", "dev", "eth0")
    sh("ip", "-n", public, "link", "set", "eth0", "up")
    sh("ip", "-n", public, "route", "add", "default", "via", "203.0.113.254")
    _sink(stack, public, timeout_s)

    net = DefaultNetwork(NetworkSettings(dns_upstream="127.0.0.1:53"), data_dir=tmp / "data", files_dir=tmp)
    stack.callback(lambda: loop.run_until_complete(net.close()))  # also after a failed start: idempotent
    await net.start()
    sandbox = _netns(stack, "sbx")
    holder = subprocess.Popen(["ip", "netns", "exec", sandbox, "sh", "-c", "echo ready; exec sleep 600"],
                              stdout=subprocess.PIPE)

    def stop_holder() -> None:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()

    stack.callback(stop_holder)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"  # inside the namespace
    await net.attach("bench", holder.pid)
    return sandbox


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    size = args.mib << 20

    report = Report("network_throughput", "Default network: bulk TCP through the NAT vs a plain veth")
    nat: list[float] = []
    raw: list[float] = []
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="lambent-netbench-") as tmp, ExitStack() as stack:
        stack.callback(loop.close)
        raw_ns = _raw_pair(stack, args.timeout)
        nat_ns = loop.run_until_complete(_nat_path(stack, loop, Path(tmp), args.timeout))
        for i in range(args.rounds):
            for arm in (("nat", "raw") if i % 2 == 0 else ("raw", "nat")):
                if arm == "nat":
                    nat.append(_transfer(nat_ns, "203.0.113.1", size, args.timeout))
                else:
                    raw.append(_transfer(raw_ns, "192.0.2.2", size, args.timeout))
    mbit = 8 / 1e6
    nat_med, raw_med = statistics.median(nat) * mbit, statistics.median(raw) * mbit
    report.add(Figure("TCP throughput through the NAT (median)", nat_med, "Mbit/s", raw_med, "plain veth pair"))
    report.add(Figure("NAT / plain veth", nat_med / raw_med if raw_med else 0.0, "", min_value=MIN_RATIO))
    report.add(Figure("incomplete transfers", sum(1 for v in nat + raw if v == 0.0), "", max_value=0))
    report.info.update({"mib_per_transfer": args.mib, "rounds": args.rounds,
                        "nat_mbit_s": [round(v * mbit, 1) for v in nat], "raw_mbit_s": [round(v * mbit, 1) for v in raw]})
    report.notes += [
        f"{args.rounds} rounds, arms alternated; one TCP connection of {args.mib} MiB each, bounded by {args.timeout} s",
        "NAT arm: DefaultNetwork's bridge and ruleset, attach() into a namespace standing in for a sandbox, "
        "to 203.0.113.1 behind a host veth; raw arm: a veth pair between two namespaces, no nftables",
    ]
    report.emit(args.json)


if __name__ == "__main__":
    main()
