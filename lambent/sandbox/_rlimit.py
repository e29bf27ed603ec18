"""Set the sandbox init's RLIMIT_NOFILE while it is blocked, so the command inherits it.

bwrap has no rlimit option and wrapping the command in ``prlimit(1)`` costs an exec (0.5-1 ms
measured). So the host calls ``prlimit(2)`` on the sandbox's init (bwrap's pid 1, blocked on
``--block-fd`` before it forks the command). The kernel allows that to a caller with
CAP_SYS_RESOURCE, or to one whose *real* uid and gid equal the target's (check_prlimit_permission
in kernel/sys.c). lambent's root may lack CAP_SYS_RESOURCE (the development VM's root does), so
when the plain call is refused the worker thread briefly takes the target's ids as its real ids:
raw ``setresuid``/``setresgid`` syscalls change the calling thread only (glibc's wrappers would
change every thread), the effective and saved ids stay 0 so no capability is dropped, and the
ids are put back right after the call. Lowering a limit never needs a capability.

It runs on an executor thread (never the event loop's, which is the thread signal permissions
are judged by), overlapping the cgroup migration and the listener setup. Restoring cannot fail:
the effective uid stays 0, so CAP_SETUID is kept throughout; and a thread whose real ids were
left changed would still act as root (files and signals go by the effective ids and caps).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource

from .errors import SandboxError

# (setresuid, setresgid) syscall numbers of the architectures lambent runs on.
_SETRES_NR = {"x86_64": (117, 119), "aarch64": (147, 149)}
# libc's handle (dlopen of the running process: 24 us per call, so opened once).
_LIBC = ctypes.CDLL(None, use_errno=True)


def _ids(pid: int) -> tuple[int, int]:
    """The real uid and gid of ``pid`` (from /proc/PID/status, whose Uid/Gid lines come early)."""
    fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        status = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        uid = int(status.split(b"\nUid:", 1)[1].split(None, 1)[0])
        gid = int(status.split(b"\nGid:", 1)[1].split(None, 1)[0])
    except (IndexError, ValueError) as exc:
        raise OSError(f"no Uid/Gid in /proc/{pid}/status") from exc
    return uid, gid


def _setres(nr: int, real: int) -> None:
    """setres[ug]id(real, -1, -1) of the calling thread only (the raw syscall)."""
    if _LIBC.syscall(nr, real, -1, -1) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def set_nofile(pid: int, limit: int) -> None:
    """Soft and hard RLIMIT_NOFILE of ``pid`` := ``limit``. Blocking; run off the event loop."""
    try:
        _set_nofile(pid, limit)
    except OSError as exc:
        raise SandboxError(f"cannot set RLIMIT_NOFILE of the sandbox: {exc}") from exc


def _set_nofile(pid: int, limit: int) -> None:
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        return
    except PermissionError:
        pass  # no CAP_SYS_RESOURCE: match the target's real ids instead
    numbers = _SETRES_NR.get(platform.machine())
    if numbers is None:
        raise OSError(f"no setresuid syscall number known for {platform.machine()}")
    setresuid, setresgid = numbers
    uid, gid = _ids(pid)
    _setres(setresgid, gid)
    try:
        _setres(setresuid, uid)
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        finally:
            _setres(setresuid, 0)
    finally:
        _setres(setresgid, 0)
