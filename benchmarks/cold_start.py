"""Cold start: the first invoke of a new Python function, against a bare Python spawn.

For each of ``--functions`` new functions (each with its own code, so nothing is shared but the
runtime): CreateFunction, wait until Active, then time one synchronous invoke with
``LogType=Tail`` over an already open keep-alive connection. That invoke starts a fresh sandbox
(bubblewrap, cgroup, network namespace, Runtime API), imports the handler and runs it; the
``Init Duration`` of its REPORT line is parsed too. The function is then deleted and the next one
waits until its sandbox is gone, so cold starts never overlap a teardown.

Baseline, same run: ``/usr/bin/python3 -S -c pass`` spawned with ``subprocess.run`` (the least a
Python cold start can cost). Functions use MemorySize=1769 (one vCPU); 128 MB (7 % of a CPU) is
measured too, for information.

Target: cold start p50 ≤ 100 ms at 1769 MB.

Usage: python benchmarks/cold_start.py [--functions 20] [--small-functions 10] [--json PATH]
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Any

from _common import (
    FULL_CPU_MEMORY_MB,
    HELLO_HANDLER,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    create_function,
    init_duration_ms,
    lambda_client,
    log_result_text,
    report_duration_ms,
    unique_names,
    wait_until,
)

PYTHON = "/usr/bin/python3"
P50_MAX_MS = 100.0
SMALL_MEMORY_MB = 128


@dataclass(frozen=True)
class ColdSample:
    invoke_s: float
    init_ms: float | None
    duration_ms: float | None
    create_s: float


def _python_spawns(n: int) -> list[float]:
    samples = []
    for _ in range(n + 2):  # two unmeasured spawns warm the page cache
        t0 = time.perf_counter()
        subprocess.run([PYTHON, "-S", "-c", "pass"], check=True)
        samples.append(time.perf_counter() - t0)
    return samples[2:]


def _cold_starts(srv: LambentServer, lam: Any, n: int, memory_mb: int) -> tuple[list[ColdSample], list[str]]:
    client = SigningClient(srv.port)
    samples: list[ColdSample] = []
    problems: list[str] = []
    for i, name in enumerate(unique_names(f"cold{memory_mb}", n)):
        source = f"# function {i}: distinct code per function\n{HELLO_HANDLER}"
        create_s = create_function(lam, name, source, memory_mb=memory_mb)
        if not wait_until(lambda: not srv.sandboxes(), 10):
            problems.append(f"{name}: previous sandbox still alive after 10 s")
        client.request("GET", "/2015-03-31/functions/")  # the connection is open and warm: time the invoke only
        t0 = time.perf_counter()
        result = client.invoke(name, b"{}", log_tail=True)
        elapsed = time.perf_counter() - t0
        tail = log_result_text(result)
        if result.status != 200 or "x-amz-function-error" in result.headers:
            problems.append(f"{name}: {result.status} {result.body[:200]!r}")
        samples.append(ColdSample(elapsed, init_duration_ms(tail), report_duration_ms(tail), create_s))
        lam.delete_function(FunctionName=name)
    if not wait_until(lambda: not srv.sandboxes(), 10):
        problems.append("sandboxes still alive 10 s after the last DeleteFunction")
    client.close()
    return samples, problems


def _p(values: list[float | None], pct: int) -> float:
    present = [v / 1000 for v in values if v is not None]
    if not present:
        return float("nan")
    lat = Latency.of(present)
    return lat.p50_ms if pct == 50 else lat.p90_ms


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--functions", type=int, default=20)
    parser.add_argument("--small-functions", type=int, default=10, help="functions at 128 MB (information)")
    parser.add_argument("--spawns", type=int, default=20)
    args = parser.parse_args()

    report = Report("cold_start", f"Cold start: first invoke of a new Python function, MemorySize={FULL_CPU_MEMORY_MB} MB")
    with LambentServer() as srv:
        lam = lambda_client(srv.url)
        spawn = Latency.of(_python_spawns(args.spawns))
        full, problems = _cold_starts(srv, lam, args.functions, FULL_CPU_MEMORY_MB)
        small, small_problems = _cold_starts(srv, lam, args.small_functions, SMALL_MEMORY_MB) if args.small_functions else ([], [])
        spawn_after = Latency.of(_python_spawns(args.spawns))

    cold = Latency.of([s.invoke_s for s in full])
    base = "python3 -S spawn"
    report.add(Figure("cold start p50", cold.p50_ms, "ms", spawn.p50_ms, base, max_value=P50_MAX_MS))
    report.add(Figure("cold start p90", cold.p90_ms, "ms", spawn.p90_ms, base))
    report.add(Figure("cold start max", cold.max_ms, "ms", spawn.max_ms, base))
    report.add(Figure("Init Duration p50", _p([s.init_ms for s in full], 50), "ms", spawn.p50_ms, base))
    report.add(Figure("Init Duration p90", _p([s.init_ms for s in full], 90), "ms", spawn.p90_ms, base))
    report.add(Figure("first-invoke Duration p50", _p([s.duration_ms for s in full], 50), "ms"))
    report.add(Figure("CreateFunction→Active p50", Latency.of([s.create_s for s in full]).p50_ms, "ms"))
    report.add(Figure("errors", len(problems) + len(small_problems), "", max_value=0))
    if small:
        cold_small = Latency.of([s.invoke_s for s in small])
        report.add(Figure(f"{SMALL_MEMORY_MB} MB cold start p50", cold_small.p50_ms, "ms", spawn.p50_ms, base))
        report.add(Figure(f"{SMALL_MEMORY_MB} MB cold start p90", cold_small.p90_ms, "ms", spawn.p90_ms, base))
        report.add(Figure(f"{SMALL_MEMORY_MB} MB Init Duration p50", _p([s.init_ms for s in small], 50), "ms", spawn.p50_ms, base))
        report.info["cold_start_128mb"] = cold_small.as_dict()
    report.info.update(
        {
            "memory_mb": FULL_CPU_MEMORY_MB,
            "functions": args.functions,
            "cold_start": cold.as_dict(),
            "python_spawn": spawn.as_dict(),
            "python_spawn_after": spawn_after.as_dict(),
            "init_duration_ms": [s.init_ms for s in full],
            "first_invoke_duration_ms": [s.duration_ms for s in full],
            "cold_start_ms": [round(s.invoke_s * 1000, 2) for s in full],
            "problems": problems + small_problems,
        }
    )
    report.notes += [
        f"{args.functions} new functions at {FULL_CPU_MEMORY_MB} MB (+{args.small_functions} at {SMALL_MEMORY_MB} MB), "
        "one cold invoke each, timed on the client over an open keep-alive connection (signing included)",
        f"baseline: {args.spawns} × subprocess.run([{PYTHON!r}, '-S', '-c', 'pass']) in the same run "
        f"(p50 {spawn.p50_ms:.1f} ms before the cold starts, {spawn_after.p50_ms:.1f} ms after)",
        "Init Duration: parsed from the REPORT line of LogType=Tail (sandbox start to the runtime's first /next)",
    ]
    for problem in (problems + small_problems)[:5]:
        report.notes.append(f"problem: {problem}")
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
