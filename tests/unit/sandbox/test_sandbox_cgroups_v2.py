"""cgroup v2 file writes, against a fake unified hierarchy (see conftest.FakeCgroupKernel).

This machine runs cgroup v1, so these tests are what covers the v2 code path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lambent.sandbox import CgroupManager, Limits, SandboxError
from lambent.sandbox.cgroups import detect_version

if TYPE_CHECKING:
    from conftest import FakeCgroupKernel

LIMITS = Limits(memory_mb=256, cpu_millicores=1000, pids_max=128)


def _read(path: Path) -> str:
    return path.read_text().strip()


def _dir(kernel: FakeCgroupKernel, name: str = "sbx-1") -> Path:
    return kernel.root / "lambent" / name


def test_detects_v2_when_root_offers_memory(fake_v2: FakeCgroupKernel) -> None:
    assert detect_version(str(fake_v2.root)) == 2
    manager = CgroupManager(root=str(fake_v2.root))
    assert manager.version == 2
    assert manager.available


def test_v2_without_memory_controller_falls_back_to_v1_detection(tmp_path: Path) -> None:
    # Like this machine: /sys/fs/cgroup/unified is a cgroup2 mount without controllers
    (tmp_path / "cgroup.controllers").write_text("\n")
    assert detect_version(str(tmp_path)) is None
    (tmp_path / "memory").mkdir()
    assert detect_version(str(tmp_path)) == 1


def test_create_delegates_controllers_and_writes_limits(fake_v2: FakeCgroupKernel) -> None:
    # Given a unified hierarchy
    manager = CgroupManager(root=str(fake_v2.root))
    # When a cgroup is created
    cgroup = manager.create("sbx-1", LIMITS)
    # Then the root and the prefix delegate memory, cpu and pids to their children
    assert _read(fake_v2.root / "cgroup.subtree_control") == "+memory +cpu +pids"
    assert _read(fake_v2.root / "lambent" / "cgroup.subtree_control") == "+memory +cpu +pids"
    # And the limits are written, with swap disabled
    sandbox = _dir(fake_v2)
    assert cgroup.paths == (str(sandbox),)
    assert _read(sandbox / "memory.max") == str(256 * 1024 * 1024)
    assert _read(sandbox / "memory.swap.max") == "0"
    assert _read(sandbox / "cpu.max") == "20000 20000"
    assert _read(sandbox / "pids.max") == "128"
    assert _read(sandbox / "cgroup.freeze") == "0"


def test_already_delegated_controllers_are_not_rewritten(fake_v2: FakeCgroupKernel) -> None:
    (fake_v2.root / "cgroup.subtree_control").write_text("cpu io memory pids\n")
    CgroupManager(root=str(fake_v2.root)).create("sbx-1", LIMITS)
    assert _read(fake_v2.root / "cgroup.subtree_control") == "cpu io memory pids"


@pytest.mark.parametrize(
    ("millicores", "cpu_max"), [(250, "5000 20000"), (2000, "40000 20000")]
)
def test_cpu_max_quota_math(fake_v2: FakeCgroupKernel, millicores: int, cpu_max: str) -> None:
    CgroupManager(root=str(fake_v2.root)).create(
        "sbx-1", Limits(memory_mb=64, cpu_millicores=millicores, pids_max=8)
    )
    assert _read(_dir(fake_v2) / "cpu.max") == cpu_max


def test_missing_swap_max_is_tolerated(kernel_factory: Callable[..., FakeCgroupKernel]) -> None:
    # Given a kernel without swap accounting (no memory.swap.max)
    kernel = kernel_factory(2, omit=("memory.swap.max",))
    CgroupManager(root=str(kernel.root)).create("sbx-1", LIMITS)
    assert _read(_dir(kernel) / "memory.max") == str(256 * 1024 * 1024)


def test_add_pid_freeze_thaw(fake_v2: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v2.root)).create("sbx-1", LIMITS)
    cgroup.add_pid(31337)
    assert _read(_dir(fake_v2) / "cgroup.procs") == "31337"
    assert cgroup.pids() == {31337}
    cgroup.freeze()
    assert _read(_dir(fake_v2) / "cgroup.freeze") == "1"
    cgroup.thaw()
    assert _read(_dir(fake_v2) / "cgroup.freeze") == "0"


def test_kill_all_uses_cgroup_kill(fake_v2: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v2.root)).create("sbx-1", LIMITS)
    cgroup.kill_all()
    assert _read(_dir(fake_v2) / "cgroup.kill") == "1"


def test_kill_all_without_cgroup_kill_freezes_and_thaws(
    kernel_factory: Callable[..., FakeCgroupKernel],
) -> None:
    # Given a kernel before 5.14 (no cgroup.kill) and a cgroup without members
    kernel = kernel_factory(2, omit=("cgroup.kill",))
    cgroup = CgroupManager(root=str(kernel.root)).create("sbx-1", LIMITS)
    # When everything is killed
    cgroup.kill_all()
    # Then the freezer was used and released again
    assert _read(_dir(kernel) / "cgroup.freeze") == "0"
    assert not (_dir(kernel) / "cgroup.kill").exists()


def test_memory_peak_is_read_and_reset_through_one_descriptor(fake_v2: FakeCgroupKernel) -> None:
    # Given a cgroup (setup already reset the peak once)
    cgroup = CgroupManager(root=str(fake_v2.root)).create("sbx-1", LIMITS)
    peak = _dir(fake_v2) / "memory.peak"
    assert _read(peak) == "reset"
    # When the kernel reports a peak
    peak.write_text("7340032\n")
    # Then it is read through the held descriptor
    assert cgroup.memory_peak_bytes() == 7340032
    # And a reset writes to that same descriptor (Linux 6.12 per-fd reset semantics)
    peak.write_text("0\n")
    cgroup.reset_memory_peak()
    assert _read(peak).startswith("reset")


def test_memory_current_oom_and_cpu(fake_v2: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v2.root)).create("sbx-1", LIMITS)
    sandbox = _dir(fake_v2)
    (sandbox / "memory.current").write_text("4096\n")
    (sandbox / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (sandbox / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    assert cgroup.memory_current_bytes() == 4096
    assert cgroup.oom_kill_count() == 1
    assert cgroup.cpu_usage_ns() == 2_500_000


def test_without_memory_peak_file_peak_falls_back_to_current(
    kernel_factory: Callable[..., FakeCgroupKernel],
) -> None:
    kernel = kernel_factory(2, omit=("memory.peak",))
    cgroup = CgroupManager(root=str(kernel.root)).create("sbx-1", LIMITS)
    (_dir(kernel) / "memory.current").write_text("8192\n")
    assert cgroup.memory_peak_bytes() == 8192
    cgroup.reset_memory_peak()  # no-op, must not fail


def test_destroy_removes_directory_and_is_idempotent(fake_v2: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v2.root)).create("sbx-1", LIMITS)
    assert cgroup.destroy()
    assert not _dir(fake_v2).exists()
    assert cgroup.destroy()
    cgroup.freeze()
    cgroup.kill_all()
    assert cgroup.memory_peak_bytes() == 0
    assert cgroup.cpu_usage_ns() == 0


def test_controller_delegation_failure_is_a_sandbox_error(fake_v2: FakeCgroupKernel) -> None:
    # Given a root cgroup whose subtree_control cannot be used
    (fake_v2.root / "cgroup.subtree_control").unlink()
    (fake_v2.root / "cgroup.subtree_control").mkdir()  # unreadable as a file
    manager = CgroupManager(root=str(fake_v2.root))
    with pytest.raises(SandboxError):
        manager.create("sbx-1", LIMITS)


def test_unavailable_when_v2_lacks_a_controller(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory io\n")
    manager = CgroupManager(root=str(tmp_path))
    assert manager.version == 2
    assert not manager.available
    assert "cpu" in (manager.unavailable_reason or "")


def test_cleanup_stale_v2(fake_v2: FakeCgroupKernel) -> None:
    manager = CgroupManager(root=str(fake_v2.root))
    manager.create("old-1", LIMITS)
    assert CgroupManager(root=str(fake_v2.root)).cleanup_stale(timeout_s=0.1) == 1
    assert not _dir(fake_v2, "old-1").exists()
