"""The default network's cost: cold start and warm invoke with the network on vs off, same run.

Two servers run side by side, one with the default network on (``LAMBENT_NETWORK_ENABLED=true``,
the default) and one with it off. For each of ``--functions`` rounds, a new function is created
on both and its first (cold) invoke is timed on each, alternating which server goes first, so
load on the machine hits both arms alike. Then one function per server is invoked
``--warm`` times (interleaved) for the warm p50.

Also, in this process: ``DefaultNetwork.attach`` itself (veth created into a fresh network
namespace, eth0 configured over rtnetlink) timed ``--attaches`` times on a network of its own.

Targets (issue 11): the network adds ≤ 3 ms to a cold start (p50 on − p50 off); warm p50 on
within 3 % of off.

Usage: python benchmarks/network_coldstart.py [--functions 15] [--warm 200] [--attaches 30] [--json PATH]
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    HELLO_HANDLER,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    cold_invoke,
    create_function,
    lambda_client,
    unique_names,
)

COLD_DELTA_MAX_MS = 3.0
WARM_MAX_RATIO = 1.03


def _cold(srv: LambentServer, lam: Any, client: SigningClient, name: str, source: str, problems: list[str]) -> float:
    create_function(lam, name, source)
    return cold_invoke(srv, lam, client, name, problems)[0]


def _warm(client: SigningClient, name: str, problems: list[str]) -> float:
    t0 = time.perf_counter()
    result = client.invoke(name, b"{}")
    elapsed = time.perf_counter() - t0
    if result.status != 200:
        problems.append(f"warm {name}: {result.status}")
    return elapsed


async def _attaches(n: int) -> list[float]:
    """DefaultNetwork.attach alone, on a network of this process (its own data dir)."""
    from lambent.network import DefaultNetwork
    from lambent.settings import NetworkSettings

    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lambent-netbench-") as tmp:
        net = DefaultNetwork(NetworkSettings(dns_upstream="127.0.0.1:53"), data_dir=Path(tmp) / "data",
                             files_dir=Path(tmp))
        await net.start()
        try:
            for i in range(n):
                proc = subprocess.Popen(["unshare", "--net", "sh", "-c", "echo ready; exec sleep 30"],
                                        stdout=subprocess.PIPE)
                try:
                    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
                    t0 = time.perf_counter()
                    att = await net.attach(f"bench-{i}", proc.pid)
                    samples.append(time.perf_counter() - t0)
                    await net.detach(att)
                finally:
                    proc.kill()
                    proc.wait()
                    if proc.stdout is not None:
                        proc.stdout.close()
        finally:
            await net.close()
    return samples


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--functions", type=int, default=15)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--attaches", type=int, default=30)
    args = parser.parse_args()

    report = Report("network_coldstart", "Default network: cold start and warm invoke, network on vs off")
    problems: list[str] = []
    cold: dict[bool, list[float]] = {True: [], False: []}
    warm: dict[bool, list[float]] = {True: [], False: []}
    with LambentServer({"LAMBENT_NETWORK_ENABLED": "true"}) as on, \
            LambentServer({"LAMBENT_NETWORK_ENABLED": "false"}) as off:
        servers = {True: on, False: off}
        lams = {k: lambda_client(s.url) for k, s in servers.items()}
        clients = {k: SigningClient(s.port) for k, s in servers.items()}
        for i, name in enumerate(unique_names("netcold", args.functions)):
            source = f"# function {i}: distinct code per function\n{HELLO_HANDLER}"
            for arm in ((True, False) if i % 2 == 0 else (False, True)):
                cold[arm].append(_cold(servers[arm], lams[arm], clients[arm], f"{name}{'on' if arm else 'off'}",
                                       source, problems))
        warm_names = {}
        for arm in (True, False):
            warm_names[arm] = unique_names(f"netwarm{'on' if arm else 'off'}", 1)[0]
            create_function(lams[arm], warm_names[arm], HELLO_HANDLER)
            for _ in range(5):  # the cold start and a few unmeasured calls
                _warm(clients[arm], warm_names[arm], problems)
        for i in range(args.warm):
            for arm in ((True, False) if i % 2 == 0 else (False, True)):
                warm[arm].append(_warm(clients[arm], warm_names[arm], problems))
        for c in clients.values():
            c.close()
    attach = Latency.of(asyncio.run(_attaches(args.attaches))) if args.attaches else None

    cold_on, cold_off = Latency.of(cold[True]), Latency.of(cold[False])
    warm_on, warm_off = Latency.of(warm[True]), Latency.of(warm[False])
    report.add(Figure("cold start p50 added by the network", cold_on.p50_ms - cold_off.p50_ms, "ms",
                      max_value=COLD_DELTA_MAX_MS))
    report.add(Figure("cold start p50, network on", cold_on.p50_ms, "ms", cold_off.p50_ms, "network off"))
    report.add(Figure("cold start p90, network on", cold_on.p90_ms, "ms", cold_off.p90_ms, "network off"))
    report.add(Figure("warm invoke p50, network on", warm_on.p50_ms, "ms", warm_off.p50_ms, "network off",
                      max_ratio=WARM_MAX_RATIO))
    if attach is not None:
        report.add(Figure("DefaultNetwork.attach p50 (in-process)", attach.p50_ms, "ms"))
        report.add(Figure("DefaultNetwork.attach p90 (in-process)", attach.p90_ms, "ms"))
        report.info["attach"] = attach.as_dict()
    report.add(Figure("errors", len(problems), "", max_value=0))
    report.info.update({"functions": args.functions, "warm_invokes": args.warm, "cold_on": cold_on.as_dict(),
                        "cold_off": cold_off.as_dict(), "warm_on": warm_on.as_dict(), "warm_off": warm_off.as_dict(),
                        "problems": problems})
    report.notes += [
        f"{args.functions} new functions per arm, one cold invoke each, arms alternated; {args.warm} warm "
        "invokes per arm, interleaved; timed on the client over an open keep-alive connection",
        "the delta is a difference of two noisy p50s: on a loaded machine, read it with the in-process attach figure",
    ]
    for problem in problems[:5]:
        report.notes.append(f"problem: {problem}")
    report.note_server(on)
    report.emit(args.json)


if __name__ == "__main__":
    main()
