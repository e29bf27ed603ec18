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
