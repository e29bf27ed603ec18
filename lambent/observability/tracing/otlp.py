"""OTLP export of invocations (OpenTelemetry SDK, OTLP/HTTP protobuf), off by default.

When ``tracing.otlp_endpoint`` is set, every finished invocation becomes one span (kind SERVER,
named after the function) in the invocation's X-Ray trace (the X-Ray trace id ``1-xxxxxxxx-yyyy…``
is the OpenTelemetry trace id ``xxxxxxxxyyyy…``, as the AWS X-Ray propagator maps them), with
OpenTelemetry's FaaS semantic conventions
(https://opentelemetry.io/docs/specs/semconv/faas/faas-spans/): ``faas.name``, ``faas.version``,
``faas.invocation_id``, ``faas.coldstart``, ``faas.max_memory`` (bytes), ``cloud.resource_id``
(the ARN invoked), ``cloud.provider`` ``aws``, and ``error.type`` for a function error.

Never on the invoke path: :meth:`OtlpExporter.offer` appends to a bounded deque (full: dropped and
counted in :attr:`OtlpExporter.dropped`); one thread turns records into spans, and the SDK's
BatchSpanProcessor (its own bounded queue and export thread, an export timeout) sends them. A
collector that is down or slow costs the server a thread, never an invocation.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from lambent.observability.tracing.tracer import FinishedInvocation

__all__ = ["OtlpExporter", "otel_trace_id"]

log = logging.getLogger(__name__)


def otel_trace_id(xray_root: str) -> int:
    """``1-5759e988-bd862e3fe1be46a994272793`` -> the 128-bit OpenTelemetry trace id."""
    return int(xray_root[2:10] + xray_root[11:], 16)


class OtlpExporter:
    """Scope: one per server; :meth:`close` flushes and stops."""

    def __init__(self, endpoint: str, *, max_queued: int = 2048, timeout_s: float = 5.0,
                 service_name: str = "lambent", region: str = "") -> None:
        attrs: dict[str, str] = {"service.name": service_name, "cloud.provider": "aws"}
        if region:
            attrs["cloud.region"] = region
        self._provider = TracerProvider(resource=Resource.create(attrs), sampler=ALWAYS_ON)
        self._processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s),
                                             max_queue_size=max_queued, max_export_batch_size=min(512, max_queued),
                                             schedule_delay_millis=500,
                                             export_timeout_millis=int(timeout_s * 1000))
        self._provider.add_span_processor(self._processor)
        self._tracer = self._provider.get_tracer("lambent")
        self.max_queued = max_queued
        self._inbox: deque[FinishedInvocation] = deque()
        self._wake = threading.Event()
        self._stop = False
        #: invocations not exported because the queue was full
        self.dropped = 0
        #: spans handed to the SDK
        self.spans = 0
        self._thread = threading.Thread(target=self._run, name="otlp-spans", daemon=True)
        self._thread.start()

    def offer(self, inv: FinishedInvocation) -> None:
        """Cheap, never blocks."""
        if self._stop or len(self._inbox) >= self.max_queued:
            self.dropped += 1
            return
        self._inbox.append(inv)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            while self._inbox:
                inv = self._inbox.popleft()
                try:
                    self._span(inv)
                except Exception:  # noqa: BLE001 - a bad record never stops the exporter
                    log.exception("otlp: could not make a span of %s", inv.request_id)
            if self._stop:
                return

    def _span(self, inv: FinishedInvocation) -> None:
        parent_id = int(inv.parent_span_id, 16) if inv.parent_span_id else int(inv.span_id, 16)
        flags = TraceFlags(TraceFlags.SAMPLED if inv.sampled else TraceFlags.DEFAULT)
        parent = SpanContext(otel_trace_id(inv.trace_id), parent_id, is_remote=True, trace_flags=flags)
        ctx = trace.set_span_in_context(NonRecordingSpan(parent))
        attributes: dict[str, str | bool | int] = {
            "faas.name": inv.function, "faas.version": inv.version, "faas.invocation_id": inv.request_id,
            "faas.coldstart": inv.cold_start, "faas.max_memory": inv.memory_mb * 1024 * 1024,
            "cloud.resource_id": inv.arn, "cloud.provider": "aws", "aws.xray.trace_id": inv.trace_id,
        }
        if inv.init_ms is not None:
            attributes["lambent.init_duration_ms"] = int(inv.init_ms)
        if inv.error_type:
            attributes["error.type"] = inv.error_type
        span = self._tracer.start_span(inv.function, context=ctx, kind=SpanKind.SERVER, attributes=attributes,
                                       start_time=int(inv.start * 1e9))
        if inv.error_type:
            span.set_status(Status(StatusCode.ERROR, inv.error_type))
        span.end(end_time=int(inv.end * 1e9))
        self.spans += 1

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until queued records are spans and the SDK exported them (tests, shutdown)."""
        deadline = threading.Event()
        for _ in range(int(timeout_s * 20)):
            if not self._inbox:
                break
            self._wake.set()
            deadline.wait(0.05)
        return bool(self._provider.force_flush(int(timeout_s * 1000)))

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._provider.shutdown()
