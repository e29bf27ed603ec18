"""One host uid per sandbox, allocated host-wide, and the private paths only that uid may read.

Why: with one shared host uid, every sandbox could read every other's ``/proc/<pid>/environ``
(the same uid passes the kernel's ptrace access check), per-uid kernel quotas (inotify instances,
keyrings, RLIMIT_NPROC) were one pool for all functions, and any host process running as that uid
could read all of it. Each sandbox now runs as its own host uid (and gid of the same number).

Allocation is host-wide and crash-safe, because several owners (lambent servers) may share one
host: uid ``U`` is taken by holding an exclusive ``flock`` on ``<lock dir>/U`` for as long as the
sandbox lives. A dead owner's locks vanish with its process. Each owner tries the range from its
own rotating start, so owners rarely probe the same uids; one try is ``open`` + ``flock``.

Lock files hold what the holder granted (below), NUL-separated, written *before* granting. A
clean release revokes, then unlinks the file while still holding the lock (whoever locked the
old inode in between sees that the path no longer names it, and moves on). A crash leaves the
file with its record; the next owner to take that uid, or any owner's ``sweep`` at start-up,
revokes those grants first. So a grant never outlives its holder for another holder of the uid.

Private paths: a directory only the sandboxes it is granted to may read (the code tree mounted at
``/var/task``). Its top directory gets a POSIX access ACL: ``user::rwx`` (root), no group, no
other, plus one ``user:U:r-x`` entry per sandbox uid that mounts it (see ``acl(5)``). The entries
below stay world-readable: only the top needs closing. Read-modify-write of an ACL is serialised
host-wide by a lock file in the lock dir (never the directory itself: a sandbox can open and
``flock`` its own ``/var/task``).

Lifetime: one ``UidAllocator`` per owner process; a ``UidLease`` belongs to one sandbox, from
just before bwrap is spawned until its process tree is gone (``Sandbox.destroy``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import grp
import pwd
import secrets
import stat
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import SandboxError

__all__ = [
    "PrivateMountFull",
    "SandboxCapacityExceeded",
    "UidAllocator",
    "UidLease",
    "UidRange",
    "UidRangeExhausted",
    "close_private",
    "read_acl_users",
]

_log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = "/run/lambent/uids"
#: Inside the lock dir; not a number, so never taken for a uid's lock file.
_ACL_LOCK = "acl.lock"

# Linux's xattr encoding of a POSIX ACL (include/uapi/linux/posix_acl_xattr.h).
_XATTR = "system.posix_acl_access"
_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
_READ_EXEC = 0o5
_MAX_ID = 2**32 - 2  # (uid_t)-1 is reserved by the kernel


class SandboxCapacityExceeded(SandboxError):
    """The host cannot take another sandbox now (a capacity limit, not a failure)."""


class UidRangeExhausted(SandboxCapacityExceeded):
    """Every uid of the range is held by a live sandbox (of this or another owner on the host)."""


class PrivateMountFull(SandboxCapacityExceeded):
    """A private directory's ACL has no room for another sandbox's entry (ext4: 503 entries)."""


@dataclass(frozen=True)
class UidRange:
    """Host uids ``start .. start + size - 1``; each is also used as that sandbox's gid."""

    start: int
    size: int

    def __post_init__(self) -> None:
        if isinstance(self.start, bool) or isinstance(self.size, bool):
            raise ValueError("uid range start and size must be ints")
        if self.size < 1 or self.start < 1 or self.end > _MAX_ID:
            raise ValueError(f"uid range {self.start}+{self.size} must lie within 1..{_MAX_ID}")
        if self.start <= 65534 <= self.end:
            raise ValueError(f"uid range {self.start}..{self.end} contains nobody (65534)")

    @property
    def end(self) -> int:
        """The last uid of the range (inclusive)."""
        return self.start + self.size - 1

    def overlaps(self, start: int, count: int) -> bool:
        return start <= self.end and self.start <= start + count - 1


