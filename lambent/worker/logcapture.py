"""Turns an environment's stdout/stderr pipe into log events, per invocation, with a volume cap.

The runtime writes to a pipe; a write completes before the runtime posts its response, so draining
the pipe when the response arrives attributes every line to the right invocation.
"""

from __future__ import annotations

import asyncio
import os
import time

from lambent.observability.logs import LogStreamWriter
from lambent.worker.platform_lines import PlatformLines

_READ = 1 << 16
TAIL_BYTES = 4096


class LogCapture:
    """Reads one environment's output fd on the event loop. Scope: lifetime of the environment."""

    def __init__(self, fd: int, writer: LogStreamWriter, max_bytes_per_invoke: int,
                 lines: PlatformLines | None = None) -> None:
        self.fd = fd
        self.writer = writer
        self.max_bytes = max_bytes_per_invoke
        #: Formats the truncation notice (Text line, or a platform.logsDropped record in JSON).
        self.lines = lines or PlatformLines()
        self._partial = b""
        self._used = 0
        self._dropped = 0
        self._dropped_records = 0
        self._tail: list[str] | None = None
        self._tail_len = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._on_readable)
        self._closed = False

    # -- per invocation -----------------------------------------------------------------------
    def begin(self, want_tail: bool) -> None:
        self._used = 0
        self._dropped = 0
        self._dropped_records = 0
        self._tail = [] if want_tail else None
        self._tail_len = 0

    def system(self, line: str | None) -> None:
        """A platform line (START/END/REPORT, or its JSON record); never counted against the cap.
        None (a record SystemLogLevel filters out) writes nothing."""
        if line is None:
            return
        self.writer.write(line, platform=True)  # never parsed as EMF
        self._remember(line)

    def end(self) -> None:
        """Drain what the runtime wrote so far, flush a dangling partial line, note any truncation."""
        self._drain(max_chunks=256)
        if self._partial:
            self._emit(self._partial)
            self._partial = b""
        if self._dropped:
            self.system(self.lines.logs_dropped(self._dropped, self._dropped_records, self.max_bytes))
            self._dropped = self._dropped_records = 0

    def tail(self) -> bytes:
        if self._tail is None:
            return b""
        data = "".join(line + "\n" for line in self._tail).encode()
        return data[-TAIL_BYTES:]

    def flush(self) -> None:
        self.writer.flush()

    # -- reading -------------------------------------------------------------------------------
    def _remember(self, line: str) -> None:
        if self._tail is not None:
            self._tail.append(line)
            self._tail_len += len(line) + 1
            while self._tail_len > 4 * TAIL_BYTES and len(self._tail) > 1:
                self._tail_len -= len(self._tail.pop(0)) + 1

    def _emit(self, raw: bytes) -> None:
        if self._used + len(raw) > self.max_bytes:
            self._dropped += len(raw) + 1
            self._dropped_records += 1
            return
        self._used += len(raw) + 1
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.writer.write(line, int(time.time() * 1000))
        self._remember(line)

    def _feed(self, data: bytes) -> None:
        buf = self._partial + data
        *lines, self._partial = buf.split(b"\n")
        for raw in lines:
            self._emit(raw)
        # A line longer than the cap can never be stored whole: cut it rather than buffer forever.
        if len(self._partial) > 256 * 1024:
            self._emit(self._partial)
            self._partial = b""

    def _drain(self, max_chunks: int = 16) -> None:
        # Bounded: a function flooding its output must not monopolise the event loop.
        if self._closed:
            return
        for _ in range(max_chunks):
            try:
                data = os.read(self.fd, _READ)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            if not data:
                self.close()
                return
            self._feed(data)

    def _on_readable(self) -> None:
        self._drain()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self.fd)
