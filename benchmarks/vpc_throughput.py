"""TCP throughput between two namespaces of one VPC (two subnets, routed by the host through the
security groups' nftables chains) vs a raw veth pair between two namespaces, same run.

The issue (11) wants at most 10 % loss: the figure is the VPC's throughput as a fraction of the raw
veth's, held to ≥ 0.9. Each side runs one bulk TCP stream for ``--seconds`` (bounded: at most 10 s,
at most ``--max-gb``); the receiver measures. The VPC side uses lambent's own ``VpcNetwork`` over
a scratch ``vpc.db`` (needs root, nftables), with ``--rules`` extra ingress rules in the group so
the chains are not trivially short. Everything (namespaces, links, tables) is removed at the end,
also on failure. Nothing leaves the machine: 10.23x.0.0/16 on bridges lambent creates.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Figure, Report, arg_parser  # noqa: E402

from lambent.network.vpc import VpcNetwork  # noqa: E402
from lambent.settings import NetworkSettings  # noqa: E402
from lambent.store.vpc import VpcStore  # noqa: E402
from lambent.vpc.service import VpcService  # noqa: E402

ACCOUNT = "111111111111"
PORT = 5201

RECEIVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); total = 0; start = None; buf = bytearray(1 << 20)
while True:
    n = c.recv_into(buf)
    if not n:
        break
    if start is None:
        start = time.monotonic()
    total += n
print(total, time.monotonic() - (start or time.monotonic()), flush=True)
"""

SENDER = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
chunk = b"x" * (1 << 20); end = time.monotonic() + float(sys.argv[3]); limit = int(sys.argv[4]); sent = 0
while time.monotonic() < end and sent < limit:
    s.sendall(chunk); sent += len(chunk)
s.close()
"""


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def stream(receiver_ns: str, sender_ns: str, address: str, seconds: float, limit: int) -> float:
    """MB/s the receiver saw over one bulk TCP stream."""
    rx = subprocess.Popen(["ip", "netns", "exec", receiver_ns, sys.executable, "-c", RECEIVER, str(PORT)],
                          stdout=subprocess.PIPE, text=True)
    try:
        assert rx.stdout is not None
        if rx.stdout.readline().strip() != "ready":
            raise RuntimeError("receiver did not start")
        subprocess.run(["ip", "netns", "exec", sender_ns, sys.executable, "-c", SENDER, address, str(PORT),
                        str(seconds), str(limit)], check=True, timeout=seconds + 30)
        out, _ = rx.communicate(timeout=30)
        total, elapsed = out.split()
        return int(total) / max(float(elapsed), 1e-6) / 1e6
    finally:
        if rx.poll() is None:
            rx.kill()
        rx.wait()


def main() -> int:
    parser = arg_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per stream (at most 10)")
    parser.add_argument("--max-gb", type=float, default=20.0, help="bytes per stream, at most")
    parser.add_argument("--rules", type=int, default=20, help="extra ingress rules in the group (at most 59)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of both arms (at most 10)")
    args = parser.parse_args()
    seconds, rounds = min(args.seconds, 10.0), max(1, min(args.rounds, 10))
    limit = int(args.max_gb * 1e9)
    report = Report("vpc_throughput", "TCP throughput: two subnets of a VPC through security groups vs a raw veth")
    tag = uuid.uuid4().hex[:6]
    spaces = [f"lmvbench-{tag}-{i}" for i in range(4)]
    raw_link = f"lmvbr{tag}"
    scratch = Path(tempfile.mkdtemp(prefix="lambent-vpc-bench-"))
    loop = asyncio.new_event_loop()
    store = VpcStore.open_in(scratch)
    vpcs = VpcService(store, region="us-east-1")
    net = VpcNetwork(NetworkSettings(enabled=True, dns_upstream="127.0.0.1:53"), vpcs, data_dir=scratch,
                     files_dir=scratch)
    try:
        for name in spaces:
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        # baseline: a raw veth pair between namespaces 0 and 1
        sh("ip", "link", "add", raw_link, "netns", spaces[0], "type", "veth", "peer", "name", "eth0", "netns", spaces[1])
        sh("ip", "-n", spaces[0], "addr", "add", "10.239.0.1/24", "dev", raw_link)
        sh("ip", "-n", spaces[1], "addr", "add", "10.239.0.2/24", "dev", "eth0")
        sh("ip", "-n", spaces[0], "link", "set", raw_link, "up")
        sh("ip", "-n", spaces[1], "link", "set", "eth0", "up")
        # the VPC: namespaces 2 and 3 in two subnets, the default group plus ingress rules
        loop.run_until_complete(net.start())
        vpc = vpcs.create_vpc(ACCOUNT, "10.238.0.0/16")
        a = vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.238.1.0/24")
        b = vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.238.2.0/24")
        group = vpcs.default_group(vpc.vpc_id).group_id
        extra = max(0, min(args.rules, 59))
        if extra:
            vpcs.authorize(ACCOUNT, group, egress=False, permissions=[
                {"IpProtocol": "tcp", "FromPort": 10000 + i, "ToPort": 10000 + i,
                 "IpRanges": [{"CidrIp": f"192.0.2.{i}/32"}]} for i in range(extra)])
        loop.run_until_complete(asyncio.sleep(0.3))
        loop.run_until_complete(net.attach_namespace(ACCOUNT, a.subnet_id, spaces[2]))
        addr_b, _ = loop.run_until_complete(net.attach_namespace(ACCOUNT, b.subnet_id, spaces[3]))
        raw, vpc_rates = [], []
        for _ in range(rounds):
            raw.append(stream(spaces[1], spaces[0], "10.239.0.2", seconds, limit))
            vpc_rates.append(stream(spaces[3], spaces[2], str(addr_b), seconds, limit))
        raw_mb, vpc_mb = sorted(raw)[len(raw) // 2], sorted(vpc_rates)[len(vpc_rates) // 2]
        report.add(Figure("VPC throughput (median)", vpc_mb, "MB/s", raw_mb, "raw veth pair"))
        report.add(Figure("VPC / raw veth", vpc_mb / raw_mb, "", min_value=0.9))
        report.info.update({"raw_mb_s": raw, "vpc_mb_s": vpc_rates, "seconds": seconds, "rules": extra + 1})
        report.notes.append("the VPC path crosses two veths and the host's IP layer (routed, conntrack, "
                            "nftables); the raw pair is one veth")
    finally:
        try:
            loop.run_until_complete(net.close())
        finally:
            loop.close()
            store.close()
            for name in spaces:
                sh("ip", "netns", "del", name, check=False)
            net.cleanup_leftovers()
    report.emit(args.json)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
