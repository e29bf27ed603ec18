"""bwrap's ``--json-status-fd`` stream and the mapping of its exit codes.

bwrap writes one JSON document per line: first ``{"child-pid": N, ...namespace ids}`` right after
it cloned the sandbox's init, finally ``{"exit-code": N}``. Only the first one is needed during
start; the exit code also arrives through bwrap's own exit status.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import dataclass
from typing import Any

from .errors import SandboxError

_MAX_SIGNAL = signal.SIGRTMAX


@dataclass(frozen=True)
class ExitStatus:
    """How the sandboxed process ended.

    Exactly one of ``exit_code`` and ``signal`` is set. bwrap reports a child killed by signal S
    as exit code 128+S (like a shell), so an explicit ``exit(137)`` is indistinguishable from
    SIGKILL and is reported as ``signal=9``.
    """

    exit_code: int | None
    signal: int | None
    oom_killed: bool


def exit_status_from_returncode(returncode: int, *, oom_killed: bool) -> ExitStatus:
    """Map bwrap's return code (asyncio style: negative = bwrap itself was signalled)."""
    if returncode < 0:
        return ExitStatus(exit_code=None, signal=-returncode, oom_killed=oom_killed)
    if 128 < returncode <= 128 + _MAX_SIGNAL:
        return ExitStatus(exit_code=None, signal=returncode - 128, oom_killed=oom_killed)
    return ExitStatus(exit_code=returncode, signal=None, oom_killed=oom_killed)


def split_documents(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Complete JSON lines in ``buffer`` and the unterminated rest."""
    *lines, rest = buffer.split(b"\n")
    documents: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            documents.append(value)
    return documents, rest


class StatusReader:
    """Reads the status pipe until bwrap reports the child pid (or the pipe closes).

    Lifetime: created right after bwrap was spawned, closed by ``close`` once bwrap exited.
    The fd is owned and closed by this object.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        os.set_blocking(fd, False)
        self._fd: int | None = fd
        self._loop = loop
        self._buffer = b""
        self._child_pid: asyncio.Future[int] = loop.create_future()
        loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        if self._fd is None or self._child_pid.done():
            return
        try:
            chunk = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(f"reading bwrap status failed: {exc.strerror}")
            return
        if not chunk:
            self._fail("bwrap exited before reporting the sandbox pid")
            return
        documents, self._buffer = split_documents(self._buffer + chunk)
        for doc in documents:
            pid = doc.get("child-pid")
            if isinstance(pid, int) and not self._child_pid.done():
                self._child_pid.set_result(pid)
                self._stop_reading()

    @property
    def reported_pid(self) -> int | None:
        """The child pid if bwrap reported it and it was read."""
        if self._child_pid.done() and not self._child_pid.cancelled():
            if self._child_pid.exception() is None:
                return self._child_pid.result()
        return None

    def drain(self) -> None:
        """Consume whatever is readable right now (used when tearing down a failed start)."""
        while self._fd is not None and not self._child_pid.done():
            before = self._buffer
            self._on_readable()
            if self._buffer == before and not self._child_pid.done():
                return

    def _fail(self, message: str) -> None:
        self._stop_reading()
        if not self._child_pid.done():
            self._child_pid.set_exception(SandboxError(message))

    def _stop_reading(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)

    async def child_pid(self) -> int:
        """The host pid of the sandbox's init; the caller bounds the wait."""
        return await asyncio.shield(self._child_pid)

    def close(self) -> None:
        """Stop reading and close the fd.

        Call it only once bwrap has exited (or is being killed): bwrap writes its final
        ``exit-code`` document just before exiting, and a closed read end would turn that
        write into a SIGPIPE that replaces the child's real exit status.
        """
        self.drain()
        self._stop_reading()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self._child_pid.done():
            self._child_pid.cancel()
        elif not self._child_pid.cancelled():
            self._child_pid.exception()  # mark retrieved: a timed-out start never awaited it
