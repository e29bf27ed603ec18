"""Asynchronous invoke: accept latency (202 after the fsync) and sustained accept + drain rates.

1. Accept latency: sequential ``InvocationType=Event`` invokes of a no-op Python function on one
   signed keep-alive connection; p50/p99 of the 202. Baseline: the raw echo server, same client.
2. Sustained: ``loadgen.mjs`` (one Node.js process, 16 keep-alive connections, every request
   signed) sends Event invokes for ``--duration-s``; accepted/s counts the 202s. Baseline: the
   same load against the raw echo server (the machine's ceiling for this client). Meanwhile the
   dispatcher drains the queue into the function; the drain rate is events completed per second
   over the same window, and the backlog left at the end says whether draining kept up. The
   queue depth is read from the server's ``async-queue.db`` (read-only).

Targets: accept p50 ≤ 3 ms; ≥ 1,000 accepted events/s; drain keeps up (drain rate ≥ 90 % of the
accept rate, backlog cleared within 5 s after the load stops).

Usage: python benchmarks/async_accept.py [--requests 2000] [--duration-s 10] [--json PATH]
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from _common import (
    ACCESS_KEY,
    ECHO_PAYLOAD,
    FULL_CPU_MEMORY_MB,
    REGION,
    SECRET_KEY,
    EchoServer,
    Figure,
    LambentServer,
    Latency,
    Report,
    SigningClient,
    arg_parser,
    create_function,
    invoke_path,
    lambda_client,
    unique_names,
)

NOOP = "def handler(event, context):\n    return None\n"


def queue_depth(data_dir: Path) -> int:
    db = sqlite3.connect(f"file:{data_dir / 'async-queue.db'}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("select count(*) from async_events").fetchone()[0])
    finally:
        db.close()


def accept_latency(port: int, path_name: str, n: int) -> tuple[Latency, int]:
    client = SigningClient(port)
    samples: list[float] = []
    errors = 0
    for i in range(200 + n):
        t0 = time.perf_counter()
        res = client.request("POST", invoke_path(path_name), ECHO_PAYLOAD,
                             {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"})
        dt = time.perf_counter() - t0
        if res.status not in (200, 202):
            errors += 1
        elif i >= 200:
            samples.append(dt)
    client.close()
    return Latency.of(sorted(samples)), errors


def sustained(port: int, paths: list[str], duration_s: float, ok_status: int = 202) -> dict[str, object]:
    now = time.time()
    t0, t1 = now + 0.5, now + 0.5 + duration_s
    env = dict(os.environ, LG_ACCESS_KEY=ACCESS_KEY, LG_SECRET_KEY=SECRET_KEY, LG_REGION=REGION,
               LG_BODY=ECHO_PAYLOAD.decode(), LG_HEADERS=json.dumps({"x-amz-invocation-type": "Event"}), LG_OK_STATUS=str(ok_status))
    proc = subprocess.Popen(["node", str(Path(__file__).with_name("loadgen.mjs")), str(port), ",".join(paths), repr(t0), repr(t1)],
                            stdout=subprocess.PIPE, env=env, text=True)
    out, _ = proc.communicate(timeout=duration_s + 120)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    report = Report("async_accept", "Asynchronous invoke: accept latency and sustained accept/drain")
    with EchoServer() as echo:
        base_latency, _ = accept_latency(echo.port, "echo", args.requests)
        # the same load generator against a server that does no work: the machine's ceiling
        base_load = sustained(echo.port, [invoke_path("echo")] * args.connections, args.duration_s, ok_status=200)
    with LambentServer() as srv:
        lam = lambda_client(srv.url)
        (name,) = unique_names("async", 1)
        create_function(lam, name, NOOP, memory_mb=FULL_CPU_MEMORY_MB)
        latency, errors = accept_latency(srv.port, name, args.requests)
        deadline = time.monotonic() + 60
        while queue_depth(srv.data_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        paths = [invoke_path(name)] * args.connections
        before = queue_depth(srv.data_dir)
        server_cpu0, sandbox_cpu0 = srv.cpu_s(), srv.sandbox_cpu_s()
        load = sustained(srv.port, paths, args.duration_s)
        server_cpu, sandbox_cpu = srv.cpu_s() - server_cpu0, srv.sandbox_cpu_s() - sandbox_cpu0
        backlog = queue_depth(srv.data_dir)
        accepted = int(load["ok"])  # type: ignore[call-overload]
        drained_in_window = accepted + before - backlog
        t_clear = time.monotonic()
        while queue_depth(srv.data_dir) and time.monotonic() - t_clear < 60:
            time.sleep(0.1)
        clear_s = time.monotonic() - t_clear
        left = queue_depth(srv.data_dir)
    accept_rps = accepted / args.duration_s
    drain_rps = drained_in_window / args.duration_s
    report.add(Figure("accept p50", latency.p50_ms, "ms", base_latency.p50_ms, "echo p50", max_value=3.0))
    report.add(Figure("accept p99", latency.p99_ms, "ms", base_latency.p99_ms, "echo p99"))
    report.add(Figure("accepted events/s", accept_rps, "/s", int(base_load["ok"]) / args.duration_s,  # type: ignore[call-overload]
                      "echo req/s, same load", min_value=1000.0))
    report.add(Figure("drained events/s (same window)", drain_rps, "/s", accept_rps, "accepted/s", min_value=0.9 * accept_rps))
    report.add(Figure("backlog cleared after load", clear_s, "s", max_value=5.0))
    # Where the CPU goes per event (2 cores shared by the load generator, the server and the
    # sandboxes): the headroom to the target on a slower machine.
    per_event = 1e6 / max(1, accepted)
    report.add(Figure("server CPU per event (accept + dispatch)", server_cpu * per_event, "µs"))
    report.add(Figure("sandbox CPU per event", sandbox_cpu * per_event, "µs"))
    report.add(Figure("load generator CPU per event", float(load["cpu_s"]) * per_event, "µs"))  # type: ignore[arg-type]
    report.add(Figure("errors", errors + int(load["errors"]) + left, "", max_value=0))  # type: ignore[call-overload]
    report.info.update({"accepted": accepted, "backlog_at_end_of_load": backlog, "left_after_60s": left,
                        "connections": args.connections, "load_client_cpu_s": load["cpu_s"],
                        "error_examples": load["error_examples"]})
    report.notes.append("durability: each 202 is sent only after the SQLite WAL commit (synchronous=FULL) of a group "
                        "commit that includes it")
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
