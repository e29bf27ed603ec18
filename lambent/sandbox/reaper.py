"""A watchdog that outlives its owner and kills whatever the owner's sandboxes left running.

Why a separate process: when the owner dies (SIGKILL, OOM kill, a crash), bwrap's
``--die-with-parent`` SIGKILLs each sandbox's init, but on cgroup v1 a task in a FROZEN freezer
cgroup keeps a SIGKILL pending until it is thawed, and an idle environment is frozen 50 ms after
its last invocation: 93 frozen sandboxes once stayed alive until a later start of the owner swept
them. Nothing in the kernel thaws a cgroup because a process died, so someone must.

How: ``Reaper.spawn`` starts a small Python program (``_BOOT``) in its own session (a kill of the
owner's process group or a terminal's Ctrl-C does not reach it) holding the read end of a pipe
whose write end only the owner holds (``O_CLOEXEC``, so no sandbox inherits it). The kernel
closes that end however the owner ends. On EOF without the owner's word that it stopped in
order, the reaper imports this module and ``sweep`` thaws and kills every cgroup below the
owner's prefix, removes them, kills the bwrap/setpriv processes carrying the owner's marker
(``orphans.py``: inits a kill caught before they joined a cgroup), and exits.

Cost: nothing per sandbox or invocation (it never hears from the owner until the end). While it
waits it is a bare interpreter (``-I -S``, only builtin modules: measured 8 MB RSS and ~10 ms of
CPU to start, against 25 MB and 0.25 s with this package imported); the package is imported
only to sweep.

The owner may also pass descriptors for the reaper to hold until its sweep is over (a lock that
says "this owner's sandboxes may still be alive"), so a successor that takes that lock never
races a predecessor's sweep over the same cgroup prefix.

Lifetime: one reaper per owner run. ``Reaper.close`` at an orderly stop: if the owner tore every
sandbox down itself it says so and does not wait (the reaper then only deletes what it was
handed, the retired sandbox dir, and exits); otherwise the reaper sweeps first and the owner
waits for the sweep.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cgroups import CgroupManager
from .orphans import find_sandbox_processes

__all__ = ["Reaper", "SweepResult", "main", "read_report", "sweep"]

#: Upper bound of one sweep: long enough for a few hundred frozen environments to exit.
SWEEP_TIMEOUT_S = 8.0
# The owner's last words on the pipe: a verb, then paths to delete, each NUL-terminated.
_ORDERLY = b"orderly"  # every sandbox is gone: no sweep, nobody waits
_SWEEP = b"sweep"  # sweep first (the owner waits for it)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

# Runs as ``python -I -S -c _BOOT FD DONE_FD HOLD_FDS PACKAGE_ROOT [main's arguments]``: only
# builtin modules until the owner is gone.
_BOOT = r"""
import os, signal, sys, time
fd, done_fd, hold = int(sys.argv[1]), int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",") if x]
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(s, signal.SIG_IGN)
said = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except InterruptedError:
        continue
    if not chunk:
        break
    said += chunk
words = said.split(b"\0")[:-1]
if words[:1] == [b"orderly"]:
    code = 0
    for f in hold + [done_fd]:
        os.close(f)
else:
    sys.path.insert(0, sys.argv[4])
    from lambent.sandbox.reaper import main
    code = main(sys.argv[5:], hold_fds=hold, done_fd=done_fd)
import shutil
for path in words[1:]:
    # A helper of the owner still writing there (its runtime byte-compile) may refill it: retry.
    for attempt in range(60):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            break
        time.sleep(1)
sys.exit(code)
"""


@dataclass(frozen=True)
class SweepResult:
    processes_killed: int
    cgroups_removed: int
    clean: bool  # nothing of the owner left when the sweep ended


def sweep(cgroups: CgroupManager, marker: str, timeout_s: float = SWEEP_TIMEOUT_S) -> SweepResult:
    """Kill and remove everything of a dead owner: every cgroup below ``cgroups.prefix`` (thawed
    so that frozen members die) and every bwrap/setpriv process it launched carrying ``marker``.

    Repeats until a round finds nothing, because a process caught between two steps (an outer
    bwrap whose init had not joined its cgroup yet) may only show up in the next round. Bounded
    by ``timeout_s``. Safe to call when nothing is left (a few milliseconds: one scan of /proc).
    """
    deadline = time.monotonic() + timeout_s
    killed: set[int] = set()  # each process counted once, however many rounds it takes to die
    removed = 0
    while True:
        # Only what the owner launched: a successor's start sweeps whatever else carries it.
        found = find_sandbox_processes(marker, owner_sessions_only=True)
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        removed += cgroups.cleanup_stale(timeout_s=max(0.0, deadline - time.monotonic()))
        left = bool(cgroups.stale_names())
        if not found and not left:
            break
        if time.monotonic() >= deadline:
            return SweepResult(len(killed), removed, clean=False)
        time.sleep(0.01)  # killed processes need a moment to leave /proc
    return SweepResult(len(killed), removed, clean=cgroups.remove_parents())


def _write_report(path: Path, result: SweepResult) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(f"{result.processes_killed} {result.cgroups_removed} {int(result.clean)}\n")
        os.replace(tmp, path)
    except OSError:
        pass  # only a report


def read_report(path: Path) -> SweepResult | None:
    """What a dead predecessor's reaper swept (for its successor to log), and forget it."""
    try:
        killed, removed, clean = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    return SweepResult(killed, removed, bool(clean))


