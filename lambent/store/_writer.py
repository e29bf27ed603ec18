"""The group-committing writer thread behind :mod:`lambent.store.usage` and :mod:`lambent.store.traces`.

Producers (the event loop) only call :meth:`GroupWriter.offer`: an append to a bounded deque, no
lock and no wake-up per item (one producer appends, one consumer pops: deque's append and popleft
are atomic). One thread wakes every ``commit_interval_s``, hands what accumulated to the store's
``commit`` in batches of at most ``max_batch``, and calls the store's ``prune`` every
``prune_every_s``. The store's ``commit`` reports back with :meth:`room`, :meth:`committed` and
:meth:`failed`; every drop is counted and logged, at most once per ``_LOG_EVERY_S`` per cause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from lambent.errors import LambentError
from lambent.store.reserve import DiskGuard

__all__ = ["GroupWriter", "WriterCounters"]

T = TypeVar("T")

_LOG_EVERY_S = 10.0


class GroupWriter(Generic[T]):
    """Scope: one per store. :meth:`offer` from one producer thread; :meth:`start` and
    :meth:`close` from the thread that opens and closes the store."""

    def __init__(
        self,
        *,
        name: str,
        what: str,
        log: logging.Logger,
        commit: Callable[[list[T]], None],
        prune: Callable[[], object],
        max_queued: int,
        max_batch: int,
        commit_interval_s: float,
        prune_every_s: float,
        disk: DiskGuard | None = None,
        doing: str = "",
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        """``name``: the thread's; ``what``: the items, plural, in log lines ("usage records");
        ``doing``: what the disk guard is told growth is for ("recording usage"); ``on_exit``: run
        by the thread as it ends."""
        self.what = what
        self.max_queued = max_queued
        self.max_batch = max_batch
        self.commit_interval_s = commit_interval_s
        self.prune_every_s = prune_every_s
        self.disk = disk
        self.doing = doing
        self._log = log
        self._commit = commit
        self._prune = prune
        self._on_exit = on_exit
        self.inbox: deque[T] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: Guards the counters; stores may take it for counters of their own.
        self.lock = threading.Lock()
        self._settled = threading.Condition(self.lock)
        self._pruned_at = -prune_every_s
        #: Items dropped since start (closed store, full queue, full disk, database errors).
        self.dropped = 0
        #: Items committed since start.
        self.written = 0
        self._last_log: dict[str, float] = {}
        self.closed = False

    def start(self) -> None:
        self._thread.start()

    # -- the producer side ----------------------------------------------------------------------
    def offer(self, item: T, store: str) -> bool:
        """Queue one item; never blocks. False (and counted) if dropped. ``store``: its name in
        the cause logged when it is closed ("usage")."""
        if self.closed:
            self.drop(1, f"the {store} store is closed")
            return False
        if len(self.inbox) >= self.max_queued:
            self.drop(1, "the in-memory queue is full")
            return False
        self.inbox.append(item)
        return True

    def wait_settled(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` items were written or dropped since start (tests, tools)."""
        with self._settled:
            return self._settled.wait_for(lambda: self.written + self.dropped >= count, timeout_s)

    def drop(self, n: int, cause: str) -> None:
        with self.lock:
            self.dropped += n
            self._settled.notify_all()
            total = self.dropped
            now = time.monotonic()
            due = now - self._last_log.get(cause, -_LOG_EVERY_S) >= _LOG_EVERY_S
            if due:
                self._last_log[cause] = now
        if due:
            self._log.warning("%s dropped: %d (%s); %d dropped since start", self.what, n, cause, total)

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.wait(self.commit_interval_s)
                self._drain()
                if time.monotonic() - self._pruned_at >= self.prune_every_s:
                    self._pruned_at = time.monotonic()
                    self._prune()
                if stopping:
                    return
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def _drain(self) -> None:
        """Commit what is queued now, in batches of at most ``max_batch`` items."""
        inbox = self.inbox
        while inbox:
            batch: list[T] = []
            while inbox and len(batch) < self.max_batch:
                batch.append(inbox.popleft())
            self._commit(batch)

    # -- what the store's commit reports --------------------------------------------------------
    def room(self, n: int) -> bool:
        """Before committing ``n`` items: False (and dropped) while the data directory is full."""
        if self.disk is not None and self.disk.full:
            try:
                self.disk.check_room(self.doing)
            except LambentError:
                self.drop(n, "the data directory is full")
                return False
        return True

    def committed(self, n: int) -> None:
        with self.lock:
            self.written += n
            self._settled.notify_all()

    def failed(self, n: int, exc: BaseException, *, disk_full: bool) -> None:
        """The commit of ``n`` items raised ``exc``; ``disk_full``: the disk or the database is full."""
        if disk_full:
            if self.disk is not None:
                self.disk.note_full()
            self.drop(n, "the data directory is full")
        else:
            self.drop(n, f"database error: {exc}")

    def close(self, timeout_s: float) -> bool:
        """Refuse new items, let the thread commit what is queued and wait for it. False if it
        had not finished within ``timeout_s``."""
        self.closed = True
        if self._thread.ident is None:
            return True
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        return not self._thread.is_alive()


class WriterCounters:
    """What a store whose ``_writer`` is a :class:`GroupWriter` shows of it."""

    _writer: GroupWriter[Any]

    @property
    def dropped(self) -> int:
        """Items dropped since start (closed store, full queue, full disk, database errors)."""
        return self._writer.dropped

    @property
    def written(self) -> int:
        """Items committed since start."""
        return self._writer.written

    def wait_settled(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` items were written or dropped since start (tests, tools)."""
        return self._writer.wait_settled(count, timeout_s)
