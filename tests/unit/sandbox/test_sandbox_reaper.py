"""The reaper outlives its owner, sweeps what the owner left, and holds the owner's lock until it
is done (sandbox/reaper.py). Real processes; the cgroup part runs against the fake tree."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lambent.sandbox import CgroupManager, Limits
from lambent.sandbox.orphans import OWNER_ENV
from lambent.sandbox.reaper import Reaper, sweep

if TYPE_CHECKING:
    from conftest import FakeCgroupKernel

LIMITS = Limits(memory_mb=128, cpu_millicores=100, pids_max=16)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return gone(pid)


def locked(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def retired_tree(tmp_path: Path) -> Path:
    trash = tmp_path / ".lambent-0123456789ab.removing-00000000"
    (trash / "code" / "abc").mkdir(parents=True)
    (trash / "code" / "abc" / "app.py").write_text("x")
    return trash


@pytest.mark.parametrize("orderly", [True, False])
def test_close_hands_the_retired_dir_to_the_reaper(tmp_path: Path, orderly: bool) -> None:
    # Given a reaper and a retired directory tree
    reaper = Reaper.spawn(CgroupManager(root=str(tmp_path), prefix="lambent-test"), f"{tmp_path}/")
    assert reaper.alive
    trash = retired_tree(tmp_path)
    # When the owner stops (orderly: without waiting; else after the sweep it waits for)
    assert reaper.close(trash, orderly=orderly, timeout_s=10) is True
    # Then the reaper deletes the tree and exits cleanly
    assert reaper.process.wait(timeout=10) == 0
    assert not trash.exists()
    assert reaper.close() is False  # once only


def test_an_orderly_reaper_stays_a_bare_interpreter(tmp_path: Path) -> None:
    # While it waits it has imported none of lambent (8 MB, not 25 MB, on every server)
    reaper = Reaper.spawn(CgroupManager(root=str(tmp_path), prefix="lambent-test"), f"{tmp_path}/")
    time.sleep(0.3)
    maps = Path(f"/proc/{reaper.process.pid}/maps").read_text()
    assert "_ctypes" not in maps and "_asyncio" not in maps
    assert reaper.close(orderly=True) is True
    assert reaper.process.wait(timeout=10) == 0


def test_a_dead_reaper_does_not_take_the_deletion(tmp_path: Path) -> None:
    reaper = Reaper.spawn(CgroupManager(root=str(tmp_path), prefix="lambent-test"), f"{tmp_path}/")
    reaper.process.kill()
    reaper.process.wait()
    trash = retired_tree(tmp_path)
    assert reaper.close(trash, timeout_s=5) is False  # the caller deletes it
    assert trash.exists()


def test_a_killed_owner_s_reaper_kills_its_marked_processes_then_lets_go_of_the_lock(tmp_path: Path) -> None:
    marker = f"{tmp_path}/sandboxes/"
    lock = tmp_path / "lock"
    lock.touch()
    # A stand-in for a leftover sandbox process: a program named bwrap carrying the owner's marker
    # in its environment only (bwrap --args FD: nothing in the command line)
    fake_bwrap = tmp_path / "bwrap"
    shutil.copy("/bin/sleep", fake_bwrap)
    leftover = subprocess.Popen([str(fake_bwrap), "300"], env={OWNER_ENV: marker}, start_new_session=True)
    bystander = subprocess.Popen([str(fake_bwrap), "300"], env={OWNER_ENV: "/someone/else/"}, start_new_session=True)
    # Given an owner (in its own process group) that spawned its reaper, handing it its lock
    owner_code = (
        "import fcntl, os, sys, time\n"
        "from lambent.sandbox import CgroupManager\n"
        "from lambent.sandbox.reaper import Reaper\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CLOEXEC)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        f"r = Reaper.spawn(CgroupManager(root={str(tmp_path)!r}, prefix='lambent-test'), {marker!r}, hold_fds=(fd,))\n"
        "os.close(fd)\n"  # from now on only the reaper holds the lock
        "print(r.process.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert owner.stdout is not None
        reaper_pid = int(owner.stdout.readline())
        assert not gone(reaper_pid)
        assert locked(lock)  # the reaper holds it for the owner
        time.sleep(0.3)
        assert leftover.poll() is None  # nothing happens while the owner lives
        # When the owner's whole process group is SIGKILLed
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        # Then the reaper (its own session) kills the owner's process, spares the other, exits,
        # and only then is the lock free
        assert leftover.wait(timeout=10) == -signal.SIGKILL
        assert wait_gone(reaper_pid)
        assert not locked(lock)
        assert bystander.poll() is None
    finally:
        for p in (owner, leftover, bystander):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        if owner.stdout is not None:
            owner.stdout.close()


def test_sweep_removes_every_cgroup_below_the_prefix_and_the_parent(fake_v1: FakeCgroupKernel, tmp_path: Path) -> None:
    mine = CgroupManager(root=str(fake_v1.root), prefix="lambent-dead")
    other = CgroupManager(root=str(fake_v1.root), prefix="lambent-live")
    for i in range(5):
        mine.create(f"env-{i}", LIMITS).freeze()  # idle environments are frozen
    other.create("keep", LIMITS)
    result = sweep(mine, f"{tmp_path}/", timeout_s=2)
    assert (result.cgroups_removed, result.clean) == (5, True)
    assert mine.stale_names() == set()
    assert not any(os.path.exists(p) for p in mine.parent_paths())
    assert other.stale_names() == {"keep"}


def test_sweep_is_bounded_when_a_cgroup_stays_busy(fake_v1: FakeCgroupKernel, tmp_path: Path) -> None:
    mine = CgroupManager(root=str(fake_v1.root), prefix="lambent-dead")
    cgroup = mine.create("stuck", LIMITS)
    # A member that never leaves (in the fake tree: a pid no process has, so rmdir keeps refusing)
    for path in cgroup.paths:
        Path(path, "cgroup.procs").write_text(f"{2**22 + 1}\n")
    started = time.monotonic()
    result = sweep(mine, f"{tmp_path}/", timeout_s=0.2)
    assert result.clean is False
    assert time.monotonic() - started < 1.0


def test_cleanup_stale_kills_every_cgroup_before_waiting_for_any(
        fake_v1: FakeCgroupKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    """So that a dead owner's many frozen environments exit in parallel (95 of them were all gone
    0.9 s after a SIGKILL of their server), not one poll loop after another."""
    from lambent.sandbox._cgroup_v1 import CgroupV1

    manager = CgroupManager(root=str(fake_v1.root), prefix="lambent-dead")
    for i in range(3):
        cgroup = manager.create(f"env-{i}", LIMITS)
        for path in cgroup.paths:
            Path(path, "cgroup.procs").write_text(f"{2**22 + 1 + i}\n")  # a member, until killed
    events: list[str] = []
    real_destroy = CgroupV1.destroy

    def kill_all(self: CgroupV1) -> None:
        events.append("kill")
        for path in self.paths:  # in the fake tree a member leaves once killed
            Path(path, "cgroup.procs").write_text("")

    def destroy(self: CgroupV1) -> bool:
        events.append("destroy")
        return real_destroy(self)

    monkeypatch.setattr(CgroupV1, "kill_all", kill_all)
    monkeypatch.setattr(CgroupV1, "destroy", destroy)
    assert manager.cleanup_stale(timeout_s=1) == 3
    assert events == ["kill"] * 3 + ["destroy"] * 3
