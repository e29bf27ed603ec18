"""Which processes count as an owner's leftover sandbox processes (sandbox/orphans.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambent.sandbox.orphans import OWNER_ENV, find_sandbox_processes, is_sandbox_process

MARKER = "/var/lib/lambent/lambent-0123456789ab/"


def nul(*parts: str) -> bytes:
    return b"".join(p.encode() + b"\0" for p in parts)


@pytest.mark.parametrize(
    ("cmdline", "environ", "expected"),
    [
        # the marker in bwrap's command line (arguments on the command line)
        (nul("/usr/bin/bwrap", "--ro-bind", MARKER + "code/x", "/var/task"), b"", True),
        # bwrap --args FD: nothing in the command line, the owner in the environment
        (nul("/usr/bin/bwrap", "--args", "5"), nul("PATH=/usr/bin", f"{OWNER_ENV}={MARKER}"), True),
        # setpriv before it execs bwrap
        (nul("setpriv", "--reuid=65534", "--", "/usr/bin/bwrap", "--args", "5"), nul(f"{OWNER_ENV}={MARKER}"), True),
        # another owner's sandbox
        (nul("/usr/bin/bwrap", "--args", "5"), nul(f"{OWNER_ENV}=/var/lib/lambent/lambent-ffffffffffff/"), False),
        # a prefix of the entry is not the entry (no owner named by a longer path)
        (nul("/usr/bin/bwrap", "--args", "5"), nul(f"{OWNER_ENV}={MARKER}sub/"), False),
        # the entry's value must be the whole variable, not a part of another one
        (nul("/usr/bin/bwrap", "--args", "5"), nul(f"X{OWNER_ENV}={MARKER}"), False),
        # anything that is not bwrap/setpriv is never killed by marker, even with the marker
        (nul("ls", MARKER), b"", False),
        (nul("/usr/bin/python3", "/var/runtime/bootstrap.py"), nul(f"{OWNER_ENV}={MARKER}"), False),
        (b"", b"", False),  # a kernel thread or zombie
    ],
)
def test_is_sandbox_process(cmdline: bytes, environ: bytes, expected: bool) -> None:
    assert is_sandbox_process(cmdline, environ, MARKER) is expected


def test_find_scans_a_proc_tree_and_tolerates_vanished_processes(tmp_path: Path) -> None:
    # Given a /proc with a matching bwrap by environment, one by command line, another owner's,
    # a process whose files are gone (it exited during the scan), and non-pid entries
    def proc(pid: int, cmdline: bytes | None, environ: bytes | None) -> None:
        d = tmp_path / str(pid)
        d.mkdir()
        if cmdline is not None:
            (d / "cmdline").write_bytes(cmdline)
        if environ is not None:
            (d / "environ").write_bytes(environ)

    proc(101, nul("/usr/bin/bwrap", "--args", "5"), nul(f"{OWNER_ENV}={MARKER}"))
    proc(102, nul("/usr/bin/bwrap", "--bind", MARKER + "code", "/var/task"), None)
    proc(103, nul("/usr/bin/bwrap", "--args", "5"), nul(f"{OWNER_ENV}=/elsewhere/"))
    proc(104, None, None)  # vanished
    proc(105, nul("/usr/bin/bwrap", "--args", "5"), None)  # environ vanished after cmdline
    (tmp_path / "self").mkdir()
    (tmp_path / "meminfo").write_text("")
    # When it is scanned, Then exactly the owner's two are found
    assert sorted(find_sandbox_processes(MARKER, proc=str(tmp_path))) == [101, 102]


def test_owner_sessions_only_leaves_out_marked_processes_of_a_live_foreign_session(tmp_path: Path) -> None:
    # Given marked bwraps: a session leader (an owner's outer bwrap), its init in the leader's
    # session, an init whose outer bwrap (the leader) is gone, and one started from somebody's
    # live shell (session 300)
    def proc(pid: int, session: int, cmdline: bytes, environ: bytes = b"") -> None:
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(cmdline)
        (d / "environ").write_bytes(environ)
        (d / "stat").write_text(f"{pid} (bwrap) S 1 {session} {session} 0 -1 4194560 0 0\n")

    marked = nul(f"{OWNER_ENV}={MARKER}")
    bwrap = nul("/usr/bin/bwrap", "--args", "5")
    proc(200, 200, bwrap, marked)  # an outer bwrap: its own session
    proc(201, 200, bwrap, marked)  # its init, before --new-session
    proc(211, 210, bwrap, marked)  # leader 210 gone
    proc(300, 300, nul("-bash"))  # a shell
    proc(301, 300, bwrap, marked)  # started from that shell
    assert sorted(find_sandbox_processes(MARKER, proc=str(tmp_path), owner_sessions_only=True)) == [200, 201, 211]
    assert sorted(find_sandbox_processes(MARKER, proc=str(tmp_path))) == [200, 201, 211, 301]


def test_kill_helpers_in_kills_only_the_callers_descendants_working_there(tmp_path: Path) -> None:
    import subprocess
    import sys

    from lambent.sandbox.orphans import kill_helpers_in

    inside = tmp_path / "sandbox-dir" / "runtimes"
    inside.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Given a helper working inside (with a child of its own there), and one working elsewhere
    helper = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               "subprocess.Popen(['sleep', '300']); print('ok', flush=True); time.sleep(300)"],
                              cwd=inside, stdout=subprocess.PIPE)
    other = subprocess.Popen(["sleep", "300"], cwd=elsewhere)
    try:
        assert helper.stdout is not None and helper.stdout.readline() == b"ok\n"
        # When the owner kills its helpers in its sandbox dir
        assert kill_helpers_in(str(tmp_path / "sandbox-dir")) == 2
        # Then those are gone, the other is untouched
        assert helper.wait(timeout=5) == -9
        assert other.poll() is None
    finally:
        for p in (helper, other):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        if helper.stdout is not None:
            helper.stdout.close()
