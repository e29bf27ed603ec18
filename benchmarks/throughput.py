"""Warm invoke throughput: 16 concurrent clients over 4 Python echo functions, against an echo server.

Load: ``--functions`` functions × ``--clients-per-function`` clients, each client one thread with
its own keep-alive connection (TCP_NODELAY) sending SigV4-signed invokes back to back. The
clients are spread over ``--procs`` client processes (multiprocessing, spawn) so the load
generator's GIL does not cap the load it can offer; on a 2-core machine the client processes
share the CPUs with the server and the sandboxes, so their CPU time is reported too.

After ``--warmup-s`` of unmeasured load (which starts the environments: one per concurrent
client), completions during the next ``--duration-s`` are counted. Baseline, same run and same
load: the raw uvloop + httptools echo server (``_echo_server.py``).

Functions use MemorySize=1769 (one vCPU each). 16 such environments need 28 GB of the worker
memory budget (default 16 GB, i.e. at most 9 environments at 1769 MB), so this server runs with
LAMBENT_WORKER_MEMORY_BUDGET_MB=32768.

Target: ≥ 1,000 invokes/s with zero errors.

Usage: python benchmarks/throughput.py [--duration-s 10] [--warmup-s 3] [--procs 4] [--json PATH]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _common import (
    ECHO_HANDLER,
    ECHO_PAYLOAD,
    FULL_CPU_MEMORY_MB,
    EchoServer,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    create_function,
    invoke_path,
    is_echo,
    lambda_client,
    unique_names,
)

MIN_RPS = 1000.0
MEMORY_BUDGET_MB = 32768
# A client never sends more than this many requests per run, whatever the duration.
_MAX_REQUESTS_PER_CLIENT = 1_000_000


@dataclass
class _ThreadResult:
    ok: int = 0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list)
    error_examples: list[str] = field(default_factory=list)


def _client_thread(port: int, path: str, start: Any, times: Any, out: _ThreadResult) -> None:
    client = SigningClient(port, timeout_s=30)
    headers = {"Content-Type": "application/json"}
    client.request("GET", "/health")  # open the connection before the start signal
    start.wait()
    measure_from, end_at = times[0], times[1]
    for _ in range(_MAX_REQUESTS_PER_CLIENT):
        now = time.time()
        if now >= end_at:
            break
        t0 = time.perf_counter()
        try:
            result = client.request("POST", path, ECHO_PAYLOAD, headers)
            good = result.status == 200 and is_echo(result.body)
            detail = f"{result.status} {result.body[:160]!r}"
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            good, detail = False, repr(exc)
        elapsed = time.perf_counter() - t0
        done = time.time()
        if measure_from <= done < end_at:
            if good:
                out.ok += 1
                out.latencies_s.append(elapsed)
            else:
                out.errors += 1
        if not good and len(out.error_examples) < 3:
            out.error_examples.append(detail)
    client.close()


def _client_process(port: int, paths: list[str], ready: Any, start: Any, times: Any, results: Any) -> None:
    """One client process: a thread per path in ``paths``; reports its totals on ``results``."""
    outs = [_ThreadResult() for _ in paths]
    threads = [
        threading.Thread(target=_client_thread, args=(port, p, start, times, o), daemon=True)
        for p, o in zip(paths, outs, strict=False)
    ]
    for t in threads:
        t.start()
    ready.release()
    start.wait()
    time.sleep(max(0.0, times[0] - time.time()))
    cpu0 = sum(os.times()[:2])
    time.sleep(max(0.0, times[1] - time.time()))
    cpu_window = sum(os.times()[:2]) - cpu0
    for t in threads:
        t.join(60)
    results.put(
        {
            "ok": sum(o.ok for o in outs),
            "errors": sum(o.errors for o in outs),
            "latencies_s": [x for o in outs for x in o.latencies_s],
            "error_examples": [e for o in outs for e in o.error_examples][:5],
            "cpu_s": cpu_window,
            "alive_threads": sum(t.is_alive() for t in threads),
        }
    )


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


#: Readings taken at the start and the end of the measured window (CPU seconds, counts).
Probe = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class LoadResult:
    rps: float
    ok: int
    errors: int
    latency: Latency | None
    client_cpu_s: float
    machine_busy: float
    #: the probe's readings at the start and the end of the measured window
    window_start: dict[str, float]
    window_end: dict[str, float]
    error_examples: list[str]

    def delta(self, key: str) -> float:
        return self.window_end[key] - self.window_start[key]


def _offer_load(port: int, paths: list[str], procs: int, warmup_s: float, duration_s: float, probe: Probe) -> LoadResult:
    """Run one client thread per entry of ``paths`` against ``port``, spread over ``procs`` processes."""
    ctx = mp.get_context("spawn")
    groups: list[list[str]] = [[] for _ in range(min(procs, len(paths)))]
    for i, path in enumerate(sorted(paths)):  # clients of one function stay in one process
        groups[i * len(groups) // len(paths)].append(path)
    ready, start, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    times = ctx.Array("d", 2)
    workers = [ctx.Process(target=_client_process, args=(port, g, ready, start, times, results)) for g in groups]
    for w in workers:
        w.start()
    try:
        for _ in workers:
            if not ready.acquire(timeout=60):
                raise RuntimeError("client processes did not start within 60 s")
        time.sleep(0.2)  # let every thread open its connection
        now = time.time()
        times[0], times[1] = now + warmup_s, now + warmup_s + duration_s
        start.set()
        time.sleep(max(0.0, times[0] - time.time()))
        busy0, total0 = _machine_cpu()
        first = probe()
        time.sleep(max(0.0, times[1] - time.time()))
        busy1, total1 = _machine_cpu()
        last = probe()
        reports = [results.get(timeout=120) for _ in workers]
    finally:
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.terminate()
                w.join(5)
    latencies = [x for r in reports for x in r["latencies_s"]]
    ok = sum(r["ok"] for r in reports)
    return LoadResult(
        rps=ok / duration_s,
        ok=ok,
        errors=sum(r["errors"] for r in reports),
        latency=Latency.of(latencies) if latencies else None,
        client_cpu_s=sum(r["cpu_s"] for r in reports),
        machine_busy=(busy1 - busy0) / max(1, total1 - total0),
        window_start=first,
        window_end=last,
        error_examples=[e for r in reports for e in r["error_examples"]][:5],
    )


def _offer_load_node(port: int, paths: list[str], warmup_s: float, duration_s: float, probe: Probe) -> LoadResult:
    """The same load from ``loadgen.mjs``: one Node.js process, one keep-alive connection per
    client, every request freshly SigV4-signed; it costs the machine far less CPU than Python
    clients, so the server, not the generator, is what is measured."""
    import json
    import subprocess
    from pathlib import Path

    from _common import ACCESS_KEY, ECHO_PAYLOAD as BODY, REGION, SECRET_KEY

    now = time.time()
    t0, t1 = now + 0.5 + warmup_s, now + 0.5 + warmup_s + duration_s
    env = dict(os.environ, LG_ACCESS_KEY=ACCESS_KEY, LG_SECRET_KEY=SECRET_KEY, LG_REGION=REGION,
               LG_BODY=BODY.decode() if isinstance(BODY, bytes) else str(BODY))
    proc = subprocess.Popen(
        ["node", str(Path(__file__).with_name("loadgen.mjs")), str(port), ",".join(paths), repr(t0), repr(t1)],
        stdout=subprocess.PIPE, env=env, text=True,
    )
    time.sleep(max(0.0, t0 - time.time()))
    busy0, total0 = _machine_cpu()
    first = probe()
    time.sleep(max(0.0, t1 - time.time()))
    busy1, total1 = _machine_cpu()
    last = probe()
    out, _ = proc.communicate(timeout=120)
    data = json.loads(out.strip().splitlines()[-1])
    latencies = [ms / 1000 for ms in data["latencies_ms"]]
    return LoadResult(
        rps=data["ok"] / duration_s,
        ok=data["ok"],
        errors=data["errors"],
        latency=Latency.of(latencies) if latencies else None,
        client_cpu_s=data["cpu_s"],
        machine_busy=(busy1 - busy0) / max(1, total1 - total0),
        window_start=first,
        window_end=last,
        error_examples=data["error_examples"],
    )


def _as_info(result: LoadResult) -> dict[str, Any]:
    info = {k: v for k, v in result.__dict__.items() if k != "latency"}
    info["latency"] = result.latency.as_dict() if result.latency else None
    return info


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--functions", type=int, default=4)
    parser.add_argument("--clients-per-function", type=int, default=4)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--client", choices=["node", "python"], default="node",
                        help="load generator: loadgen.mjs (default) or Python threads in --procs processes")
    args = parser.parse_args()
    clients = args.functions * args.clients_per_function

    report = Report(
        "throughput",
        f"Throughput: {clients} clients over {args.functions} Python echo functions, MemorySize={FULL_CPU_MEMORY_MB} MB",
    )
    with LambentServer({"LAMBENT_WORKER_MEMORY_BUDGET_MB": str(MEMORY_BUDGET_MB)}) as srv:
        lam = lambda_client(srv.url)
        names = unique_names("tput", args.functions)
        for name in names:
            create_function(lam, name, ECHO_HANDLER, memory_mb=FULL_CPU_MEMORY_MB)
        paths = [invoke_path(n) for n in names for _ in range(args.clients_per_function)]

        def offer(port: int, probe: Probe) -> LoadResult:
            if args.client == "node":
                return _offer_load_node(port, paths, args.warmup_s, args.duration_s, probe)
            return _offer_load(port, paths, args.procs, args.warmup_s, args.duration_s, probe)

        with EchoServer() as echo:
            base = offer(echo.port, lambda: {"server_cpu_s": echo.cpu_s()})

        def lambent_probe() -> dict[str, float]:
            return {"server_cpu_s": srv.cpu_s(), "sandbox_cpu_s": srv.sandbox_cpu_s(),
                    "environments": len(srv.sandboxes())}

        ours = offer(srv.port, lambent_probe)
        signing_us = SigningClient(srv.port).signing_cost_us()

    envs_start, envs_end = int(ours.window_start["environments"]), int(ours.window_end["environments"])
    report.add(Figure("invokes/s", ours.rps, "/s", base.rps, "echo req/s", min_value=MIN_RPS))
    report.add(Figure("errors", ours.errors, "", base.errors, "echo", max_value=0))
    if ours.latency and base.latency:
        report.add(Figure("latency p50", ours.latency.p50_ms, "ms", base.latency.p50_ms, "echo"))
        report.add(Figure("latency p99", ours.latency.p99_ms, "ms", base.latency.p99_ms, "echo"))
    if ours.ok and base.ok:
        report.add(Figure("server CPU / invoke", ours.delta("server_cpu_s") / ours.ok * 1e6, "µs",
                          base.delta("server_cpu_s") / base.ok * 1e6, "echo CPU/req"))
        report.add(Figure("sandbox CPU / invoke", ours.delta("sandbox_cpu_s") / ours.ok * 1e6, "µs"))
        report.add(Figure("client CPU / request", ours.client_cpu_s / ours.ok * 1e6, "µs",
                          base.client_cpu_s / base.ok * 1e6, "vs echo"))
    report.add(Figure("machine CPU busy", ours.machine_busy * 100, "%", base.machine_busy * 100, "echo"))
    report.info.update(
        {
            "memory_mb": FULL_CPU_MEMORY_MB,
            "memory_budget_mb": MEMORY_BUDGET_MB,
            "clients": clients,
            "functions": args.functions,
            "client_processes": min(args.procs, len(paths)),
            "warmup_s": args.warmup_s,
            "duration_s": args.duration_s,
            "client_signing_us_per_request": round(signing_us, 1),
            "lambent": _as_info(ours),
            "echo": _as_info(base),
        }
    )
    procs = min(args.procs, len(paths))
    load = (
        f"one Node.js process (loadgen.mjs) with {clients} keep-alive connections"
        if args.client == "node"
        else f"{procs} client processes × {clients // procs} threads, one keep-alive connection per thread"
    )
    report.notes += [
        f"load: {load}, every request freshly SigV4-signed, back to back; {args.warmup_s:g} s unmeasured "
        f"warm-up, then {args.duration_s:g} s counted; botocore signing would cost a Python client "
        f"{signing_us:.0f} µs per request",
        f"environments: {envs_start} at the start of the window, {envs_end} at the end "
        "(growth means cold starts inside the window)",
        f"server runs with LAMBENT_WORKER_MEMORY_BUDGET_MB={MEMORY_BUDGET_MB} "
        f"({clients} × {FULL_CPU_MEMORY_MB} MB environments exceed the 16 GB default)",
        "machine CPU busy: all cores, from /proc/stat, over the window (100 % = both cores saturated)",
    ]
    for example in ours.error_examples:
        report.notes.append(f"error: {example}")
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
