"""What tracing costs a warm invoke: ``Tracer.begin`` + ``finish`` (+ the request copy the invoke
service makes), in process, no server, against a baseline measured in the same run.

Cases (each interleaved with the baseline, so load changes hit all alike):

* PassThrough, no incoming header (the common case): a new unsampled trace — target a few µs;
* PassThrough with a sampled caller header: parsed and passed on;
* Active, sampled (recording): Lambda's two segment documents built, validated and queued;
* Active with OTLP export on (a queue append; spans are made on the exporter's thread) — the
  exporter points at a closed loopback port and nothing is ever sent anywhere else.

Baseline: what the invoke path does per invocation without tracing of the same kind — building
the ``InvokeRequest`` (a frozen dataclass) it hands to the environment.

Usage: python benchmarks/tracing_overhead.py [--requests 20000] [--json PATH]
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Figure, Report, arg_parser  # noqa: E402

from lambent.observability.tracing import Sampler, Stored, Tracer  # noqa: E402
from lambent.worker.environment import InvokeRequest  # noqa: E402

ARN = "arn:aws:lambda:us-east-1:000000000000:function:bench"
HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def batched_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    report = Report("tracing_overhead", "X-Ray tracing per warm invoke (in process)")
    stored: list[Stored] = []

    def sink(account: str, seg: Stored) -> bool:
        if len(stored) > 10_000:
            stored.clear()
        stored.append(seg)
        return True

    tracer = Tracer(sink, account="000000000000", sampler=Sampler(1_000_000_000, 1.0))
    req = InvokeRequest(request_id="r", payload=b"{}", invoked_arn=ARN)

    def baseline() -> object:
        return InvokeRequest(request_id="r", payload=b"{}", invoked_arn=ARN)

    def case(mode: str, incoming: str | None, t: Tracer) -> Callable[[], object]:
        def run() -> object:
            InvokeRequest(request_id="r", payload=b"{}", invoked_arn=ARN)
            ctx = t.begin(mode, incoming, "bench")
            r = req.with_trace(ctx.header)  # what InvokeService does
            if ctx.finish:  # as InvokeService: nothing to record, no call
                t.finish(ctx, function="bench", version="$LATEST", arn=ARN, request_id="r", memory_mb=128,
                         duration_ms=1.0, init_ms=None, function_error=None)
            return r
        return run

    port_sock = socket.socket()
    port_sock.bind(("127.0.0.1", 0))
    closed_port = port_sock.getsockname()[1]
    port_sock.close()
    from lambent.observability.tracing.otlp import OtlpExporter

    exporter = OtlpExporter(f"http://127.0.0.1:{closed_port}/v1/traces", max_queued=2048, timeout_s=0.2)
    exported = Tracer(sink, account="000000000000", sampler=Sampler(1_000_000_000, 1.0), exporter=exporter)
    cases = {
        "PassThrough, no header": case("PassThrough", None, tracer),
        "PassThrough, sampled caller header": case("PassThrough", HEADER, tracer),
        "Active, sampled (segments recorded)": case("Active", None, tracer),
        "Active, sampled + OTLP queue": case("Active", None, exported),
    }
    batch = 20
    samples: dict[str, list[float]] = {name: [] for name in cases}
    base: list[float] = []
    try:
        for fn in (baseline, *cases.values()):
            fn()
        for _ in range(max(1, args.requests // batch)):
            base.append(batched_us(baseline, batch))
            for name, fn in cases.items():
                samples[name].append(batched_us(fn, batch))
    finally:
        exporter.close()
    b50 = statistics.median(base)
    for name, values in samples.items():
        p50 = statistics.median(values)
        limit = 10.0 if name == "PassThrough, no header" else None
        report.add(Figure(f"{name}: added per invoke (p50)", p50 - b50, "µs", max_value=limit))
        report.add(Figure(f"{name}: p50 with tracing", p50, "µs", b50, "InvokeRequest only (µs)"))
    report.info.update({"requests": len(base) * batch, "otlp_dropped": exporter.dropped})
    report.notes.append("the warm invoke path itself is ~100-300 µs (warm_invoke.py): the PassThrough figure is "
                        "the ≤ 5 % budget's share for tracing")
    report.emit(args.json)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
