"""The OTLP exporter never blocks its caller: a collector that is down costs dropped spans, counted."""

from __future__ import annotations

import socket
import time

from lambent.observability.tracing.otlp import OtlpExporter, otel_trace_id
from lambent.observability.tracing.tracer import FinishedInvocation


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def inv(i: int) -> FinishedInvocation:
    return FinishedInvocation("1-5759e988-bd862e3fe1be46a994272793", f"{i + 1:016x}", None, True, "fn", "1",
                              "arn:aws:lambda:us-east-1:0:function:fn", f"r{i}", 128, False, None, 1.0, 2.0, None)


def test_trace_id_mapping() -> None:
    assert otel_trace_id("1-5759e988-bd862e3fe1be46a994272793") == 0x5759E988BD862E3FE1BE46A994272793


def test_offers_are_cheap_and_bounded_with_the_collector_down() -> None:
    exporter = OtlpExporter(f"http://127.0.0.1:{_closed_port()}/v1/traces", max_queued=100, timeout_s=0.2)
    try:
        t0 = time.perf_counter()
        for i in range(5000):
            exporter.offer(inv(i))
        elapsed = time.perf_counter() - t0
        assert elapsed < 1.0, elapsed  # 5,000 offers: a deque append each, nothing waits for the network
        assert exporter.dropped > 0 and exporter.dropped + len(exporter._inbox) + exporter.spans <= 5000
    finally:
        exporter.close()
    exporter.offer(inv(0))  # closed: dropped, not raised
    assert exporter.dropped >= 1
