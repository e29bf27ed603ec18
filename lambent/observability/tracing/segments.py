"""The segment documents Lambda records for one traced invocation, and their validation.

Lambda's segments (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html, "Understanding
X-Ray traces"): an ``AWS::Lambda`` segment for the service (the invoke as the Lambda service saw
it; for an event, a ``Dwell Time`` subsegment for the time it waited in the queue) and, as its
child, an ``AWS::Lambda::Function`` segment named after the function, with the subsegments
``Initialization`` (cold starts only), ``Invocation`` and ``Overhead``. Both carry the function's
ARN as ``resource_arn`` and the request id. The function segment's id is the ``Parent`` of the
trace header the runtime gets, so what the function's X-Ray SDK records hangs under it.

Documents follow the segment document schema
(https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html). :func:`check`
validates a document that comes from outside (daemon datagrams, PutTraceSegments): required
fields, their formats, a bounded size and nesting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambent.observability.tracing.header import valid_segment_id, valid_trace_id

__all__ = ["InvocationTiming", "MAX_DEPTH", "MAX_DOCUMENT_BYTES", "SegmentError", "Stored", "check", "lambda_segments"]

#: A segment document (daemon datagrams are at most 64 KB; PutTraceSegments documents likewise).
MAX_DOCUMENT_BYTES = 64 * 1024
#: Subsegment nesting accepted.
MAX_DEPTH = 32


class SegmentError(ValueError):
    """A document that is not a valid segment: (error code, message) as PutTraceSegments
    reports it in UnprocessedTraceSegments."""

    def __init__(self, code: str, message: str, segment_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.segment_id = segment_id


@dataclass(frozen=True, slots=True)
class Stored:
    """One validated document, ready for the trace store."""

    trace_id: str
    segment_id: str
    #: the parent's id for a subsegment sent on its own (``type: subsegment``), else None
    parent_id: str | None
    is_subsegment: bool
    start: float
    end: float | None
    document: str
    fault: bool
    error: bool
    throttle: bool


def _number(doc: dict[str, Any], key: str, sid: str | None) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e11:
        raise SegmentError("InvalidSegment", f"{key} must be epoch seconds", sid)
    return float(value)


def _depth(value: Any, depth: int = 0) -> int:
    if depth > MAX_DEPTH:
        return depth
    if isinstance(value, dict):
        return max([_depth(v, depth + 1) for v in value.values()] or [depth])
    if isinstance(value, list):
        return max([_depth(v, depth + 1) for v in value] or [depth])
    return depth


def check(text: str | bytes) -> Stored:
    """Validate one document (JSON text). Raises :class:`SegmentError`."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise SegmentError("DocumentTooLarge", f"a segment document is at most {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise SegmentError("InvalidJson", "the segment document is not valid JSON") from None
    if not isinstance(doc, dict):
        raise SegmentError("InvalidSegment", "a segment document is a JSON object")
    sid = doc.get("id")
    if not isinstance(sid, str) or not valid_segment_id(sid):
        raise SegmentError("MissingId", "id must be 16 hexadecimal digits")
    trace_id = doc.get("trace_id")
    if not isinstance(trace_id, str) or not valid_trace_id(trace_id):
        raise SegmentError("InvalidTraceId", "trace_id must be 1-<8 hex digits>-<24 hex digits>", sid)
    is_sub = doc.get("type") == "subsegment"
    name = doc.get("name")
    if not is_sub or name is not None:
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise SegmentError("InvalidSegment", "name must be 1 to 200 characters", sid)
    start = _number(doc, "start_time", sid)
    if start is None:
        raise SegmentError("InvalidSegment", "start_time is required", sid)
    end = _number(doc, "end_time", sid)
    if end is None and doc.get("in_progress") is not True:
        raise SegmentError("InvalidSegment", "end_time or in_progress is required", sid)
    parent = doc.get("parent_id")
    if parent is not None and (not isinstance(parent, str) or not valid_segment_id(parent)):
        raise SegmentError("InvalidSegment", "parent_id must be 16 hexadecimal digits", sid)
    if is_sub and parent is None:
        raise SegmentError("InvalidSegment", "a subsegment sent on its own needs parent_id", sid)
    if _depth(doc) > MAX_DEPTH:
        raise SegmentError("InvalidSegment", f"subsegments nest at most {MAX_DEPTH} deep", sid)
    body = text.decode() if isinstance(text, bytes) else text
    return Stored(trace_id, sid, parent, is_sub, start, end, body, doc.get("fault") is True,
                  doc.get("error") is True, doc.get("throttle") is True)


@dataclass(frozen=True, slots=True)
class InvocationTiming:
    """When the phases of one invocation ran (epoch seconds)."""

    received: float
    end: float
    duration_ms: float
    init_ms: float | None
    queued_at: float | None = None


def lambda_segments(*, trace_id: str, service_id: str, function_id: str, caller_parent: str | None, function: str,
                    arn: str, account: str, request_id: str, timing: InvocationTiming, function_error: str | None,
                    status: int = 200) -> list[dict[str, Any]]:
    """The two segment documents Lambda records for one sampled invocation of an Active function."""
    t = timing
    invocation_end = min(t.end, max(t.received, t.end - t.duration_ms / 1000))
    invocation_start = max(t.received, invocation_end - t.duration_ms / 1000)
    invocation_end = invocation_start + t.duration_ms / 1000
    first = invocation_start
    subsegments: list[dict[str, Any]] = []
    if t.init_ms is not None:
        init_start = max(t.received, invocation_start - t.init_ms / 1000)
        first = init_start
        subsegments.append({"id": _sub_id(function_id, 1), "name": "Initialization", "start_time": init_start,
                            "end_time": invocation_start, "aws": {"function_arn": arn}})
    invocation: dict[str, Any] = {"id": _sub_id(function_id, 2), "name": "Invocation", "start_time": invocation_start,
                                  "end_time": invocation_end, "aws": {"function_arn": arn}}
    if function_error:
        invocation["error"] = True
    subsegments.append(invocation)
    subsegments.append({"id": _sub_id(function_id, 3), "name": "Overhead", "start_time": invocation_end,
                        "end_time": max(invocation_end, t.end), "aws": {"function_arn": arn}})
    fn_segment: dict[str, Any] = {
        "id": function_id, "trace_id": trace_id, "parent_id": service_id, "name": function,
        "origin": "AWS::Lambda::Function", "start_time": first, "end_time": max(invocation_end, t.end),
        "resource_arn": arn, "aws": {"account_id": account, "function_arn": arn, "resource_names": [function],
                                     "request_id": request_id},
        "subsegments": subsegments,
    }
    if function_error:
        fn_segment["error"] = True
        fn_segment["cause"] = {"exceptions": [{"id": _sub_id(function_id, 4), "message": function_error}]}
    service_start = t.queued_at if t.queued_at is not None else t.received
    service: dict[str, Any] = {
        "id": service_id, "trace_id": trace_id, "name": function, "origin": "AWS::Lambda",
        "start_time": min(service_start, first), "end_time": max(invocation_end, t.end), "resource_arn": arn,
        "http": {"response": {"status": status}},
        "aws": {"account_id": account, "request_id": request_id, "resource_names": [function]},
    }
    if caller_parent:
        service["parent_id"] = caller_parent
    if t.queued_at is not None:
        service["subsegments"] = [{"id": _sub_id(service_id, 1), "name": "Dwell Time", "start_time": t.queued_at,
                                   "end_time": max(t.queued_at, t.received)},
                                  {"id": _sub_id(service_id, 2), "name": "Attempt #1", "start_time": t.received,
                                   "end_time": max(invocation_end, t.end),
                                   "http": {"response": {"status": status}}}]
    return [service, fn_segment]


def _sub_id(base: str, n: int) -> str:
    """A subsegment id derived from its segment's (unique within the trace, no random draw)."""
    return f"{(int(base, 16) ^ (n * 0x9E3779B97F4A7C15)) & 0xFFFFFFFFFFFFFFFF:016x}"
