"""Reading traces as the X-Ray API answers: whole traces (BatchGetTraces) and trace summaries
(GetTraceSummaries), with the subset of X-Ray's filter expressions lambent supports. Pure: the
rows come from the trace store.

Subsegments sent on their own (the X-Ray SDK streams each one as it ends, ``type:
subsegment``) are put back into the segment (or subsegment) they name as ``parent_id``, as X-Ray
does; one whose parent never arrived is returned as a segment of its own, so nothing received is
hidden. A document received twice (``in_progress`` first, then complete) counts once: the last.

Filter expressions (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html),
the supported subset: the keywords ``ok``, ``error``, ``fault``, ``throttle`` (alone or ``=
true``/``= false``), ``partial``, ``duration`` and ``responsetime`` compared with ``< <= > >= =
!=`` to a number of seconds, ``service("name")`` and ``id("trace id")``, joined by ``AND`` (or
``&&``). Anything else is refused with InvalidRequestException naming the part not understood.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

__all__ = ["FilterError", "Summary", "TraceView", "compile_filter", "assemble", "summarise"]


class Row(Protocol):
    @property
    def trace_id(self) -> str: ...
    @property
    def segment_id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def is_subsegment(self) -> bool: ...
    @property
    def document(self) -> str: ...


class FilterError(ValueError):
    pass


@dataclass
class TraceView:
    """One trace, its segments assembled."""

    trace_id: str
    segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def start(self) -> float:
        return min((float(s.get("start_time", 0)) for s in self.segments), default=0.0)

    @property
    def end(self) -> float:
        ends = [float(s["end_time"]) for s in self.segments if isinstance(s.get("end_time"), (int, float))]
        return max(ends, default=self.start)


def assemble(trace_id: str, rows: Iterable[Row]) -> TraceView:
    """The trace's segments with their streamed subsegments put back in place."""
    top: dict[str, dict[str, Any]] = {}
    loose: dict[str, dict[str, Any]] = {}
    for row in rows:
        try:
            doc = json.loads(row.document)
        except ValueError:
            continue
        (loose if row.is_subsegment else top)[row.segment_id] = doc
    index: dict[str, dict[str, Any]] = {}

    def register(entity: dict[str, Any], depth: int = 0) -> None:
        sid = entity.get("id")
        if isinstance(sid, str):
            index[sid] = entity
        if depth < 64:
            for sub in entity.get("subsegments") or []:
                if isinstance(sub, dict):
                    register(sub, depth + 1)

    for doc in top.values():
        register(doc)
    pending = dict(loose)
    progress = True
    while pending and progress:
        progress = False
        for sid, doc in list(pending.items()):
            parent = index.get(str(doc.get("parent_id")))
            if parent is None:
                continue
            children = parent.setdefault("subsegments", [])
            if isinstance(children, list):
                doc = {k: v for k, v in doc.items() if k not in ("type", "trace_id", "parent_id")}
                children[:] = [c for c in children if not (isinstance(c, dict) and c.get("id") == sid)]
                children.append(doc)
                register(doc)
            del pending[sid]
            progress = True
    return TraceView(trace_id, [*top.values(), *pending.values()])


@dataclass(frozen=True)
class Summary:
    trace_id: str
    start: float
    duration: float
    response_time: float
    has_fault: bool
    has_error: bool
    has_throttle: bool
    is_partial: bool
    services: tuple[tuple[str, str], ...]  # (name, origin/type)
    resource_arns: tuple[str, ...]
    entry: tuple[str, str] | None

    def shape(self) -> dict[str, Any]:
        """The model's TraceSummary."""
        out: dict[str, Any] = {
            "Id": self.trace_id, "StartTime": datetime.fromtimestamp(self.start, timezone.utc), "Duration": round(self.duration, 3),
            "ResponseTime": round(self.response_time, 3), "HasFault": self.has_fault, "HasError": self.has_error,
            "HasThrottle": self.has_throttle, "IsPartial": self.is_partial,
            "ServiceIds": [{"Name": n, "Names": [n], "Type": t} for n, t in self.services],
            "ResourceARNs": [{"ARN": a} for a in self.resource_arns],
        }
        if self.entry is not None:
            out["EntryPoint"] = {"Name": self.entry[0], "Names": [self.entry[0]], "Type": self.entry[1]}
        return out


