"""Trace header parsing/formatting and X-Ray's default sampling rule."""

from __future__ import annotations

import re

from lambent.observability.tracing.header import (
    MAX_HEADER_BYTES,
    TraceHeader,
    accepted_trace_header,
    new_segment_id,
    new_trace_id,
    parse,
)
from lambent.observability.tracing.sampler import Sampler

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def test_new_ids_have_xrays_formats() -> None:
    tid = new_trace_id(0x5759E988)
    assert re.fullmatch(r"1-5759e988-[0-9a-f]{24}", tid)
    assert tid != new_trace_id(0x5759E988)
    assert re.fullmatch(r"[0-9a-f]{16}", new_segment_id())


def test_parse_all_fields_any_order_and_case() -> None:
    h = parse(f"Sampled=1;root={ROOT.upper().replace('1-', '1-')};Parent=53995C3F42CD8AD8;Lineage=a87bd80c:1")
    assert h == TraceHeader(ROOT, "53995c3f42cd8ad8", True, ("Lineage=a87bd80c:1",))
    assert h.format() == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"


def test_parse_sampled_values() -> None:
    assert parse(f"Root={ROOT};Sampled=0").sampled is False  # type: ignore[union-attr]
    assert parse(f"Root={ROOT};Sampled=?").sampled is None  # type: ignore[union-attr]
    assert parse(f"Root={ROOT}").sampled is None  # type: ignore[union-attr]


def test_unusable_headers_are_ignored() -> None:
    for raw in (None, "", "Root=2-abc", "Parent=53995c3f42cd8ad8", f"Root={ROOT}\r\nX-Evil: 1",
                f"Root={ROOT};x=" + "a" * MAX_HEADER_BYTES, "Root=1-5759e988-bd862e3fe1be46a99427279"):
        assert parse(raw) is None, raw


def test_a_bad_parent_is_dropped_not_passed_on() -> None:
    h = parse(f"Root={ROOT};Parent=../../etc;Sampled=1")
    assert h is not None and h.parent is None and h.format() == f"Root={ROOT};Sampled=1"


def test_extra_fields_are_bounded() -> None:
    h = parse(f"Root={ROOT};" + ";".join(f"k{i}=v" for i in range(50)))
    assert h is not None and len(h.extra) == 8


def test_accepted_header_of_an_event() -> None:
    assert accepted_trace_header(f"Root={ROOT};Sampled=1", "r") == f"Root={ROOT};Sampled=1"
    derived = accepted_trace_header(None, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", now=0x5759E988)
    assert derived == "Root=1-5759e988-0f1e2d3c4b5a69788796a5b4"


def test_reservoir_one_per_second_then_rate() -> None:
    now = [100.0]
    draws = iter([0.01, 0.5, 0.04, 0.9])
    s = Sampler(1, 0.05, clock=lambda: now[0], draw=lambda: next(draws))
    assert s.sample("f") is True  # the reservoir
    assert s.sample("f") is True  # 0.01 < 5 %
    assert s.sample("f") is False  # 0.5
    assert s.sample("g") is True  # another function has its own reservoir
    now[0] = 101.2
    assert s.sample("f") is True  # a new second refills it
    assert s.sample("f") is True  # 0.04
    assert s.sample("f") is False  # 0.9


def test_sampler_state_is_bounded() -> None:
    s = Sampler(1, 0.0, max_keys=10, clock=lambda: 5.0, draw=lambda: 1.0)
    for i in range(1000):
        s.sample(f"f{i}")
    assert len(s._used) <= 10
