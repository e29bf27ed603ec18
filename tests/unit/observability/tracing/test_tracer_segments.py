"""Tracer decisions per TracingConfig, Lambda's segment documents, validation, assembly, summaries, filters."""

from __future__ import annotations

import json

import pytest

from lambent.observability.tracing.header import parse
from lambent.observability.tracing.query import FilterError, assemble, compile_filter, summarise
from lambent.observability.tracing.sampler import Sampler
from lambent.observability.tracing.segments import MAX_DEPTH, SegmentError, Stored, check
from lambent.observability.tracing.tracer import FinishedInvocation, Tracer, account_of_arn
from lambent.store.traces import SegmentRow

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, Stored]] = []

    def __call__(self, account: str, seg: Stored) -> bool:
        self.got.append((account, seg))
        return True


class Exporter:
    def __init__(self) -> None:
        self.got: list[FinishedInvocation] = []

    def offer(self, inv: FinishedInvocation) -> None:
        self.got.append(inv)


def tracer(sink: Sink, sampled: bool = True) -> Tracer:
    return Tracer(sink, account="111122223333", sampler=Sampler(1 if sampled else 0, 0.0), clock=lambda: 1000.0)


def test_passthrough_without_header_creates_an_unsampled_trace() -> None:
    sink = Sink()
    ctx = tracer(sink).begin("PassThrough", None, "fn")
    h = parse(ctx.header)
    assert h is not None and h.sampled is False and h.parent and not ctx.record
    tracer(sink).finish(ctx, function="fn", version="$LATEST", arn=ARN, request_id="r", memory_mb=128,
                        duration_ms=1, init_ms=None, function_error=None)
    assert sink.got == []