def _walk(entity: dict[str, Any], depth: int = 0) -> Iterable[dict[str, Any]]:
    yield entity
    if depth < 64:
        for sub in entity.get("subsegments") or []:
            if isinstance(sub, dict):
                yield from _walk(sub, depth + 1)


def summarise(view: TraceView) -> Summary:
    fault = error = throttle = partial = False
    for seg in view.segments:
        for ent in _walk(seg):
            fault = fault or ent.get("fault") is True
            error = error or ent.get("error") is True
            throttle = throttle or ent.get("throttle") is True
            partial = partial or ent.get("in_progress") is True
    ids = {s.get("id") for s in view.segments}
    roots = [s for s in view.segments if s.get("parent_id") not in ids] or view.segments
    root = min(roots, key=lambda s: float(s.get("start_time", 0))) if roots else None
    services: dict[tuple[str, str], None] = {}
    arns: dict[str, None] = {}
    for seg in view.segments:
        if isinstance(seg.get("name"), str):
            services[(seg["name"], str(seg.get("origin") or "client"))] = None
        if isinstance(seg.get("resource_arn"), str):
            arns[seg["resource_arn"]] = None
    response = 0.0
    if root is not None and isinstance(root.get("end_time"), (int, float)):
        response = float(root["end_time"]) - float(root.get("start_time", 0))
    entry = (str(root.get("name")), str(root.get("origin") or "client")) if root is not None and root.get("name") else None
    return Summary(view.trace_id, view.start, max(0.0, view.end - view.start), max(0.0, response), fault, error,
                   throttle, partial, tuple(services), tuple(arns), entry)


# -- filter expressions --------------------------------------------------------------------------
Predicate = Callable[[Summary], bool]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq, "!=": operator.ne,
}
_FLAG = re.compile(r"(ok|error|fault|throttle|partial)(?:\s*(=|!=)\s*(true|false))?\Z", re.I)
_NUM = re.compile(r"(duration|responsetime)\s*(<=|>=|!=|<|>|=)\s*([0-9]+(?:\.[0-9]+)?)\Z", re.I)
_FUNC = re.compile(r"(service|id)\(\s*\"([^\"]{1,200})\"\s*\)\Z", re.I)
_AND = re.compile(r"\s+(?:and)\s+|\s*&&\s*", re.I)

MAX_FILTER_CHARS = 2000


def _flag(name: str, s: Summary) -> bool:
    if name == "ok":
        return not (s.has_error or s.has_fault or s.has_throttle)
    return {"error": s.has_error, "fault": s.has_fault, "throttle": s.has_throttle, "partial": s.is_partial}[name]


def _term(text: str) -> Predicate:
    m = _FLAG.match(text)
    if m:
        name, op, value = m.group(1).lower(), m.group(2), (m.group(3) or "true").lower()
        want = (value == "true") != (op == "!=")
        return lambda s: _flag(name, s) is want
    m = _NUM.match(text)
    if m:
        key, cmp, number = m.group(1).lower(), _OPS[m.group(2)], float(m.group(3))
        if key == "duration":
            return lambda s: cmp(s.duration, number)
        return lambda s: cmp(s.response_time, number)
    m = _FUNC.match(text)
    if m:
        kind, value = m.group(1).lower(), m.group(2)
        if kind == "service":
            return lambda s: any(name == value for name, _ in s.services)
        return lambda s: s.trace_id == value.lower()
    raise FilterError(f"Unsupported filter expression: {text!r} (docs/parity.md lists the supported subset)")


def compile_filter(expression: str | None) -> Predicate | None:
    if not expression or not expression.strip():
        return None
    if len(expression) > MAX_FILTER_CHARS:
        raise FilterError(f"FilterExpression is at most {MAX_FILTER_CHARS} characters")
    terms: Sequence[Predicate] = [_term(part.strip()) for part in _AND.split(expression.strip())]
    return lambda s: all(t(s) for t in terms)
