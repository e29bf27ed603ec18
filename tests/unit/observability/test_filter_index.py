"""FilterLogEvents' fast reader (observability/logs.py): the per-segment time index and the raw
byte search give exactly what reading every event would, page after page, whatever the
timestamps' order, for closed segments (``.tix`` files), the open one (the writer's index in
memory) and segments without an index (older data dirs)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lambent.observability import logs as logs_mod
from lambent.observability.filter_pattern import compile_pattern
from lambent.observability.logs import LogStore, filter_events
from lambent.observability.quota import LogQuota

WORDS = ("alpha", "beta", "ERROR", "gamma", 'quo"te', "ünï")


def _fill(store: LogStore, seed: int, streams: int = 4, events: int = 3000) -> list[tuple[int, str, str]]:
    """Events with mostly increasing, sometimes earlier, timestamps; returns (t, stream, message)."""
    rng = random.Random(seed)
    out = []
    writers = [store.writer("g", f"s{k}") for k in range(streams)]
    t = 1_000_000
    for i in range(events):
        k = rng.randrange(streams)
        t += rng.randrange(0, 5)
        ts = t - rng.randrange(0, 5000) if rng.random() < 0.02 else t  # a late, out-of-order line
        msg = f"{i} {rng.choice(WORDS)} {rng.choice(WORDS)}" + "x" * rng.randrange(0, 300)
        writers[k].write(msg, ts)
        if rng.random() < 0.05:
            writers[k].flush()
        out.append((ts, f"s{k}", msg))
    for w in writers[:-1]:
        w.close()
    writers[-1].flush()  # the last stream's writer stays open (its index lives in memory)
    return out


def _all_pages(store: LogStore, pattern: str | None, **kw: int | None) -> list[tuple[int, str, str]]:
    matcher = compile_pattern(pattern)
    got: list[tuple[int, str, str]] = []
    positions = None
    for _ in range(10_000):
        page = filter_events(store, "g", matcher, positions=positions, limit=97, **kw)  # type: ignore[arg-type]
        got += [(p.event.timestamp_ms, p.event.stream, p.event.message) for p in page.events]
        if page.positions is None:
            return got
        positions = page.positions
    raise AssertionError("never finished")


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("pattern", [None, "ERROR", 'quo"te', "ünï beta", "nothing-has-this"])
@pytest.mark.parametrize("window", [(None, None), (1_002_000, None), (None, 1_001_000), (1_001_000, 1_004_000)])
def test_pages_equal_a_full_read(tmp_path: Path, seed: int, pattern: str | None,
                                 window: tuple[int | None, int | None]) -> None:
    store = LogStore(tmp_path, LogQuota(1 << 40, 1 << 40, 64 * 1024))  # small segments: many of them
    written = _fill(store, seed)
    start, end = window
    matcher = compile_pattern(pattern)
    want = sorted(e for e in written if matcher(e[2]) and (start is None or e[0] >= start)
                  and (end is None or e[0] < end))
    got = _all_pages(store, pattern, start_ms=start, end_ms=end)
    assert sorted(got) == want and len(got) == len(want)
    # the same without any index (a data dir from before the index, or a crash): same answer
    for tix in (tmp_path / "+groups").rglob("*.jsonl"):
        tix.unlink()
    assert sorted(_all_pages(LogStore(tmp_path, create=False), pattern, start_ms=start, end_ms=end)) == want


def test_the_index_skips_chunks_outside_the_time_range(tmp_path: Path) -> None:
    store = LogStore(tmp_path, LogQuota(1 << 40, 1 << 40, 1 << 20))
    w = store.writer("g", "s")
    for i in range(20_000):
        w.write(f"event {i} " + "y" * 40, 1_000 + i)
    w.close()
    segs = logs_mod._listing(store.group_dir("g"))["s"]
    ranges = list(logs_mod._time_ranges(store, "g", segs, 0, 20_000, None))
    read = sum(hi - lo for _, _, lo, hi, _ in ranges)
    total = sum(p.stat().st_size for _, p in segs)
    assert 0 < read < total // 5  # only the chunks holding the last ~1000 events
    page = filter_events(store, "g", compile_pattern(None), start_ms=20_000)
    assert [p.event.message.split()[1] for p in page.events] == [str(i) for i in range(19_000, 20_000)]


def test_a_torn_last_line_is_not_returned_until_it_is_whole(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    w.write("ERROR one", 1)
    w.close()
    seg = logs_mod._listing(store.group_dir("g"))["s"][0][1]
    with open(seg, "ab") as f:
        f.write(b'{"t": 2, "m": "ERROR tw')
    page = filter_events(store, "g", compile_pattern("ERROR"))
    assert [p.event.message for p in page.events] == ["ERROR one"]


def test_a_stale_index_is_ignored(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    for i in range(100):
        w.write(f"e{i}", i)
    w.close()
    [tix] = list((tmp_path / "+groups").rglob("*.jsonl"))
    tix.write_text('{"v":1,"end":999999999,"chunks":[[0,0,0]]}')  # not this file's
    page = filter_events(store, "g", compile_pattern(None), start_ms=50)
    assert [p.event.message for p in page.events] == [f"e{i}" for i in range(50, 100)]


def test_deleting_segments_deletes_their_index(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    w.write("x", 1)
    w.close()
    assert list((tmp_path / "+groups").rglob("*.jsonl"))
    store.delete_stream("g", "s")
    assert not list((tmp_path / "+groups").rglob("*.jsonl"))
    w = store.writer("g", "s2")
    w.write("x", 1)
    w.close()
    store.delete_group("g")
    assert not list((tmp_path / "+groups").rglob("*"))


def test_a_page_stops_near_max_bytes_and_the_next_resumes_exactly(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    for i in range(1000):
        w.write(f"{i:04d}" + "z" * 96, i)
    w.close()
    each = 100 + 1 + logs_mod.FILTER_EVENT_OVERHEAD  # message, stream name "s", overhead
    first = filter_events(store, "g", compile_pattern(None), max_bytes=10 * each)
    assert len(first.events) == 10 and first.positions is not None
    rest = filter_events(store, "g", compile_pattern(None), positions=first.positions)
    assert [p.event.message[:4] for p in first.events + rest.events] == [f"{i:04d}" for i in range(1000)]
