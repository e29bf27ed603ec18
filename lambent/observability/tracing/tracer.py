"""Per-invocation tracing: the trace header an invocation runs with, and what is recorded of it.

:meth:`Tracer.begin` runs on every invocation, before the environment is taken: it honours an
incoming ``X-Amzn-Trace-Id`` (or creates a trace), decides ``Sampled`` per the function's
``TracingConfig`` (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html):

- ``PassThrough``: the caller's decision travels on unchanged; with no header, a new trace that
  is not sampled (``Sampled=0``). Lambda records nothing itself.
- ``Active``: the caller's decision if it made one, else X-Ray's default rule (:mod:`.sampler`).
  A sampled invocation gets two new segment ids: the ``AWS::Lambda`` service segment and the
  ``AWS::Lambda::Function`` segment, whose id is the header's ``Parent`` (the function's X-Ray SDK
  attaches its subsegments to it).

:meth:`Tracer.finish` records the segments of a sampled invocation of an Active function (queued
to the trace store, never blocking) and hands the invocation to the span exporter, if one is
configured (OTLP, :mod:`.otlp`). The warm path with PassThrough and no header costs one random
draw and a string format (a few µs), and no ``finish`` (``TraceContext.finish`` is False).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lambent.observability.tracing.header import (
    TraceHeader,
    new_segment_id,
    new_trace_and_segment_id,
    new_trace_id,
    parse,
)
from lambent.observability.tracing.sampler import Sampler
from lambent.observability.tracing.segments import InvocationTiming, Stored, lambda_segments

__all__ = ["FinishedInvocation", "SegmentSink", "SpanExporter", "TraceContext", "Tracer", "account_of_arn"]


#: Where validated segments go (the trace store, with their account); False: dropped.
SegmentSink = Callable[[str, Stored], bool]


@dataclass(frozen=True, slots=True)
class FinishedInvocation:
    """What the span exporter is told of one invocation."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    sampled: bool
    function: str
    version: str
    arn: str
    request_id: str
    memory_mb: int
    cold_start: bool
    error_type: str | None
    start: float
    end: float
    init_ms: float | None


class SpanExporter(Protocol):
    def offer(self, inv: FinishedInvocation) -> None: ...


@dataclass(slots=True)
class TraceContext:
    """One invocation's trace: ``header`` is what the runtime gets (``Lambda-Runtime-Trace-Id``,
    ``_X_AMZN_TRACE_ID``) and what Invoke returns."""

    header: str
    root: str
    sampled: bool
    #: Active and sampled: lambent records the invocation's segments
    record: bool
    service_id: str | None
    function_id: str | None
    caller_parent: str | None
    received: float
    queued_at: float | None = None
    #: whether :meth:`Tracer.finish` has anything to do (segments to record or a span to export);
    #: the invoke path skips the call otherwise
    finish: bool = True


def _stored(doc: dict[str, object]) -> Stored:
    """One of Lambda's own documents (well-formed by construction: no validation pass)."""
    end = doc["end_time"]
    return Stored(str(doc["trace_id"]), str(doc["id"]), None, False, float(doc["start_time"]),  # type: ignore[arg-type]
                  float(end), json.dumps(doc, separators=(",", ":")), False, doc.get("error") is True,  # type: ignore[arg-type]
                  False)


def account_of_arn(arn: str, default: str) -> str:
    """The account of a function ARN (``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]``),
    ``default`` if ``arn`` is not one."""
    parts = arn.split(":", 6)
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "lambda" and len(parts[4]) == 12 and parts[4].isdigit():
        return parts[4]
    return default


class Tracer:
    """Scope: one per server. ``account``: the server's, for an invocation whose ARN names none;
    Lambda's segments of an invocation belong to the account owning the function (its ARN's)."""

    def __init__(self, sink: SegmentSink | None, *, account: str, sampler: Sampler | None = None,
                 exporter: SpanExporter | None = None, clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.account = account
        self.sampler = sampler or Sampler()
        self.exporter = exporter
        self._clock = clock

    def begin(self, mode: str, incoming: str | None, function: str, queued_at: float | None = None) -> TraceContext:
        now = self._clock()
        parsed = parse(incoming) if incoming else None
        if mode != "Active":
            if parsed is None:  # the common case: a header to pass on, nothing to record
                root, parent = new_trace_and_segment_id(now)
                return TraceContext(f"Root={root};Parent={parent};Sampled=0", root, False, False,
                                    None, None, None, now, queued_at, self.exporter is not None)
            sampled = parsed.sampled is True
            header = parsed if parsed.parent else TraceHeader(parsed.root, new_segment_id(), parsed.sampled, parsed.extra)
            if header.sampled is None:
                header = TraceHeader(header.root, header.parent, False, header.extra)
            return TraceContext(header.format(), parsed.root, sampled, False, None, None, parsed.parent, now, queued_at,
                                self.exporter is not None)
        root = parsed.root if parsed is not None else new_trace_id(now)
        decided = parsed.sampled if parsed is not None else None
        sampled = self.sampler.sample(function) if decided is None else decided
        function_id = new_segment_id()
        extra = parsed.extra if parsed is not None else ()
        text = TraceHeader(root, function_id, sampled, extra).format()
        return TraceContext(text, root, sampled, sampled, new_segment_id() if sampled else None,
                            function_id, parsed.parent if parsed is not None else None, now, queued_at,
                            sampled or self.exporter is not None)

    def finish(self, ctx: TraceContext, *, function: str, version: str, arn: str, request_id: str, memory_mb: int,
               duration_ms: float, init_ms: float | None, function_error: str | None,
               error_type: str | None = None) -> None:
        """Record a finished invocation (cheap; nothing blocks)."""
        if not ctx.record and self.exporter is None:
            return
        end = self._clock()
        if ctx.record and self.sink is not None and ctx.service_id and ctx.function_id:
            timing = InvocationTiming(ctx.received, end, duration_ms, init_ms, ctx.queued_at)
            account = account_of_arn(arn, self.account)
            for doc in lambda_segments(trace_id=ctx.root, service_id=ctx.service_id, function_id=ctx.function_id,
                                       caller_parent=ctx.caller_parent, function=function, arn=arn, account=account,
                                       request_id=request_id, timing=timing, function_error=function_error):
                self.sink(account, _stored(doc))
        if self.exporter is not None:
            self.exporter.offer(FinishedInvocation(
                trace_id=ctx.root, span_id=ctx.function_id or new_segment_id(), parent_span_id=ctx.caller_parent,
                sampled=ctx.sampled, function=function, version=version, arn=arn, request_id=request_id,
                memory_mb=memory_mb, cold_start=init_ms is not None, error_type=error_type or function_error,
                start=max(ctx.received, end - duration_ms / 1000 - (init_ms or 0) / 1000), end=end, init_ms=init_ms,
            ))
