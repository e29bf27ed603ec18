"""The log store's query side (what the CloudWatch Logs API and ``lambent logs`` read): event
positions and boundaries, stream metadata, the merged filter with resumable positions and a
bounded scan per page, and retention enforced by the sweep."""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from pathlib import Path

import pytest

from lambent.observability.filter_pattern import compile_pattern
from lambent.observability.logs import LogNameError, LogStore, filter_events
from lambent.observability.retention import ALLOWED_DAYS, RetentionSweeper, check_days, sweep

DAY = 86_400_000
ALL = compile_pattern(None)


def _now() -> int:
    return int(time.time() * 1000)


def test_scan_positions_are_event_boundaries_and_resume(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    for i in range(5):
        w.write(f"m{i}", 1000 + i)
    w.close()
    events = list(store.scan("g", "s"))
    assert [p.event.message for p in events] == ["m0", "m1", "m2", "m3", "m4"]
    assert all(a.end == b.start for a, b in zip(events, events[1:], strict=False))
    assert [p.event.message for p in store.scan("g", "s", events[2].start)] == ["m2", "m3", "m4"]
    assert all(store.at_boundary("g", "s", p.start) for p in events) and store.at_boundary("g", "s", events[-1].end)
    assert not store.at_boundary("g", "s", events[1].start + 3)
    assert not store.at_boundary("g", "s", -1)


def test_positions_stay_valid_across_segments(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    w.write("a", 1)
    w.roll()
    w.write("b", 2)
    w.close()
    events = list(store.scan("g", "s"))
    assert [p.event.message for p in events] == ["a", "b"]
    assert store.at_boundary("g", "s", events[1].start)
    assert [p.event.message for p in store.scan("g", "s", events[1].start)] == ["b"]


def test_stream_infos_first_and_last_event_times(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "a/b")
    w.write("x" * 100_000, 5_000)  # a long line: the tail read still finds the last event
    w.write("y", 7_000)
    w.close()
    assert store.create_stream("g", "empty") and not store.create_stream("g", "empty")
    infos = {s.name: s for s in store.stream_infos("g")}
    assert (infos["a/b"].first_ms, infos["a/b"].last_ms) == (5_000, 7_000)
    assert infos["a/b"].stored_bytes > 100_000
    assert (infos["empty"].first_ms, infos["empty"].last_ms, infos["empty"].stored_bytes) == (None, None, 0)
    assert [s.name for s in store.stream_infos("g", prefix="a/")] == ["a/b"]


def test_group_metadata_survives_a_new_store(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    assert store.create_group("/app", now_ms=1234) and not store.create_group("/app")
    store.set_retention("/app", 30)
    again = LogStore(tmp_path)
    info = again.group_info("/app")
    assert info is not None and (info.creation_ms, info.retention_days) == (1234, 30)
    assert again.groups() == ["/app"]  # the metadata directory is not a group
    again.delete_group("/app")
    assert again.groups() == [] and again.group_info("/app") is None


def test_a_functions_first_write_records_its_groups_creation_time(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    before = _now()
    w = store.writer("/aws/lambda/fn", "s")
    w.write("x")
    w.close()
    info = store.group_info("/aws/lambda/fn")
    assert info is not None and before <= info.creation_ms <= _now()


@pytest.mark.parametrize("name", ["..", ".", ""])
def test_unsafe_group_names_are_refused(tmp_path: Path, name: str) -> None:
    store = LogStore(tmp_path / "logs")
    with pytest.raises(LogNameError):
        store.group_dir(name)
    with pytest.raises(LogNameError):
        store.delete_group(name)
    assert (tmp_path / "logs").exists()


def test_filter_merges_by_time_and_resumes_exactly(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for k, s in enumerate(("a", "b")):
        w = store.writer("g", s)
        for i in range(10):
            w.write(f"{s}{i}", 100 + 2 * i + k)
        w.close()
    first = filter_events(store, "g", ALL, limit=5)
    assert [p.event.message for p in first.events] == ["a0", "b0", "a1", "b1", "a2"]
    assert first.positions is not None
    rest = filter_events(store, "g", ALL, limit=100, positions=first.positions)
    assert [p.event.message for p in rest.events] == ["b2", "a3", "b3", "a4", "b4", "a5", "b5", "a6", "b6", "a7",
                                                      "b7", "a8", "b8", "a9", "b9"]
    assert rest.positions is None


def test_a_page_reads_a_bounded_number_of_events_and_still_progresses(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    for i in range(1000):
        w.write("noise" if i != 999 else "needle", 1000 + i)
    w.close()
    needle = compile_pattern("needle")
    positions = None
    pages = 0
    found: list[str] = []
    while True:
        page = filter_events(store, "g", needle, positions=positions, budget=100)
        pages += 1
        found += [p.event.message for p in page.events]
        if page.positions is None:
            break
        positions = page.positions
    # 1000 events, 100 a page: ten pages, and one more (empty) when the budget ran out exactly at the end.
    assert found == ["needle"] and pages == 11


def test_a_bounded_page_progresses_through_events_outside_the_time_range(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    for i in range(300):
        w.write(f"e{i}", i)
    w.close()
    positions = None
    found: list[str] = []
    for _ in range(10):
        page = filter_events(store, "g", ALL, start_ms=250, positions=positions, budget=100)
        found += [p.event.message for p in page.events]
        if page.positions is None:
            break
        positions = page.positions
    assert found == [f"e{i}" for i in range(250, 300)]


# -- retention -------------------------------------------------------------------------------------

def test_allowed_retention_days() -> None:
    for d in ALLOWED_DAYS:
        check_days(d)
    for d in (0, 2, 8, 10_000):
        with pytest.raises(ValueError, match="Member must satisfy enum value set"):
            check_days(d)


def test_sweep_deletes_expired_segments_only(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    now = _now()
    store.create_group("g")
    store.set_retention("g", 1)
    old = store.writer("g", "old")
    old.write("two days ago", now - 2 * DAY)
    old.close()
    new = store.writer("g", "new")
    new.write("an hour ago", now - 3_600_000)
    new.close()
    open_old = store.writer("g", "open")  # an open segment entirely expired is closed and deleted too
    open_old.write("stale", now - 3 * DAY)
    open_old.flush()
    kept = store.writer("other", "s")  # no retention: kept
    kept.write("ancient", now - 100 * DAY)
    kept.close()
    assert sweep(store, now) > 0
    assert [p.event.message for p in store.scan("g", "new")] == ["an hour ago"]
    assert list(store.scan("g", "old")) == [] and list(store.scan("g", "open")) == []
    assert [p.event.message for p in store.scan("other", "s")] == ["ancient"]
    assert os.listdir(tmp_path / "g") == ["new.jsonl"]  # the young stream's file is all that is left


async def test_the_sweeper_runs_in_the_background_and_stops(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group("g")
    store.set_retention("g", 1)
    w = store.writer("g", "s")
    w.write("old", _now() - 2 * DAY)
    w.close()
    sweeper = RetentionSweeper(store, interval_s=3600)
    sweeper.start()
    for _ in range(100):  # the first sweep runs at once; wait for it by its effect
        if not list(store.scan("g", "s")):
            break
        await asyncio.sleep(0)
    assert list(store.scan("g", "s")) == []
    await sweeper.stop()


def test_terms_with_characters_json_escapes_are_still_found(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    for msg in ('say "hi" now', "tab\there", "naïve café", "plain"):
        w.write(msg, 1)
    w.close()
    for pattern, want in (('"say \\"hi\\""', ['say "hi" now']), ('"tab\there"', ["tab\there"]), ("café", ["naïve café"])):
        got = [p.event.message for p in filter_events(store, "g", compile_pattern(pattern)).events]
        assert got == want, pattern


def test_lines_in_another_json_layout_are_read(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group("g")
    assert store.create_stream("g", "s")
    with open(tmp_path / "g" / "s.jsonl", "ab") as f:
        f.write(b'{"m": "reordered", "t": 7}\n{"t": 8, "m": "broken\n{"t": 9, "m": "ok"}\n')
    assert [(p.event.timestamp_ms, p.event.message) for p in store.scan("g", "s")] == [(7, "reordered"), (9, "ok")]


def test_put_events_keeps_no_descriptor_and_a_bounded_number_of_writers(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group("g")
    before = len(os.listdir("/proc/self/fd"))
    for i in range(300):
        assert store.create_stream("g", f"s{i}")
        store.put_events("g", f"s{i}", [(1000 + i, f"m{i}")])
        store.put_events("g", f"s{i}", [(2000 + i, f"n{i}")])
    assert len(os.listdir("/proc/self/fd")) <= before
    assert len(store._api_writers) == 256
    assert [p.event.message for p in store.scan("g", "s0")] == ["m0", "n0"]
    assert [p.event.message for p in store.scan("g", "s299")] == ["m299", "n299"]
    store.put_events("g", "s0", [(3000, "again")])  # evicted and closed: a new segment follows
    assert [p.event.message for p in store.scan("g", "s0")] == ["m0", "n0", "again"]
    store.delete_group("g")
    assert store._api_writers == OrderedDict()


def test_put_events_shares_an_environments_open_writer(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    env = store.writer("g", "env")
    env.write("a", 1)
    store.put_events("g", "env", [(2, "b")])
    env.write("c", 3)
    env.close()
    assert [p.event.message for p in store.scan("g", "env")] == ["a", "b", "c"]
    assert os.listdir(tmp_path / "g") == ["env.jsonl"]  # one writer, one segment


def test_scan_back_reads_newest_first_across_segments_and_skips_a_torn_end(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    msgs = [("x" * (i * 7919 % 90_000)) + str(i) for i in range(40)]  # lines longer than a block, too
    for i, m in enumerate(msgs):
        w.write(m, i)
        if i % 9 == 8:
            w.roll()
    w.close()
    last = max((tmp_path / "g").iterdir(), key=lambda f: int(f.stem.partition("+")[2] or 0))  # the newest segment
    with open(last, "ab") as f:
        f.write(b'{"t": 99, "m": "half-writ')
    forward = list(store.scan("g", "s"))
    back = list(store.scan_back("g", "s"))
    assert [p.event.message for p in back] == msgs[::-1]
    assert [(p.start, p.end) for p in back] == [(p.start, p.end) for p in forward][::-1]
    assert [p.event.message for p in store.scan_back("g", "s", forward[20].start)] == msgs[:20][::-1]
    assert store.stream_end("g", "s") > forward[-1].end  # the torn bytes are there, not returned


def test_delete_stream_frees_its_bytes_and_an_environment_writes_on(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group("g")
    env = store.writer("g", "env")
    env.write("before", 1)
    env.flush()
    store.put_events("g", "tool", [(1, "x" * 100)])
    store.put_events("g", "tool", [(2, "y")])
    keep = store.writer("g", "keep")
    keep.write("kept", 1)
    keep.close()
    kept_bytes = store.usage.group_bytes("g")
    assert store.delete_stream("g", "tool") and store.delete_stream("g", "env")
    assert not store.delete_stream("g", "tool")
    assert store.streams("g") == ["keep"]
    assert store.usage.group_bytes("g") < kept_bytes and store.usage.group_bytes("g") == os.path.getsize(
        tmp_path / "g" / "keep.jsonl")
    env.write("after", 2)
    env.close()
    assert [p.event.message for p in store.scan("g", "env")] == ["after"]
