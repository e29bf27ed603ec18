"""Tiny synchronous helpers for cgroupfs control files.

Control files are small and served from kernel memory, so these calls take microseconds and are
fine on the event loop. Writes never create files (no O_CREAT): a missing control file means the
controller is absent, which must surface as an error, not as a stray regular file.
"""

from __future__ import annotations

import errno
import os
import signal

from .errors import SandboxError


def write(path: str, value: str) -> None:
    """Write ``value`` to a control file, translating OSError into SandboxError."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxError(f"cannot open cgroup file: {exc.strerror}", path=path) from exc
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise SandboxError(
            f"cannot write {value!r} to cgroup file: {exc.strerror}", path=path
        ) from exc
    finally:
        os.close(fd)


def read(path: str) -> str:
    # Raw os calls: this runs on every invocation (memory peak), and a TextIOWrapper costs
    # several times the three syscalls.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxError(f"cannot read cgroup file: {exc.strerror}", path=path) from exc
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode("ascii")
    except OSError as exc:
        raise SandboxError(f"cannot read cgroup file: {exc.strerror}", path=path) from exc
    finally:
        os.close(fd)


def read_int(path: str) -> int:
    return int(read(path).split()[0])


def parse_keyed(text: str, key: str) -> int:
    """The value of ``key`` in a "key value" per line file (memory.events, cpu.stat, …)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def read_pids(path: str) -> set[int]:
    """Members listed in a cgroup.procs file; an already removed cgroup has none."""
    try:
        text = read(path)
    except SandboxError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            return set()
        raise
    return {int(tok) for tok in text.split()}


def kill_pids(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def mkdir(path: str) -> bool:
    """Create a cgroup directory; returns False if it already existed."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    except OSError as exc:
        raise SandboxError(
            f"cannot create cgroup: {exc.strerror}",
            path=path,
            hint="lambent must run as root with the cgroup filesystem mounted read-write",
        ) from exc
    return True


def rmdir(path: str) -> bool:
    """Remove a cgroup directory; True if it is gone, False while members keep it busy."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise SandboxError(f"cannot remove cgroup: {exc.strerror}", path=path) from exc
    return True
