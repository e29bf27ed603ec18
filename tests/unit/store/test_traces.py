"""traces.db: group commit, per-account reads, retention and the size cap, a full queue."""

from __future__ import annotations

import json
from pathlib import Path

from lambent.store.traces import SegmentRow, TraceStore

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
OTHER = "1-5759e989-00000000000000000000000a"


def row(account: str, trace: str, sid: str, start: float, *, error: bool = False) -> SegmentRow:
    doc = json.dumps({"id": sid, "trace_id": trace, "name": "n", "start_time": start, "end_time": start + 1})
    return SegmentRow(account, trace, sid, None, False, start, start + 1, False, error, False, doc)


def test_written_and_read_per_account(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.db", commit_interval_s=0.05).open()
    try:
        assert store.offer(row("111111111111", ROOT, "a" * 16, 100.0, error=True))
        assert store.offer(row("111111111111", ROOT, "b" * 16, 100.5))
        assert store.offer(row("111111111111", OTHER, "c" * 16, 200.0))
        assert store.offer(row("222222222222", ROOT, "d" * 16, 100.0))
        assert store.wait_settled(4, 5)
        summaries = store.summaries("111111111111", 0, 1000)
        assert [(s.trace_id, s.segments, s.error) for s in summaries] == [(OTHER, 1, False), (ROOT, 2, True)]
        assert [s.trace_id for s in store.summaries("111111111111", 150, 1000)] == [OTHER]
        assert store.summaries("111111111111", 0, 1000, offset=1, limit=1)[0].trace_id == ROOT
        segs = store.segments("111111111111", [ROOT, OTHER, "1-00000000-000000000000000000000000"])
        assert sorted(segs) == sorted([ROOT, OTHER]) and [r.segment_id for r in segs[ROOT]] == ["a" * 16, "b" * 16]
        assert [r.segment_id for r in store.segments("222222222222", [ROOT])[ROOT]] == ["d" * 16]
    finally:
        store.close()


def test_retention_and_size_cap(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = TraceStore(tmp_path / "traces.db", commit_interval_s=0.05, retention_days=1, max_segments=3,
                       clock=lambda: now[0]).open()
    try:
        store.offer(row("1", ROOT, "0" * 16, 1.0))  # received at now: old once the clock moves on
        assert store.wait_settled(1, 5)
        now[0] += 2 * 86400
        for i in range(1, 6):
            store.offer(row("1", OTHER, f"{i:016x}", float(i)))
        assert store.wait_settled(6, 5)
        assert store.prune() == 3  # one past the retention, two beyond the cap
        assert [r.segment_id for r in store.segments("1", [OTHER])[OTHER]] == [f"{i:016x}" for i in (3, 4, 5)]
        assert store.segments("1", [ROOT]) == {}
    finally:
        store.close()


def test_one_account_cannot_push_the_others_traces_out(tmp_path: Path) -> None:
    # Given 10 segments in all, at most 4 of one account
    store = TraceStore(tmp_path / "traces.db", commit_interval_s=0.05, max_segments=10,
                       max_segments_per_account=4).open()
    try:
        store.offer(row("2", ROOT, "b" * 16, 1.0))  # the other account's, the oldest of all
        for i in range(8):  # account 1 floods
            store.offer(row("1", OTHER, f"{i:016x}", float(i)))
        assert store.wait_settled(9, 5)
        # When the store prunes (its writer may have already), only the flooder's oldest go
        store.prune()
        assert store.pruned == 4
        assert [r.segment_id for r in store.segments("1", [OTHER])[OTHER]] == [f"{i:016x}" for i in range(4, 8)]
        assert [r.segment_id for r in store.segments("2", [ROOT])[ROOT]] == ["b" * 16]
    finally:
        store.close()


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.db", max_queued=2, commit_interval_s=30)
    try:  # not opened: nothing drains the queue
        assert store.offer(row("1", ROOT, "a" * 16, 1.0)) and store.offer(row("1", ROOT, "b" * 16, 1.0))
        assert not store.offer(row("1", ROOT, "c" * 16, 1.0))
        assert store.dropped == 1
    finally:
        store.close()
        assert not store.offer(row("1", ROOT, "d" * 16, 1.0)) and store.dropped == 2
