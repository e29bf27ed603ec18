"""kill_leftover_sandboxes: a restarted owner kills the bwrap processes its predecessor left."""

from __future__ import annotations

import os
import subprocess
import time

from lambent.sandbox import kill_leftover_sandboxes


def blocked_bwrap(marker: str) -> tuple[subprocess.Popen[bytes], int]:
    """A real bwrap blocked before running its command (on a pipe nobody writes), like an init
    whose owner died mid-setup; ``marker`` is in its command line."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--setenv", "OWNER_DIR", marker, "--block-fd", str(read_end),
         "--", "/usr/bin/true"],
        pass_fds=(read_end,),
    )
    os.close(read_end)
    return proc, write_end


def test_only_the_owner_s_leftovers_are_killed() -> None:
    mine, mine_fd = blocked_bwrap(f"/var/tmp/lambent-owner-{os.getpid()}/")
    other, other_fd = blocked_bwrap(f"/var/tmp/lambent-other-{os.getpid()}/")
    try:
        time.sleep(0.2)
        assert mine.poll() is None and other.poll() is None
        assert kill_leftover_sandboxes(f"/var/tmp/lambent-owner-{os.getpid()}/") >= 1
        assert mine.wait(timeout=5) == -9
        assert other.poll() is None  # another owner's sandbox is left alone
    finally:
        for proc, fd in ((mine, mine_fd), (other, other_fd)):
            os.close(fd)  # EOF releases a blocked bwrap, which then runs /usr/bin/true
            proc.kill()
            proc.wait(timeout=5)


def test_an_owner_named_only_in_the_environment_is_found_too() -> None:
    """bwrap --args FD leaves the command line without the owner's directories; the environment
    (LAMBENT_SANDBOX_OWNER, shared by bwrap's init) still names the owner."""
    from lambent.sandbox.orphans import OWNER_ENV, find_sandbox_processes

    marker = f"/var/tmp/lambent-env-owner-{os.getpid()}/"
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    for owner in (marker, f"/var/tmp/lambent-env-other-{os.getpid()}/"):
        read_end, write_end = os.pipe()
        procs.append((subprocess.Popen(
            ["/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
             "--symlink", "usr/lib64", "/lib64", "--block-fd", str(read_end), "--", "/usr/bin/true"],
            pass_fds=(read_end,), env={OWNER_ENV: owner},
        ), write_end))
        os.close(read_end)
    (mine, _), (other, _) = procs
    try:
        deadline = time.monotonic() + 5
        while len(find_sandbox_processes(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mine.pid in find_sandbox_processes(marker)
        assert len(find_sandbox_processes(marker)) == 2  # bwrap and its blocked init
        with open(f"/proc/{mine.pid}/cmdline", "rb") as f:
            assert marker.encode() not in f.read()
        assert kill_leftover_sandboxes(marker) == 2
        assert mine.wait(timeout=5) == -9
        assert other.poll() is None
    finally:
        for proc, fd in procs:
            os.close(fd)
            proc.kill()
            proc.wait(timeout=5)