class UidLease:
    """One uid held for one sandbox; ``release`` is idempotent."""

    def __init__(self, allocator: UidAllocator, uid: int, fd: int) -> None:
        self.uid = uid
        self.gid = uid
        self._allocator = allocator
        self._fd: int | None = fd
        self._granted: list[str] = []

    @property
    def released(self) -> bool:
        return self._fd is None

    @property
    def granted(self) -> tuple[str, ...]:
        return tuple(self._granted)

    def grant(self, paths: Iterable[str]) -> None:
        """Let this uid read the directories ``paths`` (closing them to everyone else).

        Recorded in the lock file first, so a crash after the grant cannot leave it to the next
        holder of the uid. Raises SandboxError (the caller releases the lease).
        """
        fd = self._fd
        if fd is None:
            raise SandboxError(f"uid {self.uid} was released")
        new = [p for p in dict.fromkeys(paths) if p not in self._granted]
        if not new:
            return
        try:
            os.pwrite(fd, _encode_record([*self._granted, *new]), 0)
        except OSError as exc:
            raise SandboxError(f"cannot record grants of uid {self.uid}: {exc}") from exc
        with self._allocator.acl_lock():
            for path in new:
                try:
                    _update_acl(path, self.uid, add=True)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.E2BIG):
                        raise PrivateMountFull(
                            f"no room for uid {self.uid} in the ACL of a private mount: "
                            "too many sandboxes mount it at once",
                            path=path,
                        ) from exc
                    raise SandboxError(
                        f"cannot grant uid {self.uid} access: {exc.strerror}",
                        path=path,
                        hint="the filesystem must support POSIX ACLs (ext4, xfs, btrfs, tmpfs)",
                    ) from exc
                self._granted.append(path)

    def release(self) -> None:
        """Revoke every grant and give the uid back. Call only once no process runs as the uid.

        If a revocation fails, the lock file keeps its record (the uid's next holder or a
        ``sweep`` retries it) and the lock is dropped all the same.
        """
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        try:
            revoked = self._allocator.revoke(self.uid, self._granted)
            if revoked:
                os.unlink(self._allocator.lock_path(self.uid))
        except OSError as exc:
            _log.warning("releasing uid %d: %s", self.uid, exc)
        finally:
            self._allocator.forget(self.uid)
            self._allocator.close_later(fd)

    def __repr__(self) -> str:
        return f"UidLease(uid={self.uid}, {'released' if self.released else 'held'})"


