"""HeapTrimmer: malloc_trim after large releases, at most once per delay, off the event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lambent.runtime_api import _heap
from lambent.runtime_api._heap import HeapTrimmer


async def test_trims_once_after_enough_was_released_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(_heap, "_malloc_trim", lambda: calls.append(threading.current_thread().name))
    trimmer = HeapTrimmer(min_bytes=1000, delay_s=0.01)
    # Given releases below the threshold: nothing happens
    trimmer.released(400)
    trimmer.released(500)
    await asyncio.sleep(0.05)
    assert calls == []
    # When they add up past it, several times in a row
    for _ in range(5):
        trimmer.released(600)
    await asyncio.sleep(0.1)
    # Then one trim ran, not on the event loop's thread
    assert len(calls) == 1 and calls[0] != threading.current_thread().name
    # and the next large release trims again
    trimmer.released(2000)
    await asyncio.sleep(0.1)
    assert len(calls) == 2


def test_real_malloc_trim_runs() -> None:
    _heap._malloc_trim()  # glibc here: must not raise
