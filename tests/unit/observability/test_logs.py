from __future__ import annotations

from pathlib import Path

from lambent.observability.logs import LogStore, stream_name


def test_stream_name_has_lambda_format() -> None:
    assert stream_name("$LATEST", "abc", now=0) == "1970/01/01/[$LATEST]abc"


def test_events_survive_reopen_and_read_incrementally(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("/aws/lambda/fn", "2024/01/01/[$LATEST]e1")
    w.write("hello", 1000)
    w.write("world", 2000)
    w.close()
    again = LogStore(tmp_path)
    assert again.groups() == ["/aws/lambda/fn"]
    assert again.streams("/aws/lambda/fn") == ["2024/01/01/[$LATEST]e1"]
    events, offset = again.read("/aws/lambda/fn", "2024/01/01/[$LATEST]e1")
    assert [(e.timestamp_ms, e.message) for e in events] == [(1000, "hello"), (2000, "world")]
    more, offset2 = again.read("/aws/lambda/fn", "2024/01/01/[$LATEST]e1", offset)
    assert more == [] and offset2 == offset


def test_group_events_merge_streams_by_time(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    a = store.writer("g", "a")
    b = store.writer("g", "b")
    a.write("a1", 1)
    b.write("b1", 2)
    a.write("a2", 3)
    a.close()
    b.close()
    assert [e.message for e in store.events("g")] == ["a1", "b1", "a2"]


# -- segments, quotas and a failing disk ----------------------------------------------------------
import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402

from lambent.observability import logs as logs_mod  # noqa: E402
from lambent.observability.quota import LogQuota  # noqa: E402


def line_bytes(message: str, t: int = 1) -> int:
    return len(json.dumps({"t": t, "m": message}, ensure_ascii=False).encode()) + 1


def files(store: LogStore, group: str) -> list[str]:
    d = store.root / logs_mod._enc(group)
    return sorted(os.listdir(d)) if d.exists() else []


def test_a_stream_rolls_into_segments_and_offsets_span_them(tmp_path: Path) -> None:
    n = line_bytes("a" * 10)
    store = LogStore(tmp_path, LogQuota(1 << 30, 1 << 30, 3 * n))
    w = store.writer("g", "s")
    for i in range(7):
        w.write(f"{i}" + "a" * 9, 1)
        w.flush()  # one buffer per invocation
    w.close()
    assert files(store, "g") == sorted(["s.jsonl", f"s+{3 * n}.jsonl", f"s+{6 * n}.jsonl"])
    assert store.streams("g") == ["s"]
    events, offset = store.read("g", "s")
    assert [e.message[0] for e in events] == list("0123456") and offset == 7 * n
    more, offset2 = store.read("g", "s", 4 * n)
    assert [e.message[0] for e in more] == list("456") and offset2 == 7 * n


def test_a_group_over_its_quota_keeps_its_newest_segments(tmp_path: Path) -> None:
    n = line_bytes("x" * 100)
    store = LogStore(tmp_path, LogQuota(10 * n, 1 << 30, 2 * n))
    w = store.writer("g", "s")
    for i in range(50):
        w.write(f"{i:03d}" + "x" * 97, 1)
        w.flush()
    on_disk = sum((store.root / "g" / f).stat().st_size for f in files(store, "g"))
    assert on_disk <= 10 * n and store.usage.group_bytes("g") == on_disk
    messages = [e.message[:3] for e in store.events("g")]
    assert messages[-1] == "049" and "000" not in messages
    # a reader still at the start of the stream resumes at the oldest segment left
    events, _ = store.read("g", "s", 0)
    assert events[0].message[:3] == messages[0]
    w.close()


def test_one_writer_alone_over_the_quota_rolls_its_own_segment_away(tmp_path: Path) -> None:
    # Segments larger than the quota (one huge buffer): nothing closed to delete but its own.
    n = line_bytes("y" * 1000)
    store = LogStore(tmp_path, LogQuota(3 * n, 1 << 30, 1 << 30))
    w = store.writer("g", "s")
    for _ in range(5):
        w.write("y" * 1000, 1)
    w.flush()
    assert store.usage.group_bytes("g") == 0 and files(store, "g") == []
    w.write("after", 2)
    w.flush()
    assert [e.message for e in store.events("g")] == ["after"]
    w.close()


def test_the_total_quota_deletes_the_oldest_segments_of_any_group(tmp_path: Path) -> None:
    n = line_bytes("z" * 50)
    store = LogStore(tmp_path, LogQuota(1 << 30, 6 * n, 2 * n))
    first = store.writer("old", "s")
    for _ in range(4):
        first.write("z" * 50, 1)
        first.flush()
    first.close()
    w = store.writer("new", "s")
    for _ in range(4):
        w.write("z" * 50, 1)
        w.flush()
    w.close()
    assert store.usage.total <= 6 * n
    assert len(list(store.events("new"))) == 4 and len(list(store.events("old"))) == 2


def test_what_an_earlier_run_left_is_counted_and_trimmed_at_start(tmp_path: Path) -> None:
    plain = LogStore(tmp_path)
    for i in range(3):
        w = plain.writer("g", f"s{i}")
        w.write("q" * 100, 1)
        w.close()
        os.utime(plain.root / "g" / f"s{i}.jsonl", (1000 + i, 1000 + i))
    n = line_bytes("q" * 100)
    server = LogStore(tmp_path, LogQuota(2 * n, 1 << 30, n))
    assert server.streams("g") == ["s1", "s2"]
    assert server.usage.group_bytes("g") == 2 * n


def _enospc(*_args: object) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_drops_and_counts_events_without_raising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LogStore(tmp_path, LogQuota(1 << 30, 1 << 30, 1 << 30))
    w = store.writer("g", "s")
    w.write("kept", 1)
    w.flush()
    real_write = os.write
    monkeypatch.setattr(logs_mod.os, "write", _enospc)
    w.write("lost 1", 2)
    w.write("lost 2", 3)
    w.flush()  # does not raise
    assert store.dropped_events == 2 and store.dropped_bytes == line_bytes("lost 1", 2) + line_bytes("lost 2", 3)
    monkeypatch.setattr(logs_mod.os, "write", real_write)
    w.write("back", 4)
    w.close()
    assert [e.message for e in store.read("g", "s")[0]] == [  # in append order
        "kept",
        f"[lambent] 2 log events ({store.dropped_bytes} bytes) were dropped: "
        "lambent's data directory was out of space (ENOSPC)",
        "back",
    ]


def test_a_write_torn_by_a_full_disk_is_cut_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LogStore(tmp_path, LogQuota(1 << 30, 1 << 30, 1 << 30))
    w = store.writer("g", "s")
    w.write("kept", 1)
    w.flush()
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logs_mod.os, "write", half_then_full)
    w.write("torn line that is long enough", 2)
    w.flush()
    monkeypatch.setattr(logs_mod.os, "write", real_write)
    assert (store.root / "g" / "s.jsonl").read_bytes() == '{"t": 1, "m": "kept"}\n'.encode()
    assert store.usage.group_bytes("g") == line_bytes("kept")
    w.close()


def test_a_log_file_that_cannot_be_created_drops_too(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    (tmp_path / "g").write_text("not a directory")
    w = store.writer("g", "s")
    w.write("nowhere", 1)
    w.close()  # no exception
    assert store.dropped_events == 1


def test_deleting_a_group_removes_its_files_and_silences_its_writers(tmp_path: Path) -> None:
    store = LogStore(tmp_path, LogQuota(1 << 30, 1 << 30, 1 << 30))
    w = store.writer("/aws/lambda/fn", "s")
    w.write("one", 1)
    w.flush()
    other = store.writer("/aws/lambda/other", "s")
    other.write("two", 1)
    other.close()
    store.delete_group("/aws/lambda/fn")
    assert store.groups() == ["/aws/lambda/other"]
    w.write("late", 2)
    w.close()
    assert store.groups() == ["/aws/lambda/other"]  # not recreated by the late write
    assert store.usage.group_bytes("/aws/lambda/fn") == 0 and store.usage.total == line_bytes("two")


def test_retention_hook_expires_segments_older_than_the_cutoff(tmp_path: Path) -> None:
    store = LogStore(tmp_path, LogQuota(1 << 30, 1 << 30, 1 << 30))
    old = store.writer("g", "old")
    old.write("old", 1_000)
    old.close()
    idle = store.writer("g", "idle")  # still open, last written long ago
    idle.write("idle", 2_000)
    idle.flush()
    new = store.writer("g", "new")
    new.write("new", 9_000)
    new.flush()
    deleted = store.expire_before("g", before_ms=5_000)
    assert deleted == line_bytes("old", 1_000) + line_bytes("idle", 2_000)
    assert [e.message for e in store.events("g")] == ["new"]
    idle.write("idle again", 10_000)
    idle.close()
    new.close()
    assert [e.message for e in store.events("g")] == ["new", "idle again"]


def test_close_is_idempotent_and_writes_after_it_are_ignored(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    w = store.writer("g", "s")
    w.write("a", 1)
    w.close()
    w.close()
    w.write("b", 2)
    w.flush()
    assert [e.message for e in store.events("g")] == ["a"]


def test_a_group_deleted_while_it_is_read_reads_as_empty(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    assert store.streams("never") == [] and store.read("never", "s") == ([], 0)
    (tmp_path / "file-not-group").write_text("")
    assert store.streams("file-not-group") == [] and store.read("file-not-group", "s") == ([], 0)


def test_a_stream_per_invocation_cannot_pile_up_files(tmp_path: Path) -> None:
    # A function that crashes every time gets a new environment, so a new stream, each invocation.
    store = LogStore(tmp_path, LogQuota(1 << 30, 1 << 30, 1 << 30, group_max_files=2, total_max_files=10))
    for i in range(5):
        w = store.writer("g", f"s{i}")
        w.write(f"crash {i}", i)
        w.close()
    assert store.streams("g") == ["s3", "s4"]
