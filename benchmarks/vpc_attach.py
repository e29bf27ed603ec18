"""Where a VPC environment's network preparation goes, in-process (no server): the VPC data plane's
``FunctionVpcNetwork.attach`` against the bare link work every networked environment pays (a veth
into a bridge, its address and route inside: what the default network does too), same run,
interleaved, on the same subnet bridge; and a whole-ruleset load (what every attach paid before
attaches became element-wise) for scale.

Needs root and nftables. A VPC (10.241.0.0/16) and a subnet are made in a temporary vpc.db; each
round starts a process in its own network namespace (``unshare -n``) as a sandbox stand-in. All
links, tables and processes are removed at the end, also on failure.

Usage: python benchmarks/vpc_attach.py [--rounds 30] [--json PATH]
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

from _common import Figure, Latency, Report, arg_parser

from lambent.network import _netlink
from lambent.network.vpc import VpcNetwork, _nft
from lambent.network.vpc.manager import _link_env
from lambent.settings import NetworkSettings
from lambent.store.vpc import VpcStore
from lambent.vpc.service import VpcService

ADDED_MAX_MS = 3.0


async def _run(rounds: int) -> tuple[list[float], list[float], list[float]]:
    data = Path(tempfile.mkdtemp(prefix="lambent-vpc-attach-"))
    svc = VpcService(VpcStore.open_in(data), region="us-east-1")
    net = VpcNetwork(NetworkSettings(dns_upstream="127.0.0.1:9"), svc, data_dir=data, files_dir=data)
    vpc_ms: list[float] = []
    bare_ms: list[float] = []
    whole_ms: list[float] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await net.start()
        vpc = svc.create_vpc("111111111111", "10.241.0.0/16")
        subnet = svc.create_subnet("111111111111", vpc.vpc_id, "10.241.1.0/24")
        group = svc.create_group("111111111111", vpc.vpc_id, "fn", "bench").group_id
        fn = net.for_function("111111111111", [subnet.subnet_id], [group])
        await asyncio.sleep(0.3)  # the subnet's bridge and the prepared chains
        bridge = net._bridge_of("111111111111", subnet.subnet_id).name
        gateway = svc.gateway(subnet.subnet_id)
        for i in range(rounds):
            pair = [subprocess.Popen(["unshare", "-n", "sleep", "60"]) for _ in range(2)]
            procs += pair
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            att = await fn.attach(f"env{i}", pair[0].pid)
            vpc_ms.append((time.perf_counter() - t0) * 1e3)
            port = f"{net.prefix}x{i}"
            t0 = time.perf_counter()
            await asyncio.to_thread(_link_env, port, bridge, pair[1].pid, att.address + 100, 24, gateway)
            bare_ms.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            text = net.ruleset(svc.snapshot()).text()
            await asyncio.to_thread(_nft.load, text, nft_path=net.settings.nft_path, what="bench")
            whole_ms.append((time.perf_counter() - t0) * 1e3)
            await fn.detach(att)
            _netlink.delete_link(port)
            for p in pair:
                p.kill()
                p.wait()
    finally:
        for p in procs:
            p.kill()
            p.wait()
        await net.close()
        svc.store.close()
    return vpc_ms, bare_ms, whole_ms


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="attaches per arm")
    args = parser.parse_args()
    vpc_ms, bare_ms, whole_ms = asyncio.run(_run(args.rounds))
    vpc, bare, whole = (Latency.of([v / 1e3 for v in arm]) for arm in (vpc_ms, bare_ms, whole_ms))
    report = Report("vpc_attach", "A VPC environment's network preparation vs the bare veth work, in-process")
    report.add(Figure("VPC attach p50", vpc.p50_ms, "ms", bare.p50_ms, "bare veth + inside p50"))
    report.add(Figure("added by the VPC (p50 attach - bare)", vpc.p50_ms - bare.p50_ms, "ms", max_value=ADDED_MAX_MS))
    report.add(Figure("whole ruleset load p50 (the old per-attach cost)", whole.p50_ms, "ms"))
    report.info.update({"rounds": args.rounds, "vpc": vpc.as_dict(), "bare": bare.as_dict(), "whole": whole.as_dict()})
    report.notes.append("interleaved arms on one subnet bridge; the bare arm has no lease and no rules")
    report.emit(args.json)


if __name__ == "__main__":
    main()
