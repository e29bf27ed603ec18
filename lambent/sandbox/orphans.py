"""Sandbox processes left behind by an owner that died without tearing them down.

bwrap's ``--die-with-parent`` reaches the sandbox's init only once bwrap has finished setting it
up: if the owner (and with it the outer bwrap) is SIGKILLed between bwrap's clone of the init and
that setup, the init stays blocked for ever on a descriptor nobody will write, outside any cgroup.
Such processes are still bwrap (or ``setpriv``, before it execs bwrap) and carry their owner's
*marker* (say, the directory their code is mounted from): in their command line, or — once
bwrap reads its arguments from a descriptor (``--args FD``) and the command line names nothing —
as ``LAMBENT_SANDBOX_OWNER=<marker>`` in their environment, which the init shares with bwrap.
That is how the owner's watchdog (``reaper.py``) or a restarted owner finds and kills them (an
owner holds its directories alone: no live sandbox of its own can exist before it starts, or
after it stopped).
"""

from __future__ import annotations

import os
import signal

#: Environment entry naming the owner of a sandbox's bwrap/setpriv processes.
OWNER_ENV = "LAMBENT_SANDBOX_OWNER"

# Only these programs are ever killed by marker: anything else with the marker in its command line
# (an ``ls`` of the directory, the owner itself) is not a sandbox. Sandboxed code runs under other
# names and dies with its cgroup instead.
_PROGRAMS = (b"bwrap", b"setpriv")


def is_sandbox_process(cmdline: bytes, environ: bytes, marker: str) -> bool:
    """Whether a process with this ``/proc/PID/cmdline`` and ``/proc/PID/environ`` (NUL-separated,
    as the kernel gives them) is a bwrap or setpriv of the owner that ``marker`` names."""
    program = os.path.basename(cmdline.split(b"\0", 1)[0])
    if program not in _PROGRAMS:
        return False
    if marker.encode() in cmdline:
        return True
    entry = f"{OWNER_ENV}={marker}".encode()
    return entry in environ.split(b"\0")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # gone while we scan, or a kernel thread
        return None


def _carries(marker: str, proc: str, pid: str) -> bool:
    cmdline = _read(f"{proc}/{pid}/cmdline")
    if not cmdline or os.path.basename(cmdline.split(b"\0", 1)[0]) not in _PROGRAMS:
        return False  # cheap filter first: most processes are not bwrap, their environ is not read
    environ = b"" if marker.encode() in cmdline else _read(f"{proc}/{pid}/environ") or b""
    return is_sandbox_process(cmdline, environ, marker)


def _in_foreign_session(marker: str, proc: str, pid: str) -> bool:
    """Whether ``pid`` belongs to a session whose leader is alive and not a sandbox process.

    An owner starts every sandbox in a session of its own, led by its setpriv/bwrap (and bwrap's
    ``--new-session`` makes its init lead another): a process of the owner's is in a session led
    by a marked process, or by one that is gone (a dead outer bwrap).
    """
    stat = _read(f"{proc}/{pid}/stat")
    if stat is None:
        return False
    try:
        session = stat.rsplit(b")", 1)[1].split()[3].decode()  # state ppid pgrp session …
    except IndexError:
        return False
    if session in (pid, "0"):
        return False
    leader = _read(f"{proc}/{session}/cmdline")
    return bool(leader) and not _carries(marker, proc, session)


def find_sandbox_processes(marker: str, proc: str = "/proc", *, owner_sessions_only: bool = False) -> list[int]:
    """Pids of the bwrap/setpriv processes carrying ``marker`` (see the module docstring).

    ``owner_sessions_only`` leaves out those in a session led by a live process that is not a
    sandbox's (``_in_foreign_session``): not launched by the owner, whatever they carry.
    Processes come and go while ``proc`` is scanned; those that vanish are skipped. Reading
    another uid's ``environ`` needs root (or the same uid), which every owner of sandboxes is.
    """
    found: list[int] = []
    me = os.getpid()
    for entry in os.scandir(proc):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        if not _carries(marker, proc, entry.name):
            continue
        if owner_sessions_only and _in_foreign_session(marker, proc, entry.name):
            continue
        found.append(int(entry.name))
    return found


def kill_leftover_sandboxes(marker: str, proc: str = "/proc") -> int:
    """SIGKILL every bwrap/setpriv process carrying ``marker``; returns how many were signalled."""
    killed = 0
    for pid in find_sandbox_processes(marker, proc):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed


def kill_helpers_in(directory: str, proc: str = "/proc") -> int:
    """SIGKILL the caller's descendants whose working directory is ``directory`` or below it;
    returns how many were signalled.

    For an owner about to remove its sandbox dir: a helper it started there (a byte-compile of
    a runtime, say) would otherwise outlive it and keep writing into the tree being deleted.
    """
    parents: dict[int, int] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        stat = _read(f"{proc}/{entry.name}/stat")
        try:
            parents[int(entry.name)] = int(stat.rsplit(b")", 1)[1].split()[1]) if stat else 0
        except (IndexError, ValueError):
            continue
    mine = {os.getpid()}
    grew = True
    while grew:  # the descendants, whatever the order /proc listed them in
        more = {pid for pid, ppid in parents.items() if ppid in mine and pid not in mine}
        mine |= more
        grew = bool(more)
    mine.discard(os.getpid())
    killed = 0
    for pid in mine:
        try:
            cwd = os.readlink(f"{proc}/{pid}/cwd")
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory.rstrip("/") + "/"):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                continue
    return killed
