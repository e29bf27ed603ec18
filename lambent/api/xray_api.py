"""AWS X-Ray API (2016-04-12, rest-json, SigV4 scope ``xray``) on the protocol layer:
PutTraceSegments, GetTraceSummaries, BatchGetTraces.

Traces live in the trace store (``platform.trace_store``, lambent/store/traces.py), per account:
a caller sees and adds to its own account's traces only. Segment validation, trace assembly,
summaries and the filter-expression subset are the domain's (lambent/observability/tracing/);
this module registers the handlers, runs the store's reads in a thread and maps refusals to
X-Ray's errors (envelopes.py's ``xray`` table: InvalidRequestException, ThrottledException).

Bounds (abuse cases: docs/security.md): PutTraceSegments takes at most
:data:`MAX_DOCUMENTS_PER_CALL` documents of at most 64 KB each (the rest of the request by the
endpoint's body cap); what the store's queue cannot take comes back in UnprocessedTraceSegments
(``Throttled``), never silently dropped. GetTraceSummaries looks at most
:data:`MAX_SCANNED` traces per page and a time range of at most 24 hours (X-Ray's own limit);
BatchGetTraces takes at most 5 trace ids (X-Ray's) and returns at most 1000 segments per trace.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import datetime
from typing import Any

from lambent.api.dispatch import Call
from lambent.api.services import XRAY
from lambent.errors import InvalidParameterValue
from lambent.observability.tracing.header import valid_trace_id
from lambent.observability.tracing.query import FilterError, assemble, compile_filter, summarise
from lambent.observability.tracing.segments import SegmentError, check

__all__ = ["MAX_DOCUMENTS_PER_CALL", "MAX_SCANNED"]

MAX_DOCUMENTS_PER_CALL = 500
#: Traces looked at per GetTraceSummaries page (TracesProcessedCount).
MAX_SCANNED = 2000
_PAGE = 100
_MAX_RANGE_S = 24 * 3600
_MAX_BATCH_IDS = 5


@XRAY.register("PutTraceSegments", handled={"TraceSegmentDocuments": None})
async def put_trace_segments(call: Call) -> dict[str, Any]:
    docs: list[str] = call.params.get("TraceSegmentDocuments") or []
    if len(docs) > MAX_DOCUMENTS_PER_CALL:
        raise InvalidParameterValue(f"At most {MAX_DOCUMENTS_PER_CALL} trace segment documents per call.")
    account = call.principal.account_id
    unprocessed: list[dict[str, str]] = []
    for text in docs:
        try:
            seg = check(text)
        except SegmentError as exc:
            entry = {"ErrorCode": exc.code, "Message": exc.message}
            if exc.segment_id:
                entry["Id"] = exc.segment_id
            unprocessed.append(entry)
            continue
        if not call.platform.record_segment(account, seg):
            unprocessed.append({"Id": seg.segment_id, "ErrorCode": "Throttled", "Message": "the trace store is busy"})
    return {"UnprocessedTraceSegments": unprocessed}


def _epoch(value: Any, name: str) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    raise InvalidParameterValue(f"{name} must be a timestamp.")


def _token_in(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameterValue("Invalid NextToken.") from None
    if value < 0:
        raise InvalidParameterValue("Invalid NextToken.")
    return value


def _token_out(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


@XRAY.register("GetTraceSummaries", handled=dict.fromkeys(
    ["StartTime", "EndTime", "TimeRangeType", "Sampling", "FilterExpression", "NextToken"]))
async def get_trace_summaries(call: Call) -> dict[str, Any]:
    p = call.params
    start, end = _epoch(p["StartTime"], "StartTime"), _epoch(p["EndTime"], "EndTime")
    if end < start:
        raise InvalidParameterValue("EndTime must be after StartTime.")
    if end - start > _MAX_RANGE_S:
        raise InvalidParameterValue("The time range between StartTime and EndTime is at most 24 hours.")
    if p.get("TimeRangeType") not in (None, "TraceId", "Event"):
        raise InvalidParameterValue("TimeRangeType must be TraceId or Event (Service is not supported: docs/parity.md).")
    try:
        keep = compile_filter(p.get("FilterExpression"))
    except FilterError as exc:
        raise InvalidParameterValue(str(exc)) from None
    offset = _token_in(p.get("NextToken"))
    store = call.platform.trace_store
    account = call.principal.account_id

    def read() -> tuple[list[dict[str, Any]], int, int | None]:
        out: list[dict[str, Any]] = []
        scanned = 0
        position = offset
        while len(out) < _PAGE and scanned < MAX_SCANNED:
            batch = store.summaries(account, start, end, offset=position, limit=min(200, MAX_SCANNED - scanned))
            if not batch:
                return out, scanned, None
            rows = store.segments(account, [b.trace_id for b in batch])
            for b in batch:
                position += 1
                scanned += 1
                summary = summarise(assemble(b.trace_id, rows.get(b.trace_id, [])))
                if keep is None or keep(summary):
                    out.append(summary.shape())
                    if len(out) >= _PAGE:
                        break
        return out, scanned, position

    summaries, scanned, next_offset = await asyncio.to_thread(read)
    result: dict[str, Any] = {"TraceSummaries": summaries, "ApproximateTime": datetime.now().astimezone(),
                              "TracesProcessedCount": scanned}
    if next_offset is not None:
        result["NextToken"] = _token_out(next_offset)
    return result


@XRAY.register("BatchGetTraces", handled={"TraceIds": None, "NextToken": None})
async def batch_get_traces(call: Call) -> dict[str, Any]:
    ids: list[str] = call.params.get("TraceIds") or []
    if len(ids) > _MAX_BATCH_IDS:
        raise InvalidParameterValue(f"At most {_MAX_BATCH_IDS} trace ids per call.")
    if call.params.get("NextToken"):
        _token_in(call.params["NextToken"])  # every answer fits one page: a token is never returned
    wanted = [t.lower() for t in ids]
    store = call.platform.trace_store
    account = call.principal.account_id
    rows = await asyncio.to_thread(store.segments, account, [t for t in wanted if valid_trace_id(t)])
    traces: list[dict[str, Any]] = []
    unprocessed: list[str] = []
    for original, tid in zip(ids, wanted, strict=True):
        found = rows.get(tid)
        if not found:
            unprocessed.append(original)
            continue
        view = assemble(tid, found)
        traces.append({
            "Id": tid, "Duration": round(max(0.0, view.end - view.start), 3), "LimitExceeded": len(found) >= 1000,
            "Segments": [{"Id": str(s.get("id")), "Document": json.dumps(s, separators=(",", ":"))} for s in view.segments],
        })
    return {"Traces": traces, "UnprocessedTraceIds": unprocessed}
