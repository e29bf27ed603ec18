"""Disk space for what must not fail: a full data directory refuses growth, never deletes.

:class:`DiskGuard` watches free space in the data directory and keeps a *reserve*: a ballast file
(``reserve.ballast``, ``storage.reserve_bytes``, preallocated with ``posix_fallocate``) that is
unlinked when a delete or a state change would otherwise meet a full disk, and preallocated again
once there is room. SQLite in WAL mode needs free pages to commit even a ``DELETE`` (the WAL grows
before the database shrinks), so without a reserve a full disk would make it impossible to free
space through the API.

The rules (see docs/security.md):

- A write that grows lambent's state (CreateFunction, PublishVersion, an async accept…) first asks
  :meth:`DiskGuard.check_room`; below ``min_free_bytes`` of free space — counting a released
  ballast as still reserved — it is refused with :class:`~lambent.errors.StorageFull` (AWS's
  ``ServiceException``, 500) whose message names the cause. A write that still meets ENOSPC (or
  SQLite's ``SQLITE_FULL``) is translated into the same error at this boundary.
- Deletes and state changes run through :meth:`DiskGuard.essential`: the ballast is released first
  when free space is short, or after the first attempt met a full disk, and the attempt repeated.

Scope: one per server (per data dir). Thread-safe: store methods call it from worker threads,
the async queue's writer thread and the event loop (``check_room`` is an attribute read unless the
disk is already full).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext

from lambent.errors import StorageFull
from lambent.settings import StorageSettings

log = logging.getLogger(__name__)

BALLAST_NAME = "reserve.ballast"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
T = TypeVar("T")


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is the disk running out of space: ENOSPC or
    EDQUOT from the OS, ``SQLITE_FULL`` from SQLite (also wrapped by SQLAlchemy), StorageFull."""
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        if isinstance(exc, StorageFull):
            return True
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
            exc = exc.orig
            continue
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_message(what: str) -> str:
    return (
        f"lambent's data directory is out of space (ENOSPC): {what} was not carried out. "
        "Deletes keep working: delete functions or versions to free space, or grow the volume."
    )


class DiskGuard:
    """Free space, the full state and the reserve of one data directory (see the module docstring).
    The constructor touches nothing; :meth:`open` takes the first look."""

    def __init__(self, data_dir: Path, settings: StorageSettings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.ballast = data_dir / BALLAST_NAME
        self._lock = threading.Lock()
        self._full = False
        self._ballast_present = False
        #: Times the ballast was released for an essential write (for tests and operators).
        self.releases = 0
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        """First look at the data directory (which must exist): preallocate the ballast if there
        is room, or release it when starting on a full disk. Blocking; once, at server start."""
        self.refresh()
        if self._full and self._ballast_present:
            # Starting on a full disk: SQLite must create its -wal/-shm files to open the
            # databases at all, and the server must come up for deletes to free space.
            self.release()
            self.refresh(restore=False)
        elif self.settings.reserve_bytes and not self._ballast_present:
            log.warning("no room for the %d-byte disk reserve in %s: writes that grow state are refused "
                        "until there is", self.settings.reserve_bytes, self.data_dir)

    # -- free space -----------------------------------------------------------------------------
    def free_bytes(self) -> int:
        st = os.statvfs(self.data_dir)
        return st.f_bavail * st.f_frsize

    def filesystem_bytes(self) -> int:
        st = os.statvfs(self.data_dir)
        return st.f_blocks * st.f_frsize

    @property
    def full(self) -> bool:
        return self._full

    @property
    def ballast_present(self) -> bool:
        return self._ballast_present

    def _needed(self) -> int:
        # A released ballast still counts as reserved: growth must not eat the room it freed.
        return self.settings.min_free_bytes + (0 if self._ballast_present else self.settings.reserve_bytes)

    def refresh(self, restore: bool = True) -> int:
        """Look at free space: recreate the ballast if it was released and there is room again
        (``restore``), and set the full state. Returns the free bytes. Blocking (fallocate)."""
        with self._lock:
            self._ballast_present = self.ballast.exists()
            free = self.free_bytes()
            want = self.settings.reserve_bytes
            if restore and want and not self._ballast_present and free >= want + self.settings.min_free_bytes:
                self._ballast_present = self._allocate(want)
                free = self.free_bytes()
            was_full = self._full
            self._full = free < self._needed()
        if was_full != self._full:
            if self._full:
                log.warning("data directory %s is full (%d bytes free): writes that grow state are refused", self.data_dir, free)
            else:
                log.warning("data directory %s has room again (%d bytes free)", self.data_dir, free)
        return free

    def _allocate(self, size: int) -> bool:
        tmp = self.ballast.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
            os.replace(tmp, self.ballast)
            return True
        except OSError as exc:
            log.warning("could not preallocate the disk reserve %s: %s", self.ballast, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False

    def release(self) -> bool:
        """Unlink the ballast; True if there was one to release."""
        with self._lock:
            try:
                self.ballast.unlink()
            except FileNotFoundError:
                self._ballast_present = False
                return False
            self._ballast_present = False
            self.releases += 1
        log.warning("released the disk reserve in %s for a delete or state change", self.data_dir)
        return True

    # -- the two kinds of write -----------------------------------------------------------------
    def check_room(self, what: str) -> None:
        """Raise StorageFull if a write that grows state (``what``, e.g. "PublishVersion") must be
        refused. O(1) unless the disk is already full (then one statvfs, to notice room again)."""
        if self._full:
            self.refresh(restore=False)
            if self._full:
                raise StorageFull(disk_full_message(what), data_dir=str(self.data_dir))

    def error(self, what: str) -> StorageFull:
        return StorageFull(disk_full_message(what), data_dir=str(self.data_dir))

    def note_full(self) -> None:
        """A write met ENOSPC: be full until a look at free space says otherwise."""
        self._full = True

    def guarded(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run a write that grows state: refused when full, ENOSPC translated to StorageFull."""
        self.check_room(what)
        try:
            return fn(*args)
        except Exception as exc:
            if is_disk_full(exc):
                self.note_full()
                raise self.error(what) from exc
            raise

    def essential(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run a delete or state change ``fn(*args)`` (idempotent: it may run twice) with the
        reserve: released first when free space is short, else after a first attempt met a full
        disk. Raises StorageFull only if even the reserve was not enough."""
        if self._ballast_present and self.free_bytes() < max(self.settings.min_free_bytes, 1 << 20):
            self.release()
        try:
            return fn(*args)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self.note_full()
            if not self.release():
                raise self.error(what) from exc
        try:
            return fn(*args)
        except Exception as exc:
            if is_disk_full(exc):
                raise self.error(what) from exc
            raise

    # -- SQL ------------------------------------------------------------------------------------
    def install(self, engine: sa.Engine) -> None:
        """Translate a full disk met by any statement or commit on ``engine`` into StorageFull."""
        event.listen(engine, "handle_error", self._on_sql_error)

    def _on_sql_error(self, ctx: ExceptionContext) -> None:
        if is_disk_full(ctx.original_exception):
            self.note_full()
            raise self.error("the change") from ctx.original_exception

    # -- watching ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Look at free space every ``check_interval_s`` on the running loop until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_s)
            try:
                await asyncio.to_thread(self.refresh)
            except OSError:
                log.exception("could not look at free space in %s", self.data_dir)
