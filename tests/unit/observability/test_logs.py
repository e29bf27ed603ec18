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
