"""Per-invocation attribution of output, the volume cap, and the 4 KB tail."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from lambent.observability import logs as logs_mod
from lambent.observability.logs import LogStore
from lambent.worker.logcapture import TAIL_BYTES, LogCapture
from lambent.worker.platform_lines import PlatformLines


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    return r, w


async def test_lines_written_before_end_belong_to_the_invocation(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    r, w = _pipe()
    cap = LogCapture(r, store.writer("g", "s"), 1024)
    cap.begin(want_tail=True)
    cap.system("START")
    os.write(w, b"one\ntwo\npartial")
    cap.end()
    cap.system("END")
    cap.close()
    cap.writer.close()
    assert [e.message for e in store.events("g")] == ["START", "one", "two", "partial", "END"]
    assert cap.tail() == b"START\none\ntwo\npartial\nEND\n"
    os.close(r)
    os.close(w)


async def test_flood_is_capped_and_the_cap_is_logged(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    r, w = _pipe()
    cap = LogCapture(r, store.writer("g", "s"), 100)
    cap.begin(want_tail=False)
    os.write(w, b"x" * 50 + b"\n" + b"y" * 200 + b"\n" + b"z" * 10 + b"\n")
    cap.end()
    cap.writer.flush()
    msgs = [e.message for e in store.events("g")]
    assert msgs[0] == "x" * 50
    assert "z" * 10 in msgs
    assert not any(m.startswith("y") for m in msgs)
    assert msgs[-1].startswith("[lambent] log output truncated: 201 bytes")
    cap.close()
    cap.writer.close()
    os.close(r)
    os.close(w)


async def test_in_json_the_cap_is_a_logs_dropped_record_once_per_invocation(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    r, w = _pipe()
    cap = LogCapture(r, store.writer("g", "s"), 100, PlatformLines("JSON", "WARN"))
    cap.begin(want_tail=True)
    cap.system(None)  # a record SystemLogLevel filtered out: nothing written
    os.write(w, b"x" * 50 + b"\n" + b"y" * 200 + b"\n" + b"w" * 80 + b"\n")
    cap.end()
    cap.end()  # a second drain (the timeout path) does not repeat the notice
    cap.writer.flush()
    msgs = [e.message for e in store.events("g")]
    assert msgs[0] == "x" * 50 and len(msgs) == 2
    record = json.loads(msgs[1])
    assert record["type"] == "platform.logsDropped"
    assert (record["record"]["droppedBytes"], record["record"]["droppedRecords"]) == (282, 2)
    assert cap.tail().decode().splitlines() == msgs
    cap.close()
    cap.writer.close()
    os.close(r)
    os.close(w)


async def test_tail_is_last_4kb(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    r, w = _pipe()
    cap = LogCapture(r, store.writer("g", "s"), 1 << 20)
    cap.begin(want_tail=True)
    for i in range(200):
        os.write(w, f"line {i:04d} ".encode() + b"." * 90 + b"\n")
    cap.end()
    tail = cap.tail()
    assert len(tail) == TAIL_BYTES
    assert tail.endswith(b"line 0199 " + b"." * 90 + b"\n")
    cap.close()
    cap.writer.close()
    os.close(r)
    os.close(w)


async def test_a_full_disk_never_fails_the_invocation_and_the_tail_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LogStore(tmp_path)
    r, w = _pipe()
    cap = LogCapture(r, store.writer("g", "s"), 1 << 20)

    def enospc(*_args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    real_write = os.write
    monkeypatch.setattr(logs_mod.os, "write", enospc)
    cap.begin(want_tail=True)
    cap.system("START")
    real_write(w, b"while full\n")
    cap.end()
    cap.system("END")
    cap.flush()  # the disk refuses: dropped and counted, nothing raised
    assert cap.tail() == b"START\nwhile full\nEND\n"
    assert store.dropped_events == 3
    monkeypatch.setattr(logs_mod.os, "write", real_write)
    cap.begin(want_tail=False)
    cap.system("START 2")
    cap.flush()
    cap.close()
    cap.writer.close()
    assert [e.message.split(":")[0] for e in store.read("g", "s")[0]] == [f"[lambent] 3 log events ({store.dropped_bytes} bytes) were dropped", "START 2"]
    os.close(r)
    os.close(w)


async def test_platform_lines_never_reach_the_emf_hook(tmp_path: Path) -> None:
    # An EMF-looking platform record is not the function's output: only what the function prints
    # is offered to the hook (issue 12: nothing is parsed that cannot be EMF).
    emf_like = '{"_aws": {"Timestamp": 1}, "m": 1}'
    store = LogStore(tmp_path)
    seen: list[str] = []
    store.line_hook = lambda group, message, t: seen.append(message)
    r, w = _pipe()
    cap = LogCapture(r, store.writer("g", "s"), 1024)
    cap.begin(want_tail=False)
    cap.system(emf_like)
    os.write(w, emf_like.encode() + b"\n")
    cap.end()
    cap.close()
    cap.writer.close()
    assert seen == [emf_like]
    assert [e.message for e in store.events("g")] == [emf_like, emf_like]
    os.close(r)
    os.close(w)