class Reaper:
    """The owner's handle on its reaper process. Scope: one owner run (see the module docstring)."""

    def __init__(self, process: subprocess.Popen[bytes], write_fd: int, done_fd: int) -> None:
        self.process = process
        self._write_fd: int | None = write_fd
        self._done_fd: int | None = done_fd

    @classmethod
    def spawn(cls, cgroups: CgroupManager, marker: str, hold_fds: tuple[int, ...] = (),
              report: Path | None = None) -> Reaper:
        """Start the reaper of an owner whose sandboxes use ``cgroups`` and carry ``marker``.

        ``hold_fds`` stay open in the reaper until its sweep is done; if it swept anything after
        the owner died it says so in ``report`` (``read_report``). Raises OSError if the
        interpreter cannot be started; returns once it has been exec'd (1-15 ms), and from then
        on the owner's death is covered (the pipe is the reaper's before it runs a line).
        """
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        done_r, done_w = os.pipe2(os.O_CLOEXEC)  # closed by the reaper once its sweep is over
        args = ["--cgroup-root", cgroups.root, "--prefix", cgroups.prefix, "--marker", marker]
        args += ["--report", str(report)] if report is not None else []
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOT, str(read_fd), str(done_w),
                 ",".join(map(str, hold_fds)), _PACKAGE_ROOT, *args],
                stdin=subprocess.DEVNULL,
                pass_fds=(read_fd, done_w, *hold_fds),
                # Its own session: not in the owner's process group, which may be killed as one.
                start_new_session=True,
                cwd="/",  # pin no directory of the owner's
            )
        except BaseException:
            os.close(write_fd)
            os.close(done_r)
            raise
        finally:
            os.close(read_fd)
            os.close(done_w)
        return cls(process, write_fd, done_r)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, remove: Path | None = None, *, orderly: bool = False,
              timeout_s: float = SWEEP_TIMEOUT_S + 2.0) -> bool:
        """Stop the reaper; True if it took ``remove`` (a directory it deletes after the owner is
        gone, without the owner waiting: a sandbox dir's tree of small files took 1.5-2.2 s to
        delete on the 2-core VM under load). False: it was dead already, or (killed after
        ``timeout_s``) did not sweep in time, and ``remove`` is the caller's. Call it once.

        ``orderly``: the owner has torn every sandbox down itself, so nothing is swept and
        nothing waited for. Otherwise the reaper sweeps, and this waits until it has (a
        successor must not find a sweep of its cgroup prefix under way).
        """
        if self._write_fd is None or self._done_fd is None:
            return False
        message = (_ORDERLY if orderly else _SWEEP) + b"\0"
        if remove is not None:
            message += os.fsencode(remove) + b"\0"
        try:
            sent = os.write(self._write_fd, message) == len(message)  # < PIPE_BUF: all or nothing
        except OSError:
            sent = False  # the reaper is gone (killed)
        finally:
            os.close(self._write_fd)
            self._write_fd = None
        done = True
        try:
            if sent and not orderly:
                poller = select.poll()
                poller.register(self._done_fd, select.POLLIN | select.POLLHUP)
                done = bool(poller.poll(timeout_s * 1000))
        finally:
            os.close(self._done_fd)
            self._done_fd = None
        if not done:
            self.process.kill()
            self.process.wait()
        return sent and done


def _say(message: str) -> None:
    # The owner's stderr (its log) may be a pipe nobody reads any more.
    try:
        print(f"lambent reaper [{os.getpid()}]: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass


def main(argv: list[str], *, hold_fds: list[int], done_fd: int) -> int:
    """The reaper after EOF without an orderly word from its owner (called by ``_BOOT``)."""
    parser = argparse.ArgumentParser(prog="lambent reaper")
    parser.add_argument("--cgroup-root", required=True)
    parser.add_argument("--prefix", required=True, help="the owner's cgroup prefix")
    parser.add_argument("--marker", required=True, help="what the owner's bwrap processes carry")
    parser.add_argument("--report", type=Path, default=None, help="where to say what was swept")
    args = parser.parse_args(argv)
    result = sweep(CgroupManager(root=args.cgroup_root, prefix=args.prefix), args.marker)
    if result.processes_killed or result.cgroups_removed or not result.clean:
        if args.report is not None:
            _write_report(args.report, result)
        _say(f"owner gone: killed {result.processes_killed} sandbox processes, "
             f"removed {result.cgroups_removed} cgroups{'' if result.clean else ', some left busy'}")
    # The sweep is over: a successor may take the owner's lock and use its cgroup prefix.
    for fd in (*hold_fds, done_fd):
        os.close(fd)
    return 0 if result.clean else 1
