"""Log quotas: running byte counts per log group, per account and in total, and which segments to
delete.

Pure bookkeeping (no I/O): :class:`~lambent.observability.logs.LogStore` tells it what was written
(``charge``) and which segments were closed (``closed``), and deletes what it answers. Every call
is O(1) except the choice of victims, which happens once per segment's worth of bytes (the total
quota's victim is the oldest head among the groups: O(groups)).

A group's account is the prefix of its stored name (``ACCOUNT:GROUP``,
:func:`lambent.observability.logs.account_group`). While more than one account has logs, past the
account quota the oldest segments of that account's groups go, so one tenant's log flood cannot
push the other accounts' logs out; an account alone may use the whole total.

Oldest first: a segment's age is the order in which it was closed (its stream rolled over to a
new segment, or its environment ended), i.e. the order of its last write. Segments still being
written are never deleted here; the store rolls one over when nothing closed is left to delete.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from lambent.settings import StorageSettings

_MIN_SEGMENT_BYTES = 4096


@dataclass(frozen=True)
class LogQuota:
    """Bytes of logs kept per group and in total; streams are cut into ``segment_max_bytes``."""

    group_max_bytes: int
    total_max_bytes: int
    segment_max_bytes: int
    #: Closed segment files kept per group and in total: a function that makes a new stream per
    #: invocation (it crashes every time) must not exhaust the filesystem's inodes with tiny files.
    group_max_files: int = 10_000
    total_max_files: int = 100_000
    #: Bytes kept of one account's groups while other accounts have logs too (None: the
    #: total's); an account alone may use the whole total.
    account_max_bytes: int | None = None

    @property
    def account_bytes(self) -> int:
        return self.total_max_bytes if self.account_max_bytes is None else self.account_max_bytes

    @classmethod
    def unlimited(cls) -> LogQuota:
        return cls(1 << 62, 1 << 62, 1 << 62)

    @classmethod
    def from_settings(cls, s: StorageSettings, filesystem_bytes: int) -> LogQuota:
        """Defaults: 100 MB per group, 1 GB in total but at most a quarter of the filesystem, so
        that logs alone never fill the data dir; segments of at most 8 MB and a quarter of the
        group quota, so that rotation keeps at least three quarters of a group's quota."""
        total = s.logs_max_bytes
        if s.logs_max_fs_fraction > 0 and filesystem_bytes > 0:
            total = min(total, int(filesystem_bytes * s.logs_max_fs_fraction))
        total = max(total, _MIN_SEGMENT_BYTES)
        account = max(_MIN_SEGMENT_BYTES, int(total * s.logs_account_max_fraction))
        group = min(s.log_group_max_bytes, total)
        segment = max(_MIN_SEGMENT_BYTES, min(s.log_segment_max_bytes, group // 4))
        return cls(group, total, segment, s.log_group_max_files, max(s.logs_max_files, s.log_group_max_files),
                   account_max_bytes=account)


@dataclass
class Segment:
    """One closed segment file: its bytes and the time of its last event."""

    path: Path
    group: str
    size: int
    last_ms: int
    #: Closing order (oldest first).
    seq: int = 0


@dataclass
class _Group:
    account: str = ""
    bytes: int = 0
    closed: deque[Segment] = field(default_factory=deque)


def account_of(group: str) -> str:
    """The account of a stored group name (``ACCOUNT:GROUP``; "" for a name without one)."""
    account, sep, _ = group.partition(":")
    return account if sep else ""


class LogUsage:
    """Scope: one LogStore. Not thread-safe (the event loop's)."""

    def __init__(self, quota: LogQuota) -> None:
        self.quota = quota
        self.total = 0
        #: Closed segments of all groups.
        self.files = 0
        self._groups: dict[str, _Group] = {}
        #: bytes per account (of its groups)
        self._accounts: dict[str, int] = {}
        self._seq = 0

    def _group(self, group: str) -> _Group:
        g = self._groups.get(group)
        if g is None:
            g = self._groups[group] = _Group(account_of(group))
        return g

    def account_bytes(self, account: str) -> int:
        return self._accounts.get(account, 0)

    def _account_cap(self) -> int:
        return self.quota.account_bytes if len(self._accounts) > 1 else self.quota.total_max_bytes

    def _uncharge(self, g: _Group, n: int) -> None:
        g.bytes -= n
        self.total -= n
        left = self._accounts.get(g.account, 0) - n
        if left > 0:
            self._accounts[g.account] = left
        else:
            self._accounts.pop(g.account, None)

    def group_bytes(self, group: str) -> int:
        g = self._groups.get(group)
        return g.bytes if g is not None else 0

    def closed_count(self, group: str) -> int:
        g = self._groups.get(group)
        return len(g.closed) if g is not None else 0

    # -- what was written ------------------------------------------------------------------------
    def charge(self, group: str, n: int) -> bool:
        """``n`` bytes were appended to one of ``group``'s segments; True if a quota is exceeded."""
        g = self._group(group)
        g.bytes += n
        self.total += n
        in_account = self._accounts[g.account] = self._accounts.get(g.account, 0) + n
        return (g.bytes > self.quota.group_max_bytes or self.total > self.quota.total_max_bytes
                or in_account > self._account_cap())

    def closed(self, seg: Segment) -> bool:
        """A segment (already charged) will not be written again: it may now be deleted. True if
        that makes too many files (then ask for ``victims``)."""
        self._seq += 1
        seg.seq = self._seq
        g = self._group(seg.group)
        g.closed.append(seg)
        self.files += 1
        return len(g.closed) > self.quota.group_max_files or self.files > self.quota.total_max_files

    def existing(self, seg: Segment) -> None:
        """A segment found on disk at start-up (give them oldest first): charge and close it."""
        self.charge(seg.group, seg.size)
        self.closed(seg)

    def over(self, group: str) -> bool:
        return (self.group_bytes(group) > self.quota.group_max_bytes or self.total > self.quota.total_max_bytes
                or self.account_bytes(account_of(group)) > self._account_cap())

    # -- what to delete --------------------------------------------------------------------------
    def _take(self, g: _Group) -> Segment:
        seg = g.closed.popleft()
        self._uncharge(g, seg.size)
        self.files -= 1
        return seg

    def _oldest(self, account: str | None = None) -> _Group | None:
        """The group (of ``account``, when given) whose oldest closed segment is the oldest."""
        oldest: _Group | None = None
        for other in self._groups.values():
            if other.closed and (account is None or other.account == account) and (
                    oldest is None or other.closed[0].seq < oldest.closed[0].seq):
                oldest = other
        return oldest

    def victims(self, group: str) -> list[Segment]:
        """Closed segments to delete, oldest first, until ``group`` and the total are within
        their quotas (or nothing closed is left); they are uncharged already."""
        out: list[Segment] = []
        q = self.quota
        g = self._groups.get(group)
        while g is not None and g.closed and (g.bytes > q.group_max_bytes or len(g.closed) > q.group_max_files):
            out.append(self._take(g))
        account = account_of(group)
        while self.account_bytes(account) > self._account_cap():
            mine = self._oldest(account)
            if mine is None:
                break
            out.append(self._take(mine))
        while self.total > q.total_max_bytes or self.files > q.total_max_files:
            oldest = self._oldest()
            if oldest is None:
                break
            out.append(self._take(oldest))
        return out

    def expired(self, group: str, before_ms: int) -> list[Segment]:
        """Closed segments of ``group`` whose last event is older than ``before_ms`` (uncharged)."""
        g = self._groups.get(group)
        if g is None:
            return []
        keep: deque[Segment] = deque()
        out: list[Segment] = []
        for seg in g.closed:
            (out if seg.last_ms < before_ms else keep).append(seg)
        g.closed = keep
        self.files -= len(out)
        for seg in out:
            self._uncharge(g, seg.size)
        return out

    def drop_group(self, group: str) -> list[Segment]:
        """Forget ``group`` (deleted with its open segments): its closed segments, to delete."""
        g = self._groups.pop(group, None)
        if g is None:
            return []
        self._uncharge(g, g.bytes)
        self.files -= len(g.closed)
        return list(g.closed)

    def drop_paths(self, group: str, paths: set[Path]) -> list[Segment]:
        """Forget ``group``'s closed segments at ``paths`` (a deleted stream's); they are uncharged."""
        g = self._groups.get(group)
        if g is None:
            return []
        out = [seg for seg in g.closed if seg.path in paths]
        if out:
            g.closed = deque(seg for seg in g.closed if seg.path not in paths)
            self.files -= len(out)
            for seg in out:
                self._uncharge(g, seg.size)
        return out
