"""Deployment packages on disk: one zip and one unpacked tree per content hash.

``<data dir>/code/<sha256>.zip`` is the durable copy (what GetFunction's Code.Location serves);
``<sandbox dir>/code/<sha256>/`` is the unpacked tree, mounted read-only at /var/task by every
sandbox of every version with that code. The unpacked tree is a cache: it is rebuilt from the zip
whenever it is missing.

Temporaries (``code/<sha256>.tmp`` while a zip is written, ``<sha256>.partial/`` while it is
unpacked) are removed by the upload that made them when it fails, and by the next server start
when a crash left them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import threading
from pathlib import Path

from lambent.control.codezip import PARTIAL_SUFFIX, ZipLimits, inspect_zip, unpack_zip
from lambent.control.model import CodeInfo
from lambent.store import Store

log = logging.getLogger(__name__)

#: Suffix of a zip being written, renamed to ``.zip`` once its tree is unpacked.
_ZIP_TMP_SUFFIX = ".tmp"


class CodeStore:
    """Scope: one per server. Called from worker threads: one lock orders every change to the
    files and the blob rows, and a package is *pinned* from ``put`` until its caller has recorded
    the version that refers to it (``unpin``), so that a concurrent ``release`` of the same
    content (another function's update or delete) cannot delete it in between."""

    def __init__(self, root: Path, store: Store, limits: ZipLimits, unpack_root: Path | None = None) -> None:
        self.root = root
        self.unpack_root = unpack_root or root
        self.store = store
        self.limits = limits
        self._lock = threading.Lock()
        self._pins: dict[str, int] = {}
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self.unpack_root.mkdir(parents=True, exist_ok=True)
        # Sandboxes are set up by an unprivileged host uid: it must be able to traverse to the code.
        os.chmod(self.unpack_root, 0o711)
        # Opened once per server, after the data dir is locked: nobody else is writing here.
        self._remove_temporaries()

    def _remove_temporaries(self) -> None:
        """Remove what uploads interrupted by a crash left: zips half written, trees half unpacked."""
        stale = [p for p in self.root.glob(f"*{_ZIP_TMP_SUFFIX}") if not p.is_dir()]
        partial = list(self.unpack_root.glob(f"*{PARTIAL_SUFFIX}"))
        for p in stale:
            p.unlink(missing_ok=True)
        for p in partial:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        if stale or partial:
            log.warning("removed %d unfinished code upload(s) and %d half-unpacked tree(s)", len(stale), len(partial))

    def zip_path(self, sha256_hex: str) -> Path:
        return self.root / f"{sha256_hex}.zip"

    def code_dir(self, sha256_hex: str) -> Path:
        return self.unpack_root / sha256_hex

    def check(self, data: bytes) -> CodeInfo:
        """Validate and hash a package without storing it (raises the AWS-shaped error)."""
        unzipped = inspect_zip(data, self.limits)
        digest = hashlib.sha256(data).digest()
        return CodeInfo(digest.hex(), base64.b64encode(digest).decode(), len(data), unzipped)

    def put(self, data: bytes) -> CodeInfo:
        """Store a package (idempotent per content), unpack it once, and pin it: the caller
        calls ``unpin`` once the version referring to it is recorded (or it gave up)."""
        info = self.check(data)
        with self._lock:
            zpath = self.zip_path(info.sha256_hex)
            tmp = zpath.with_suffix(_ZIP_TMP_SUFFIX)
            fresh = not zpath.exists()
            try:
                if fresh:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                if not self.code_dir(info.sha256_hex).exists():
                    unpack_zip(data, self.code_dir(info.sha256_hex), self.limits)
                    # Root-only until an environment mounts it (sandbox/uids.py grants its uid).
                    os.chmod(self.code_dir(info.sha256_hex), 0o700)
                # The zip is kept only once its tree exists: a failed unpack leaves nothing behind.
                if fresh:
                    os.replace(tmp, zpath)
            finally:
                if fresh:
                    tmp.unlink(missing_ok=True)
            self.store.add_code_blob(info.sha256_hex, info.size, info.unzipped_size)
            self._pins[info.sha256_hex] = self._pins.get(info.sha256_hex, 0) + 1
        return info

    def unpin(self, sha256_hex: str) -> None:
        with self._lock:
            left = self._pins.get(sha256_hex, 0) - 1
            if left > 0:
                self._pins[sha256_hex] = left
            else:
                self._pins.pop(sha256_hex, None)

    def hold(self, sha256_hex: str, blocking: bool = True) -> bool | None:
        """Pin an unpacked tree for an execution environment that mounts it, so that an update or
        delete releasing the package meanwhile cannot remove its files under a running function;
        the holder calls ``unpin`` then ``release`` when its sandbox is gone. False (nothing
        pinned) if the tree is gone already; None if not ``blocking`` and the lock is busy (an
        unpack may hold it for seconds: the event loop then asks again from a thread)."""
        if not self._lock.acquire(blocking):
            return None
        try:
            if not self.code_dir(sha256_hex).is_dir():
                return False
            self._pins[sha256_hex] = self._pins.get(sha256_hex, 0) + 1
            return True
        finally:
            self._lock.release()

    def ensure_unpacked(self, sha256_hex: str) -> Path:
        """Re-create an unpacked tree from its zip if it went missing (e.g. a crash mid-unpack)."""
        with self._lock:
            d = self.code_dir(sha256_hex)
            if not d.exists():
                unpack_zip(self.zip_path(sha256_hex).read_bytes(), d, self.limits)
            return d

    def release(self, sha256_hex: str) -> None:
        """Delete a package no version refers to any more (and no ``put`` is about to)."""
        with self._lock:
            if self._pins.get(sha256_hex) or self.store.code_blob_in_use(sha256_hex):
                return
            self.store.delete_code_blob(sha256_hex)
            self.zip_path(sha256_hex).unlink(missing_ok=True)
            shutil.rmtree(self.code_dir(sha256_hex), ignore_errors=True)
