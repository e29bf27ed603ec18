"""cgroup v1 file writes, against a fake cgroup tree (see conftest.FakeCgroupKernel)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lambent.sandbox import CgroupManager, Limits, SandboxError
from lambent.sandbox.cgroups import cfs_quota_us, detect_version

if TYPE_CHECKING:
    from conftest import FakeCgroupKernel

LIMITS = Limits(memory_mb=128, cpu_millicores=1000, pids_max=64)


def _read(path: Path) -> str:
    return path.read_text().strip()


def _dir(kernel: FakeCgroupKernel, controller: str, name: str = "sbx-1") -> Path:
    return kernel.root / controller / "lambent" / name


def test_detects_v1_when_root_has_controller_dirs(fake_v1: FakeCgroupKernel) -> None:
    assert detect_version(str(fake_v1.root)) == 1
    manager = CgroupManager(root=str(fake_v1.root))
    assert manager.version == 1
    assert manager.available


def test_create_writes_limits_in_every_hierarchy(fake_v1: FakeCgroupKernel) -> None:
    # Given a v1 tree
    manager = CgroupManager(root=str(fake_v1.root))
    # When a cgroup with 128 MB, one CPU and 64 pids is created
    cgroup = manager.create("sbx-1", LIMITS)
    # Then every hierarchy has its directory and the limits are written
    memory = _dir(fake_v1, "memory")
    assert _read(memory / "memory.limit_in_bytes") == str(128 * 1024 * 1024)
    assert _read(memory / "memory.memsw.limit_in_bytes") == str(128 * 1024 * 1024)
    assert _read(memory / "memory.max_usage_in_bytes") == "0"
    cpu = _dir(fake_v1, "cpu")
    assert _read(cpu / "cpu.cfs_period_us") == "20000"
    assert _read(cpu / "cpu.cfs_quota_us") == "20000"  # 1000 millicores: quota == period
    assert _read(_dir(fake_v1, "pids") / "pids.max") == "64"
    assert _read(_dir(fake_v1, "freezer") / "freezer.state") == "THAWED"
    assert _dir(fake_v1, "cpuacct").is_dir()
    assert set(cgroup.paths) == {
        str(_dir(fake_v1, c).resolve()) for c in ("memory", "cpu", "cpuacct", "pids", "freezer")
    }


@pytest.mark.parametrize(
    ("millicores", "quota"),
    [(1000, 20_000), (250, 5_000), (2000, 40_000), (1500, 30_000), (5, 1_000)],
)
def test_cpu_quota_is_period_times_millicores(
    fake_v1: FakeCgroupKernel, millicores: int, quota: int
) -> None:
    manager = CgroupManager(root=str(fake_v1.root))
    manager.create("sbx-1", Limits(memory_mb=64, cpu_millicores=millicores, pids_max=8))
    assert _read(_dir(fake_v1, "cpu") / "cpu.cfs_quota_us") == str(quota)
    assert cfs_quota_us(millicores) == quota


def test_without_swap_accounting_sets_swappiness_zero(
    kernel_factory: Callable[..., FakeCgroupKernel],
) -> None:
    # Given a kernel booted with swapaccount=0 (no memory.memsw.* files)
    kernel = kernel_factory(1, omit=("memory.memsw.limit_in_bytes",))
    # When a cgroup is created
    CgroupManager(root=str(kernel.root)).create("sbx-1", LIMITS)
    # Then the memory limit is set and swapping discouraged
    memory = _dir(kernel, "memory")
    assert _read(memory / "memory.limit_in_bytes") == str(128 * 1024 * 1024)
    assert _read(memory / "memory.swappiness") == "0"
    assert not (memory / "memory.memsw.limit_in_bytes").exists()


def test_add_pid_writes_every_hierarchy(fake_v1: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    cgroup.add_pid(4242)
    for controller in ("memory", "cpu", "cpuacct", "pids", "freezer"):
        assert _read(_dir(fake_v1, controller) / "cgroup.procs") == "4242"


def test_freeze_and_thaw_write_freezer_state(fake_v1: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    state = _dir(fake_v1, "freezer") / "freezer.state"
    cgroup.freeze()
    assert _read(state) == "FROZEN"
    cgroup.freeze()  # idempotent
    assert _read(state) == "FROZEN"
    cgroup.thaw()
    assert _read(state) == "THAWED"


def test_memory_readings_and_peak_reset(fake_v1: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    memory = _dir(fake_v1, "memory")
    (memory / "memory.usage_in_bytes").write_text("1000\n")
    (memory / "memory.max_usage_in_bytes").write_text("5000\n")
    assert cgroup.memory_current_bytes() == 1000
    assert cgroup.memory_peak_bytes() == 5000
    cgroup.reset_memory_peak()
    assert _read(memory / "memory.max_usage_in_bytes") == "0"


def test_oom_kill_count_counts_from_creation(fake_v1: FakeCgroupKernel) -> None:
    # Given a recycled directory whose counter already shows 2 kills
    memory = _dir(fake_v1, "memory")
    fake_v1.mkdir(str(fake_v1.root / "memory" / "lambent"))
    fake_v1.mkdir(str(memory))
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    assert cgroup.oom_kill_count() == 0
    # When the kernel records another OOM kill
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 1\noom_kill 3\n")
    # Then only the new one counts
    assert cgroup.oom_kill_count() == 1


def test_cpu_usage_from_cpuacct(fake_v1: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    (_dir(fake_v1, "cpuacct") / "cpuacct.usage").write_text("123456789\n")
    assert cgroup.cpu_usage_ns() == 123456789


def test_existing_cgroup_with_processes_is_refused(fake_v1: FakeCgroupKernel) -> None:
    manager = CgroupManager(root=str(fake_v1.root))
    manager.create("sbx-1", LIMITS).add_pid(777)
    with pytest.raises(SandboxError, match="still has processes"):
        manager.create("sbx-1", LIMITS)


def test_existing_empty_cgroup_is_recycled_with_new_limits(fake_v1: FakeCgroupKernel) -> None:
    # Given a leftover empty cgroup with a smaller memsw than the new limit
    manager = CgroupManager(root=str(fake_v1.root))
    manager.create("sbx-1", Limits(memory_mb=64, cpu_millicores=500, pids_max=8))
    # When it is created again with larger limits
    manager.create("sbx-1", Limits(memory_mb=256, cpu_millicores=1000, pids_max=16))
    # Then the new limits apply
    memory = _dir(fake_v1, "memory")
    assert _read(memory / "memory.limit_in_bytes") == str(256 * 1024 * 1024)
    assert _read(memory / "memory.memsw.limit_in_bytes") == str(256 * 1024 * 1024)
    assert _read(_dir(fake_v1, "pids") / "pids.max") == "16"


def test_destroy_removes_every_directory_and_is_idempotent(fake_v1: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    assert cgroup.destroy()
    for controller in ("memory", "cpu", "cpuacct", "pids", "freezer"):
        assert not _dir(fake_v1, controller).exists()
    assert cgroup.destroy()
    # Then everything after destroy is harmless
    cgroup.freeze()
    cgroup.thaw()
    cgroup.kill_all()
    cgroup.reset_memory_peak()
    assert cgroup.memory_peak_bytes() == 0
    assert cgroup.memory_current_bytes() == 0
    assert cgroup.oom_kill_count() == 0
    assert cgroup.pids() == set()
    with pytest.raises(SandboxError):
        cgroup.add_pid(1)


def test_destroy_reports_busy_while_processes_remain(fake_v1: FakeCgroupKernel) -> None:
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    (_dir(fake_v1, "pids") / "cgroup.procs").write_text("999\n")
    assert not cgroup.destroy()
    assert not cgroup.destroyed
    (_dir(fake_v1, "pids") / "cgroup.procs").write_text("")
    assert cgroup.destroy()


def test_co_mounted_controllers_are_handled_once(
    kernel_factory: Callable[..., FakeCgroupKernel],
    v1_files: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the common systemd layout: cpu and cpuacct are symlinks to "cpu,cpuacct"
    kernel = kernel_factory(1)
    os.rmdir(kernel.root / "cpu")
    os.rmdir(kernel.root / "cpuacct")
    (kernel.root / "cpu,cpuacct").mkdir()
    os.symlink("cpu,cpuacct", kernel.root / "cpu")
    os.symlink("cpu,cpuacct", kernel.root / "cpuacct")
    monkeypatch.setitem(v1_files, "cpu,cpuacct", {**v1_files["cpu"], **v1_files["cpuacct"]})
    # When a cgroup is created and a pid added
    cgroup = CgroupManager(root=str(kernel.root)).create("sbx-1", LIMITS)
    cgroup.add_pid(5)
    # Then there is one directory for both controllers, holding both sets of settings
    merged_dir = (kernel.root / "cpu,cpuacct" / "lambent" / "sbx-1").resolve()
    assert len(cgroup.paths) == 4
    assert str(merged_dir) in cgroup.paths
    assert _read(merged_dir / "cpu.cfs_quota_us") == "20000"
    assert _read(merged_dir / "cgroup.procs") == "5"
    (merged_dir / "cpuacct.usage").write_text("42\n")
    assert cgroup.cpu_usage_ns() == 42
    # And removal handles the shared directory once
    for path in cgroup.paths:
        Path(path, "cgroup.procs").write_text("")  # the process exited
    assert cgroup.destroy()
    assert not merged_dir.exists()


def test_unavailable_when_a_controller_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    for controller in ("memory", "cpu", "pids"):  # no freezer
        (root / controller).mkdir(parents=True)
    manager = CgroupManager(root=str(root))
    assert manager.version == 1
    assert not manager.available
    assert "freezer" in (manager.unavailable_reason or "")
    with pytest.raises(SandboxError, match="cgroups unavailable"):
        manager.create("sbx-1", LIMITS)


def test_unavailable_without_any_hierarchy(tmp_path: Path) -> None:
    manager = CgroupManager(root=str(tmp_path))
    assert manager.version is None
    assert not manager.available
    assert manager.cleanup_stale() == 0


def test_cleanup_stale_removes_leftovers_below_prefix_only(fake_v1: FakeCgroupKernel) -> None:
    # Given two leftovers of a crashed run and a cgroup of another prefix
    mine = CgroupManager(root=str(fake_v1.root), prefix="lambent")
    other = CgroupManager(root=str(fake_v1.root), prefix="other")
    mine.create("old-1", LIMITS)
    mine.create("old-2", LIMITS)
    other.create("keep", LIMITS)
    # When the stale ones are cleaned up
    removed = mine.cleanup_stale(timeout_s=0.1)
    # Then both are gone and the other prefix is untouched
    assert removed == 2
    assert mine.stale_names() == set()
    assert other.stale_names() == {"keep"}


def test_invalid_names_and_prefixes_are_rejected(fake_v1: FakeCgroupKernel) -> None:
    with pytest.raises(ValueError):
        CgroupManager(root=str(fake_v1.root), prefix="../etc")
    manager = CgroupManager(root=str(fake_v1.root))
    for bad in ("", "../x", "UPPER", "a/b", "x" * 65):
        with pytest.raises(ValueError):
            manager.create(bad, LIMITS)


def test_remove_parents_only_when_empty(fake_v1: FakeCgroupKernel) -> None:
    manager = CgroupManager(root=str(fake_v1.root))
    cgroup = manager.create("sbx-1", LIMITS)
    assert not manager.remove_parents()  # a sandbox cgroup still exists
    assert cgroup.destroy()
    assert manager.remove_parents()
    assert not (fake_v1.root / "memory" / "lambent").exists()
    # and the manager can start over afterwards
    manager.create("sbx-2", LIMITS)
    assert _dir(fake_v1, "memory", "sbx-2").is_dir()



def test_set_cpu_millicores_rewrites_the_quota_of_a_live_cgroup(fake_v1: FakeCgroupKernel) -> None:
    # Given a live cgroup created with a small quota
    cgroup = CgroupManager(root=str(fake_v1.root)).create("sbx-1", LIMITS)
    quota = _dir(fake_v1, "cpu") / "cpu.cfs_quota_us"
    period = int(_read(_dir(fake_v1, "cpu") / "cpu.cfs_period_us"))
    # When the quota is raised for an init boost and lowered again
    cgroup.set_cpu_millicores(2000)
    boosted = int(_read(quota))
    cgroup.set_cpu_millicores(500)
    # Then the file follows: millicores / 1000 of the period
    assert boosted == 2 * period
    assert int(_read(quota)) == period // 2