class UidAllocator:
    """Hands out the uids of ``uid_range`` that no live owner on the host holds.

    Refuses (SandboxError, at construction) a range that overlaps ``/etc/subuid`` or
    ``/etc/subgid`` (those uids belong to other users' containers) and skips the uids and gids
    that ``/etc/passwd`` / ``/etc/group`` name. Called from the event loop (``acquire`` is a
    few syscalls, no blocking wait); ``sweep`` may run in a thread.
    """

    def __init__(
        self,
        uid_range: UidRange,
        lock_dir: str = DEFAULT_LOCK_DIR,
        *,
        subid_files: tuple[str, ...] = ("/etc/subuid", "/etc/subgid"),
    ) -> None:
        self.range = uid_range
        self.lock_dir = lock_dir
        for path in subid_files:
            _check_subids(uid_range, path)
        self._skip = _named_ids(uid_range)
        if len(self._skip) >= uid_range.size:
            raise SandboxError(f"every uid of {uid_range.start}..{uid_range.end} is a named user or group")
        _prepare_lock_dir(lock_dir)
        self._held: set[int] = set()
        # A random start per owner: owners sharing the range rarely probe the same uids.
        self._next = secrets.randbelow(uid_range.size)
        # The last close of an unlinked lock file frees its inode and data block: measured 2-7 ms
        # on ext4 mounted with discard (this VM's /run), ~10 us on tmpfs. Done off the caller's
        # thread: once the file is unlinked, nobody can lock that inode and keep it.
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uid-lock-close")

    @property
    def in_use(self) -> int:
        """Uids this owner holds now."""
        return len(self._held)

    def lock_path(self, uid: int) -> str:
        return f"{self.lock_dir}/{uid}"

    def acquire(self) -> UidLease:
        """A uid no live sandbox on the host runs as; raises UidRangeExhausted.

        Uids a dead holder left are passed over (``sweep`` reclaims them off the event loop, at
        every owner's start); only when nothing else is free are they reclaimed here, which
        scans /proc (~0.2 s with 1200 processes on a loaded 2-vCPU VM).
        """
        size = self.range.size
        left_by_dead: list[int] = []
        for step in range(size):
            index = (self._next + step) % size
            uid = self.range.start + index
            if uid in self._held or uid in self._skip:
                continue
            fd = self._try_lock(uid, running=None, left_by_dead=left_by_dead)
            if fd is not None:
                self._next = (index + 1) % size
                return self._lease(uid, fd)
        running = _uids_running() if left_by_dead else set()
        for uid in left_by_dead:
            fd = self._try_lock(uid, running=running)
            if fd is not None:
                return self._lease(uid, fd)
        raise UidRangeExhausted(
            f"no free sandbox uid: all {size} uids of {self.range.start}..{self.range.end} are in use",
            path=self.lock_dir,
            hint="raise LAMBENT_SANDBOX_UID_RANGE_SIZE or run fewer environments",
        )

    def _lease(self, uid: int, fd: int) -> UidLease:
        self._held.add(uid)
        return UidLease(self, uid, fd)

    def forget(self, uid: int) -> None:
        self._held.discard(uid)

    def close_later(self, fd: int) -> None:
        """Close a released lock file's descriptor on the closer thread."""
        try:
            self._closer.submit(os.close, fd)
        except RuntimeError:  # interpreter shutting down: no more threads
            os.close(fd)

    def _try_lock(self, uid: int, *, running: set[int] | None, left_by_dead: list[int] | None = None) -> int | None:
        """Lock ``uid``'s file; a dead holder's uid only with ``running`` (the uids processes run
        as now) and only if it is not among them; else it is noted in ``left_by_dead``."""
        path = self.lock_path(uid)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SandboxError(f"cannot open uid lock file: {exc.strerror}", path=path) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _still_named(fd, path):
                os.close(fd)  # released (unlinked) meanwhile; someone else may have it
                return None
            if os.fstat(fd).st_size:
                # Its previous holder died holding it. Its sandboxes may outlive it for a moment
                # (frozen ones until the owner's reaper kills them): the uid waits until no
                # process runs as it, then what was granted to it is taken back.
                if running is None:
                    if left_by_dead is not None:
                        left_by_dead.append(uid)
                    os.close(fd)
                    return None
                if uid in running or not self.revoke(uid, _read_record(fd)):
                    os.close(fd)
                    return None
                os.ftruncate(fd, 0)
            # Non-empty from now until release unlinks it: "held", even before any grant.
            os.pwrite(fd, _encode_record([]), 0)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def revoke(self, uid: int, paths: Iterable[str]) -> bool:
        """Remove ``uid``'s ACL entries from ``paths`` (gone paths count as done); True if all went."""
        paths = list(paths)
        if not paths:
            return True
        ok = True
        with self.acl_lock():
            for path in paths:
                try:
                    _update_acl(path, uid, add=False)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    _log.warning("cannot revoke uid %d's access to %s: %s", uid, path, exc)
                    ok = False
        return ok

    def sweep(self) -> int:
        """Clean up after dead owners: for every lock file nobody holds, revoke what it records
        and remove it. Returns how many were removed. Safe while other owners allocate."""
        removed = 0
        running: set[int] | None = None  # one /proc scan, only if some file is unlocked
        try:
            names = os.listdir(self.lock_dir)
        except FileNotFoundError:
            return 0
        for name in names:
            if not name.isdigit():
                continue
            uid = int(name)
            if uid in self._held:
                continue
            path = self.lock_path(uid)
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue  # released meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if running is None:
                    running = _uids_running()
                if _still_named(fd, path) and uid not in running and self.revoke(uid, _read_record(fd)):
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass  # held by a live owner (BlockingIOError) or gone
            finally:
                os.close(fd)
        return removed

    @contextmanager
    def acl_lock(self) -> Iterator[None]:
        """Host-wide exclusion for ACL read-modify-writes (a fresh open file description per use,
        so threads of one process exclude each other too)."""
        fd = os.open(f"{self.lock_dir}/{_ACL_LOCK}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------------- helpers


def _still_named(fd: int, path: str) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


#: First entry of every lock file's record: a held uid's file is never empty, so a file with
#: content that nobody has locked was left by a holder that died.
_HELD = b"#held"


def _encode_record(paths: list[str]) -> bytes:
    return b"".join(e + b"\0" for e in (_HELD, *map(os.fsencode, paths)))


def _read_record(fd: int) -> list[str]:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    return [os.fsdecode(p) for p in data.split(b"\0") if p and p != _HELD]


def _uids_running() -> set[int]:
    """Every uid some process on the host has as its real, effective, saved or fs uid (a scan
    of /proc, ~0.2 s for 1200 processes on a loaded 2-vCPU VM: only for uids whose holder died;
    a dead holder's uid gains no process meanwhile, as nobody else may start one as it)."""
    found: set[int] = set()
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            found.update(map(int, line.split()[1:]))
                            break
            except OSError:
                continue  # gone meanwhile
    return found


def _prepare_lock_dir(lock_dir: str) -> None:
    """Create the lock dir root-only; refuse one another user could have prepared."""
    try:
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        st = os.lstat(lock_dir)
    except OSError as exc:
        raise SandboxError(f"cannot create the uid lock dir: {exc.strerror}", path=lock_dir) from exc
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise SandboxError("uid lock dir is not a directory owned by this user", path=lock_dir)
    if st.st_mode & 0o077:
        os.chmod(lock_dir, 0o700)
    parent = os.path.dirname(lock_dir.rstrip("/")) or "/"
    pst = os.stat(parent)
    if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
        raise SandboxError("the uid lock dir's parent is writable by others", path=parent)


def _check_subids(uid_range: UidRange, path: str) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        start, count = int(parts[1]), int(parts[2])
        if count and uid_range.overlaps(start, count):
            raise SandboxError(
                f"sandbox uid range {uid_range.start}..{uid_range.end} overlaps {path} "
                f"({parts[0]}: {start}..{start + count - 1})",
                hint="set LAMBENT_SANDBOX_UID_RANGE_START to a range no one else uses",
            )


def _named_ids(uid_range: UidRange) -> set[int]:
    """Uids/gids of the range that name real users or groups (never handed out)."""
    ids = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    return {i for i in ids if uid_range.start <= i <= uid_range.end}


def _parse_acl(raw: bytes) -> list[tuple[int, int, int]]:
    (version,) = _HEADER.unpack_from(raw)
    if version != _VERSION or (len(raw) - _HEADER.size) % _ENTRY.size:
        raise OSError(errno.EINVAL, "unexpected POSIX ACL encoding")
    return [_ENTRY.unpack_from(raw, off) for off in range(_HEADER.size, len(raw), _ENTRY.size)]


def _encode_acl(entries: list[tuple[int, int, int]]) -> bytes:
    # The kernel wants entries sorted by tag, then id (posix_acl_valid).
    entries = sorted(entries, key=lambda e: (e[0], e[2]))
    return _HEADER.pack(_VERSION) + b"".join(_ENTRY.pack(*e) for e in entries)


def _update_acl(path: str, uid: int, *, add: bool) -> None:
    """Add (or remove) ``user:uid:r-x`` on ``path``, closing it to group and others."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            entries = _parse_acl(os.getxattr(fd, _XATTR))
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                raise
            mode = os.fstat(fd).st_mode
            entries = [(_USER_OBJ, (mode >> 6) & 7, _NO_ID)]
        user_obj = next((e[1] for e in entries if e[0] == _USER_OBJ), 7)
        named = {e[2]: e[1] for e in entries if e[0] == _USER}
        groups = [e for e in entries if e[0] == _GROUP]
        if add:
            named[uid] = _READ_EXEC
        else:
            if uid not in named:
                return
            del named[uid]
        new = [(_USER_OBJ, user_obj, _NO_ID), (_GROUP_OBJ, 0, _NO_ID), (_OTHER, 0, _NO_ID)]
        new += [(_USER, perm, i) for i, perm in named.items()] + groups
        if named or groups:
            mask = 0
            for _, perm, _ in new[3:]:
                mask |= perm
            new.append((_MASK, mask, _NO_ID))
        # Without named entries the kernel stores just the mode (0700): no xattr is left behind.
        os.setxattr(fd, _XATTR, _encode_acl(new))
    finally:
        os.close(fd)


def read_acl_users(path: str) -> dict[int, int]:
    """The named-user entries (uid -> permission bits) of ``path``'s access ACL (for tests and
    diagnostics); empty if it has none."""
    try:
        raw = os.getxattr(path, _XATTR, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return {}
        raise
    return {i: perm for tag, perm, i in _parse_acl(raw) if tag == _USER}


def close_private(path: str) -> None:
    """Make the private directory ``path`` root-only (mode 0700, no ACL entries), e.g. when its
    owner starts and no sandbox mounts it yet: nothing granted before (a host crash can lose a
    lock file's record, not the ACL) survives. Follows no symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            os.removexattr(fd, _XATTR)
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                raise
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
