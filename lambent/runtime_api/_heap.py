"""Hand freed heap memory back to the OS after a Runtime API let go of large buffers.

A body arrives as many reads of up to 256 KB; glibc serves those from its heap (its mmap
threshold rises to the largest block freed so far) and keeps freed heap pages mapped, so the
server's RSS would stay at its high-water mark after a flood of half-sent 6 MB bodies ended.
``malloc_trim(0)`` returns the free pages. Measured with tests/security/test_runtime_api.py's
flood of half-sent 6 MB responses after a legitimate 5 MB answer (which raised the threshold):
without the trim the server stayed 6.7-8 MB above its baseline 30 s after the invocation ended
(for every such episode of every environment); with it, +0.2 MB within 2 s. It walks the heap, so
it runs in a worker thread (it takes malloc's own locks), at most once per ``delay_s``, and only
after at least ``min_bytes`` were released. A libc without ``malloc_trim`` (musl) makes this a
no-op.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util

TRIM_MIN_BYTES = 1024 * 1024
TRIM_DELAY_S = 0.2


def _malloc_trim() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


class HeapTrimmer:
    """Scope: one Runtime API endpoint. Not thread-safe: call from the event loop."""

    __slots__ = ("_pending_bytes", "_scheduled", "min_bytes", "delay_s")

    def __init__(self, min_bytes: int = TRIM_MIN_BYTES, delay_s: float = TRIM_DELAY_S) -> None:
        self.min_bytes = min_bytes
        self.delay_s = delay_s
        self._pending_bytes = 0
        self._scheduled = False

    def released(self, nbytes: int) -> None:
        """``nbytes`` of buffers were just dropped; trim soon if that adds up to enough."""
        self._pending_bytes += nbytes
        if self._scheduled or self._pending_bytes < self.min_bytes:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - called outside the loop
            return
        self._scheduled = True
        loop.call_later(self.delay_s, self._trim, loop)

    def _trim(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        self._pending_bytes = 0
        if not loop.is_closed():
            loop.run_in_executor(None, _malloc_trim)
