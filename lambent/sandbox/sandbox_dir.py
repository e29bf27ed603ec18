"""The sandbox directory: what one owner's sandboxes mount (unpacked code, runtime clients).

It lives outside the owner's own state directory (the *owner dir*, lambent's data dir) because
sandboxes are set up by an unprivileged uid that must be able to traverse to it, and it holds
only caches the owner rebuilds from its own state at start. Its lifetime is tied to the owner dir:

- the owner picks its path (by default named after the owner dir, so one per owner dir);
- it records its owner dir in ``<dir>/.owner``, and the owner dir records it in
  ``<owner>/sandbox-dir`` (so ``remove_for_owner`` finds it whatever settings made it);
- the owner holds ``flock`` on ``<dir>/.lock`` for its whole run, and hands that lock to its
  reaper (``reaper.py``), which holds it until its sweep of a dead owner's sandboxes is over:
  a held lock means "sandboxes of this dir may be alive", and nobody removes a locked dir;
- an orderly stop removes it whole: renamed out of the way at once, deleted by the reaper
  (``SandboxDir.retire``), or here (``SandboxDir.remove``);
- any owner's start removes, under its root, the dirs nobody holds whose owner dir is gone
  (``sweep_orphans``);
- ``python -m lambent.sandbox.sandbox_dir remove OWNER_DIR`` (``make clean``) removes the dir of
  an owner that is not running.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import logging
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Literal

from .errors import SandboxError

__all__ = ["OWNER_RECORD", "SandboxDir", "remove_for_owner", "sweep_orphans"]

_log = logging.getLogger(__name__)

#: In the owner dir: the path of its sandbox dir.
OWNER_RECORD = "sandbox-dir"
_OWNER = ".owner"
_LOCK = ".lock"
# What a sandbox dir made before owner records existed holds; such a dir is adopted.
_LEGACY_ENTRIES = frozenset({"code", "runtimes", _LOCK})
# Names of the dirs ``sweep_orphans`` considers (owners name theirs like this by default).
_SWEEPABLE = re.compile(r"lambent-[0-9a-f]{12}")
# How often a waiting claim retries the lock.
_LOCK_POLL_S = 0.02
# A retired dir: ``.<name>.removing-<random>``, deleted by its owner's reaper; one older than
# _TRASH_AGE_S (the reaper died while deleting it) by ``sweep_orphans``.
_TRASH = ".removing-"
_TRASHED = re.compile(r"\.lambent-[0-9a-f]{12}\.removing-[0-9a-f]{8}")
_TRASH_AGE_S = 600.0


def _lock(path: Path) -> int | None:
    """An fd holding ``flock`` on ``path``, or None while someone else holds it.

    Raises FileNotFoundError if the directory is gone. Checks after locking that the file is still
    the one at ``path``: whoever held it may have removed the directory (and with it the file)
    just before letting go.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    try:
        same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        raise FileNotFoundError(errno.ENOENT, "removed while locking", str(path))
    return fd


def _read_owner(directory: Path) -> Path | None:
    try:
        text = (directory / _OWNER).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Path(text) if text else None


def _check_owner(directory: Path, owner: Path) -> Path | None:
    """The owner ``directory`` records (None: no record); SandboxError if it is not ``owner``."""
    recorded = _read_owner(directory)
    if recorded is not None and recorded != owner:
        raise SandboxError(
            f"sandbox dir belongs to data dir {recorded}", path=str(directory),
            hint="two data dirs cannot share one sandbox dir (LAMBENT_WORKER_SANDBOX_DIR)",
        )
    return recorded


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


