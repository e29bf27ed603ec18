"""Set the sandbox init's RLIMIT_NOFILE while it is blocked, so the command inherits it.

bwrap has no rlimit option and wrapping the command in ``prlimit(1)`` costs an exec (0.5-1 ms
measured). So the host calls ``prlimit(2)`` on the sandbox's init (bwrap's pid 1, blocked on
``--block-fd`` before it forks the command). The kernel allows that to a caller with
CAP_SYS_RESOURCE, or to one whose *real* uid and gid equal the target's (check_prlimit_permission
in kernel/sys.c). lambent's root may lack CAP_SYS_RESOURCE (the development VM's root does), so
when the plain call is refused the worker thread briefly takes the target's ids as its real ids:
raw ``setresuid``/``setresgid`` syscalls change the calling thread only (glibc's wrappers would
change every thread), the effective and saved ids stay 0 so no capability is dropped, and the
ids are restored before the thread ends. Lowering a limit never needs a capability.

Each call runs on a fresh, dedicated thread (as ``_netns`` does): whatever happens to its
credentials ends with it. It overlaps with the cgroup migration and the listener setup.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import platform
import resource
import threading

from .errors import SandboxError

# (setresuid, setresgid) syscall numbers of the architectures lambent runs on.
_SETRES_NR = {"x86_64": (117, 119), "aarch64": (147, 149)}


def _ids(pid: int) -> tuple[int, int]:
    """The real uid and gid of ``pid`` (from /proc/PID/status)."""
    uid = gid = -1
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"Uid:"):
                uid = int(line.split()[1])
            elif line.startswith(b"Gid:"):
                gid = int(line.split()[1])
                break
    return uid, gid


def _setres(libc: ctypes.CDLL, nr: int, real: int) -> None:
    if libc.syscall(nr, real, -1, -1) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def set_nofile(pid: int, limit: int) -> None:
    """Soft and hard RLIMIT_NOFILE of ``pid`` := ``limit``. Thread-affine: run on its own thread."""
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        return
    except PermissionError:
        pass  # no CAP_SYS_RESOURCE: match the target's real ids instead
    numbers = _SETRES_NR.get(platform.machine())
    if numbers is None:
        raise OSError(f"no setresuid syscall number known for {platform.machine()}")
    setresuid, setresgid = numbers
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = _ids(pid)
    _setres(libc, setresgid, gid)
    try:
        _setres(libc, setresuid, uid)
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        finally:
            _setres(libc, setresuid, 0)
    finally:
        _setres(libc, setresgid, 0)


def set_nofile_soon(pid: int, limit: int) -> asyncio.Future[None]:
    """Start ``set_nofile`` on a dedicated thread; the future fails with SandboxError."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[None] = loop.create_future()

    def deliver(error: BaseException | None) -> None:
        if result.done():
            return
        if error is None:
            result.set_result(None)
        else:
            result.set_exception(SandboxError(f"cannot set RLIMIT_NOFILE of the sandbox: {error}"))

    def work() -> None:
        error: BaseException | None = None
        try:
            set_nofile(pid, limit)
        except BaseException as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(deliver, error)
        except RuntimeError:  # the loop closed meanwhile; nobody is waiting any more
            pass

    threading.Thread(target=work, name=f"rlimit-{pid}", daemon=True).start()
    return result