def test_passthrough_passes_the_callers_decision_on() -> None:
    ctx = tracer(Sink()).begin("PassThrough", f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1", "fn")
    assert ctx.header == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1" and ctx.sampled and not ctx.record


def test_active_samples_by_the_rule_when_the_caller_did_not_decide() -> None:
    t = tracer(Sink(), sampled=False)
    ctx = t.begin("Active", None, "fn")
    assert parse(ctx.header).sampled is False and not ctx.record  # type: ignore[union-attr]
    ctx = tracer(Sink()).begin("Active", f"Root={ROOT}", "fn")
    h = parse(ctx.header)
    assert h is not None and h.root == ROOT and h.sampled is True and h.parent == ctx.function_id and ctx.record


def test_active_honours_the_callers_no() -> None:
    ctx = tracer(Sink()).begin("Active", f"Root={ROOT};Sampled=0", "fn")
    assert not ctx.record and parse(ctx.header).sampled is False  # type: ignore[union-attr]


def test_active_records_lambdas_two_segments_with_subsegments() -> None:
    sink = Sink()
    t = tracer(sink)
    ctx = t.begin("Active", f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1", "fn")
    ctx.received = 999.0
    t.finish(ctx, function="fn", version="$LATEST", arn=ARN, request_id="req-1", memory_mb=128, duration_ms=200.0,
             init_ms=300.0, function_error="Unhandled")
    assert [a for a, _ in sink.got] == ["000000000000"] * 2  # the function's account (its ARN's)
    service, fn = (json.loads(s.document) for _, s in sink.got)
    assert service["origin"] == "AWS::Lambda" and service["name"] == "fn" and service["parent_id"] == "53995c3f42cd8ad8"
    assert service["trace_id"] == ROOT and service["aws"]["request_id"] == "req-1"
    assert fn["origin"] == "AWS::Lambda::Function" and fn["name"] == "fn" and fn["parent_id"] == service["id"]
    assert fn["id"] == ctx.function_id and fn["error"] is True and fn["resource_arn"] == ARN
    names = [s["name"] for s in fn["subsegments"]]
    assert names == ["Initialization", "Invocation", "Overhead"]
    init, inv, over = fn["subsegments"]
    assert init["end_time"] == pytest.approx(inv["start_time"]) and inv["end_time"] - inv["start_time"] == pytest.approx(0.2)
    assert over["end_time"] == pytest.approx(1000.0) and len({s["id"] for s in fn["subsegments"]} | {fn["id"]}) == 4


def test_segments_belong_to_the_account_owning_the_function() -> None:
    """Lambda's segments of an invocation go to the account in the function's ARN (issue 10),
    whatever the server's account; an ARN naming no account falls back to the server's."""
    sink = Sink()
    t = tracer(sink)
    other = "arn:aws:lambda:us-east-1:444455556666:function:fn:live"
    for arn in (other, "not-an-arn"):
        ctx = t.begin("Active", f"Root={ROOT};Sampled=1", "fn")
        t.finish(ctx, function="fn", version="1", arn=arn, request_id="r", memory_mb=128, duration_ms=5, init_ms=None,
                 function_error=None)
    assert [a for a, _ in sink.got] == ["444455556666"] * 2 + ["111122223333"] * 2
    assert json.loads(sink.got[0][1].document)["aws"]["account_id"] == "444455556666"
    assert account_of_arn("arn:aws:lambda:us-east-1:12345:function:f", "d") == "d"


def test_async_invocations_show_their_queue_time() -> None:
    sink = Sink()
    t = tracer(sink)
    ctx = t.begin("Active", f"Root={ROOT}", "fn", queued_at=990.0)
    t.finish(ctx, function="fn", version="1", arn=ARN, request_id="r", memory_mb=128, duration_ms=5, init_ms=None,
             function_error=None)
    service = json.loads(sink.got[0][1].document)
    assert service["start_time"] == 990.0
    assert [s["name"] for s in service["subsegments"]] == ["Dwell Time", "Attempt #1"]
    assert "Initialization" not in [s["name"] for s in json.loads(sink.got[1][1].document)["subsegments"]]


def test_every_invocation_goes_to_the_exporter_with_its_attributes() -> None:
    exporter = Exporter()
    t = Tracer(None, account="1", exporter=exporter, clock=lambda: 50.0)
    ctx = t.begin("PassThrough", None, "fn")
    ctx.received = 49.0  # the request arrived a second earlier
    t.finish(ctx, function="fn", version="3", arn=ARN, request_id="r9", memory_mb=256, duration_ms=10, init_ms=20,
             function_error="Unhandled", error_type="ValueError")
    (inv,) = exporter.got
    assert (inv.function, inv.version, inv.request_id, inv.memory_mb, inv.cold_start, inv.error_type) == (
        "fn", "3", "r9", 256, True, "ValueError")
    assert inv.trace_id == ctx.root and inv.end == 50.0 and inv.start == pytest.approx(49.97)


def _doc(**over: object) -> str:
    doc: dict[str, object] = {"id": "70de5b6f19ff9a0a", "trace_id": ROOT, "name": "svc", "start_time": 1.0, "end_time": 2.0}
    doc.update(over)
    return json.dumps({k: v for k, v in doc.items() if v is not None})


def test_check_accepts_segments_and_standalone_subsegments() -> None:
    s = check(_doc())
    assert (s.trace_id, s.segment_id, s.is_subsegment, s.start, s.end) == (ROOT, "70de5b6f19ff9a0a", False, 1.0, 2.0)
    sub = check(_doc(type="subsegment", parent_id="53995c3f42cd8ad8", name=None))
    assert sub.is_subsegment and sub.parent_id == "53995c3f42cd8ad8"
    assert check(_doc(end_time=None, in_progress=True)).end is None


@pytest.mark.parametrize(("text", "code"), [
    ("not json", "InvalidJson"),
    ("[1]", "InvalidSegment"),
    (_doc(id="xyz"), "MissingId"),
    (_doc(trace_id="1-abc"), "InvalidTraceId"),
    (_doc(name=""), "InvalidSegment"),
    (_doc(start_time="soon"), "InvalidSegment"),
    (_doc(end_time=None), "InvalidSegment"),
    (_doc(type="subsegment"), "InvalidSegment"),
    (_doc(parent_id="zz"), "InvalidSegment"),
    (_doc(metadata={"x": "a" * 70_000}), "DocumentTooLarge"),
    ("[" * 100_000 + "]" * 100_000, "DocumentTooLarge"),
])
def test_check_refuses_bad_documents(text: str, code: str) -> None:
    with pytest.raises(SegmentError) as info:
        check(text)
    assert info.value.code == code


def test_deep_nesting_is_refused_without_recursion_trouble() -> None:
    nested: dict[str, object] = {}
    cur = nested
    for _ in range(MAX_DEPTH + 5):
        cur["a"] = {}
        cur = cur["a"]  # type: ignore[assignment]
    with pytest.raises(SegmentError):
        check(_doc(metadata=nested))
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(SegmentError):
        check(_doc().replace('"name"', f'"x": {deep}, "name"'))


def _row(text: str) -> SegmentRow:
    s = check(text)
    return SegmentRow("1", s.trace_id, s.segment_id, s.parent_id, s.is_subsegment, s.start, s.end, s.fault, s.error,
                      s.throttle, s.document)


def test_assembly_puts_streamed_subsegments_in_place_and_keeps_orphans() -> None:
    fn = _doc(id="1111111111111111", name="fn", origin="AWS::Lambda::Function", subsegments=[
        {"id": "2222222222222222", "name": "Invocation", "start_time": 1.0, "end_time": 1.5}])
    child = _doc(id="3333333333333333", type="subsegment", parent_id="2222222222222222", name="s3", start_time=1.1)
    grandchild = _doc(id="4444444444444444", type="subsegment", parent_id="3333333333333333", name="get", fault=True)
    orphan = _doc(id="5555555555555555", type="subsegment", parent_id="6666666666666666", name="lost")
    view = assemble(ROOT, [_row(grandchild), _row(child), _row(fn), _row(orphan)])
    assert [s["id"] for s in view.segments] == ["1111111111111111", "5555555555555555"]
    invocation = view.segments[0]["subsegments"][0]
    assert invocation["subsegments"][0]["name"] == "s3"
    assert invocation["subsegments"][0]["subsegments"][0]["name"] == "get"
    summary = summarise(view)
    assert summary.has_fault and not summary.has_error and summary.duration == 1.0
    assert ("fn", "AWS::Lambda::Function") in summary.services


def test_a_resent_document_counts_once() -> None:
    first = _doc(end_time=None, in_progress=True)
    view = assemble(ROOT, [_row(first), _row(_doc())])
    assert len(view.segments) == 1 and not summarise(view).is_partial


def test_filter_subset() -> None:
    view = assemble(ROOT, [_row(_doc(name="fn", error=True, start_time=1.0, end_time=3.5))])
    s = summarise(view)
    yes = ["error", "error = true", "fault = false", "duration > 2", "responsetime <= 2.5", 'service("fn")',
           f'id("{ROOT}")', 'error AND service("fn")', "error && duration >= 2.5"]
    no = ["ok", "fault", "duration < 1", 'service("other")', "error and fault"]
    for expr in yes:
        assert compile_filter(expr)(s), expr  # type: ignore[misc]
    for expr in no:
        assert not compile_filter(expr)(s), expr  # type: ignore[misc]
    assert compile_filter("  ") is None
    for bad in ("annotation.x = 1", "error OR fault", "duration > abc", "x" * 3000):
        with pytest.raises(FilterError):
            compile_filter(bad)


def test_invoke_request_with_trace_copies_every_field() -> None:
    import dataclasses

    from lambent.worker.environment import InvokeRequest

    req = InvokeRequest("r", b"{}", ARN, True, "ctx", "cog", None, 12.5)
    traced = req.with_trace("Root=x")
    assert traced == dataclasses.replace(req, trace_id="Root=x") and req.trace_id is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        traced.trace_id = "y"  # type: ignore[misc]


class _Exporter:
    def __init__(self) -> None:
        self.offered: list[FinishedInvocation] = []

    def offer(self, inv: FinishedInvocation) -> None:
        self.offered.append(inv)


def test_passthrough_without_a_header_has_nothing_to_finish() -> None:
    # issue 12: the common warm path makes a header and nothing else (the invoke path skips finish)
    stored: list[Stored] = []
    tracer = Tracer(lambda account, seg: stored.append(seg) is None, account="123456789012",
                    sampler=Sampler(1000, 1.0))
    ids = set()
    for _ in range(200):
        ctx = tracer.begin("PassThrough", None, "f")
        parsed = parse(ctx.header)
        assert parsed is not None and parsed.sampled is False and parsed.parent is not None
        assert parsed.root == ctx.root and not ctx.finish and not ctx.record
        ids.add((parsed.root.split("-")[2], parsed.parent))
    assert len(ids) == 200  # fresh ids every time
    assert tracer.begin("PassThrough", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", "f").finish is False
    active = tracer.begin("Active", None, "f")
    assert active.record and active.finish
    tracer.exporter = _Exporter()
    assert tracer.begin("PassThrough", None, "f").finish  # a span to export
    assert stored == []
