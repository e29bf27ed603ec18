"""Reading a request body without letting the client decide how much server memory it takes.

A body is read only after its headers passed every check they allow (``api/app.py``). While it
arrives its SHA-256 is computed, so the signature check (``sigv4.PendingSignature.finish``) never
needs the whole body at once. Small bodies (up to ``http.body_spool_bytes``) stay in memory; a
larger one goes to an unlinked temporary file under ``<data dir>/http-spool`` (``O_TMPFILE``:
nothing is left behind, even after a crash) and needs one of ``http.max_large_bodies`` slots,
held until its request is answered: at most that many large bodies are on disk or, once their
request is authenticated and loaded, in memory. A client that waits too long for a slot gets
AWS's throttle (429 TooManyRequestsException), which SDKs retry.

How long a body may take is enforced by the listener (``api/listener.py``), not here: that costs
no timer per request. When it closes a slow connection, :func:`read_body` raises
:class:`ClientDisconnected`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from starlette.types import Receive

from lambent.errors import LambentError, ServiceError, TooManyRequests


class ClientDisconnected(Exception):
    """The client went away (or was cut off) before its body was complete: nobody to answer."""


class LargeBodyGate:
    """The slots for spooled bodies. Scope: one per server."""

    def __init__(self, slots: int, wait_s: float) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._wait_s = wait_s

    async def acquire(self) -> None:
        if not self._slots.locked():  # a free slot: no timer (and wait_s=0 means "only if free")
            await self._slots.acquire()
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_s)
        except TimeoutError:
            # AWS's control-plane throttle: "Rate exceeded" with the caller's-rate reason.
            raise TooManyRequests("Rate exceeded", reason="CallerRateLimitExceeded") from None

    def release(self) -> None:
        self._slots.release()


class Body:
    """One request's body: its size, hex SHA-256 and content (memory or spool file). :meth:`close`
    gives back the spool file and the large-body slot; it is idempotent. Scope: one request."""

    __slots__ = ("size", "sha256", "_data", "_file", "_gate")

    def __init__(self, size: int, sha256: str, data: bytes | None, file: IO[bytes] | None,
                 gate: LargeBodyGate | None) -> None:
        self.size = size
        self.sha256 = sha256
        self._data = data
        self._file = file
        self._gate = gate

    @property
    def spooled(self) -> bool:
        return self._file is not None

    async def load(self) -> bytes:
        """The content in memory (for handlers, once the request is authenticated)."""
        if self._data is None:
            file = self._file
            if file is None:
                raise RuntimeError("body already closed")
            self._data = await asyncio.to_thread(_read_all, file)
        return self._data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._gate is not None:
            self._gate.release()
            self._gate = None


def _read_all(file: IO[bytes]) -> bytes:
    file.seek(0)
    return file.read()


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


async def read_body(receive: Receive, cap: int, too_big: LambentError, spool_bytes: int, spool_dir: Path,
                    gate: LargeBodyGate) -> Body:
    """Read the whole body, refusing anything over ``cap`` bytes as ``too_big`` the moment it
    crosses the cap. Raises :class:`ClientDisconnected` if the client goes away first."""
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    file: IO[bytes] | None = None
    slot: LargeBodyGate | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > cap:
                    raise too_big
                digest.update(chunk)
                if file is not None:
                    # Page-cache writes of at most ~64 KB (uvicorn pauses reading beyond that):
                    # cheaper in place than a thread hop per chunk.
                    file.write(chunk)
                elif size > spool_bytes:
                    await gate.acquire()
                    slot = gate
                    file = _spool_file(spool_dir)
                    for held in chunks:
                        file.write(held)
                    file.write(chunk)
                    chunks.clear()
                else:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except BaseException as exc:
        if file is not None:
            file.close()
        if slot is not None:
            slot.release()
        if isinstance(exc, OSError):  # the spool's disk is full or failing
            raise ServiceError(f"Could not spool the request body: {os.strerror(exc.errno or 0)}") from None
        raise
    if file is not None:
        file.flush()
        return Body(size, digest.hexdigest(), None, file, slot)
    if not chunks:
        return Body(0, EMPTY_SHA256, b"", None, None)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return Body(size, digest.hexdigest(), data, None, None)


def _spool_file(spool_dir: Path) -> IO[bytes]:
    try:
        spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return tempfile.TemporaryFile(dir=spool_dir)
    except OSError as exc:
        raise ServiceError(f"Could not spool the request body: {os.strerror(exc.errno or 0)}") from None