class SandboxDir:
    """One owner's claim on its sandbox dir. Scope: one owner run, from ``claim`` to ``remove``
    (orderly stop) or the process's end (the kernel drops the lock; the reaper's copy of it ends
    with the reaper's sweep)."""

    def __init__(self, path: Path, owner: Path, lock_fd: int) -> None:
        self.path = path
        self.owner = owner
        self._lock_fd: int | None = lock_fd

    @property
    def lock_fd(self) -> int:
        """The descriptor holding the lock (to hand to the reaper); -1 once released."""
        return -1 if self._lock_fd is None else self._lock_fd

    @classmethod
    def claim(cls, path: Path, owner: Path, wait_s: float = 15.0) -> SandboxDir:
        """Create (if need be) and lock ``path`` for ``owner``, and record each in the other.

        Waits up to ``wait_s`` for the lock: a dead predecessor's reaper holds it until its sweep
        is over (seconds at most), another owner's ``sweep_orphans`` for a moment. Raises
        SandboxError if it stays locked (another live owner uses the same dir), or if the dir
        belongs to another owner or holds files that are not a sandbox dir's.
        """
        owner = owner.resolve()
        _check_owner(path, owner)  # at once: no point waiting for another owner's lock
        deadline = time.monotonic() + wait_s
        while True:
            path.mkdir(parents=True, exist_ok=True, mode=0o711)
            try:
                fd = _lock(path / _LOCK)
            except FileNotFoundError:
                continue  # removed by a sweep that held the lock: make it again
            if fd is not None:
                break
            if time.monotonic() >= deadline:
                raise SandboxError(
                    "sandbox dir is in use by another server or its reaper",
                    path=str(path),
                    hint="two data dirs cannot share one sandbox dir (LAMBENT_WORKER_SANDBOX_DIR)",
                )
            time.sleep(_LOCK_POLL_S)
        try:
            if _check_owner(path, owner) is None:
                foreign = sorted(set(os.listdir(path)) - _LEGACY_ENTRIES)
                if foreign:
                    raise SandboxError(
                        f"directory holds files of something else ({', '.join(foreign[:3])}); "
                        "it would be removed at stop", path=str(path),
                        hint="point LAMBENT_WORKER_SANDBOX_DIR at an empty or new directory",
                    )
            _write_atomic(path / _OWNER, str(owner))
            _write_atomic(owner / OWNER_RECORD, str(path))
        except BaseException:
            os.close(fd)
            raise
        return cls(path, owner, fd)

    def remove(self) -> None:
        """Orderly stop: delete the whole dir (only caches), then let go of the lock. Call it
        once no sandbox and no reaper of this owner is left."""
        if self._lock_fd is None:
            return
        # Still locked while deleting: a successor waiting in ``claim`` then makes a new dir.
        shutil.rmtree(self.path, ignore_errors=True)
        if self.path.exists():
            _log.warning("sandbox dir %s could not be removed completely", self.path)
        self.release()

    def retire(self) -> Path | None:
        """Orderly stop, fast: rename the dir out of the way (a successor makes a new one) and
        let go of the lock; returns the renamed tree for someone to delete (the reaper), or None
        if it could not be renamed and was deleted here. Call it once no sandbox is left."""
        if self._lock_fd is None:
            return None
        trash = self.path.with_name(f".{self.path.name}{_TRASH}{secrets.token_hex(4)}")
        try:
            os.rename(self.path, trash)
        except OSError:  # a mount point, say
            self.remove()
            return None
        self.release()
        return trash

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


_Removal = Literal["removed", "held", "kept", "incomplete"]


def _remove_if_unheld(directory: Path, owner_gone: bool | None = None) -> _Removal:
    """Remove ``directory`` unless someone holds its lock ("held") or (when ``owner_gone`` is
    None) its recorded owner dir still exists or is not recorded ("kept"). "incomplete": a
    process still writing into it (a helper of its dead owner, say) left something behind."""
    try:
        fd = _lock(directory / _LOCK)
    except (FileNotFoundError, NotADirectoryError):
        return "kept"
    if fd is None:
        return "held"  # a live owner, or the reaper of a dead one
    try:
        if owner_gone is None:
            owner = _read_owner(directory)
            if owner is None or owner.exists():
                return "kept"  # no record (left for its owner or by hand), or a stopped owner's
        shutil.rmtree(directory, ignore_errors=True)
        return "incomplete" if directory.exists() else "removed"
    finally:
        os.close(fd)


def sweep_orphans(root: Path, keep: Path | None = None) -> list[Path]:
    """Remove the sandbox dirs under ``root`` that no owner holds and whose owner dir is gone,
    and retired ones whose deletion was abandoned.

    Only ``lambent-<12 hex>`` entries with an owner record are considered; ``keep`` (the caller's
    own) never is. Returns the sandbox dirs removed (abandoned retired ones are only logged).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        path = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False):
            continue
        if _TRASHED.fullmatch(entry.name):
            # ctime is the rename's time: older than this, its reaper is long gone.
            if time.time() - entry.stat(follow_symlinks=False).st_ctime > _TRASH_AGE_S:
                _log.warning("removing %s, a retired sandbox dir whose deletion was abandoned", path)
                shutil.rmtree(path, ignore_errors=True)
            continue
        if not _SWEEPABLE.fullmatch(entry.name):
            continue
        if keep is not None and path.resolve() == keep.resolve():
            continue
        owner = _read_owner(path)
        if owner is None or owner.exists():
            continue  # cheap check first (no lock file made in dirs we leave); re-checked locked
        if _remove_if_unheld(path) == "removed":
            removed.append(path)
    return removed


def remove_for_owner(owner: Path) -> Path | None:
    """Remove the sandbox dir ``owner`` records, if its owner is not running; returns it (None
    if there is none). Raises SandboxError if it is in use or does not name ``owner`` back."""
    owner = owner.resolve()
    try:
        text = (owner / OWNER_RECORD).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = Path(text)
    if not path.is_dir():
        return None
    if _read_owner(path) != owner:
        # Never delete a directory on the word of a file alone.
        raise SandboxError(f"{path} does not name {owner} as its owner; left in place", path=str(path))
    outcome = _remove_if_unheld(path, owner_gone=True)
    if outcome == "held":
        raise SandboxError("sandbox dir is in use: stop its server first", path=str(path))
    if outcome == "incomplete":
        raise SandboxError("sandbox dir could not be removed completely (something still writes to it)",
                           path=str(path), hint="try again in a few seconds")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lambent.sandbox.sandbox_dir")
    sub = parser.add_subparsers(dest="command", required=True)
    rm = sub.add_parser("remove", help="remove the sandbox dir of a data dir whose server is stopped")
    rm.add_argument("owner", type=Path, help="the data dir")
    args = parser.parse_args(argv)
    try:
        removed = remove_for_owner(args.owner)
    except SandboxError as exc:
        print(f"lambent: {exc}", file=sys.stderr)
        return 1
    if removed is not None:
        print(f"removed {removed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
