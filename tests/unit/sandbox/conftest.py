"""Fixtures for the sandbox unit tests: a fake cgroup filesystem in a temp dir, for testing the
file writes of v1 and v2.

Tests import ``FakeCgroupKernel`` only for type checking (pytest runs with
--import-mode=importlib, so conftest is not importable by name at run time).

``FakeCgroupKernel.install`` patches ``_cgroupfs.mkdir``/``rmdir`` to behave like cgroupfs: a new
directory comes with its control files (all with the values a fresh kernel cgroup has), and
removing it drops them. Everything else is real file I/O in ``tmp_path``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambent.sandbox import _cgroupfs

V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "cgroup.procs": "",
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.memsw.limit_in_bytes": "9223372036854771712\n",
        "memory.max_usage_in_bytes": "0\n",
        "memory.usage_in_bytes": "0\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.swappiness": "60\n",
    },
    "cpu": {"cgroup.procs": "", "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n"},
    "cpuacct": {"cgroup.procs": "", "cpuacct.usage": "0\n"},
    "pids": {"cgroup.procs": "", "pids.max": "max\n"},
    "freezer": {"cgroup.procs": "", "freezer.state": "THAWED\n"},
}

V2_FILES: dict[str, str] = {
    "cgroup.procs": "",
    "cgroup.controllers": "cpu memory pids\n",
    "cgroup.subtree_control": "\n",
    "cgroup.freeze": "0\n",
    "cgroup.kill": "",
    "memory.max": "max\n",
    "memory.swap.max": "max\n",
    "memory.current": "0\n",
    "memory.peak": "0\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "cpu.max": "max 100000\n",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
    "pids.max": "max\n",
}


class FakeCgroupKernel:
    """Emulates cgroupfs directory semantics under a temp root."""

    def __init__(self, root: Path, version: int, omit: tuple[str, ...] = ()) -> None:
        self.root = root
        self.version = version
        self.omit = omit  # control files this "kernel" does not offer (e.g. memsw)
        if version == 1:
            for controller in V1_FILES:
                (root / controller).mkdir(parents=True)
        else:
            root.mkdir(parents=True, exist_ok=True)
            (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
            (root / "cgroup.subtree_control").write_text("\n")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCgroupKernel:
        monkeypatch.setattr(_cgroupfs, "mkdir", self.mkdir)
        monkeypatch.setattr(_cgroupfs, "rmdir", self.rmdir)
        return self

    def files_for(self, path: str) -> dict[str, str]:
        if self.version == 2:
            return V2_FILES
        rel = Path(path).resolve().relative_to(self.root.resolve())
        return V1_FILES[rel.parts[0]]

    def mkdir(self, path: str) -> bool:
        try:
            os.mkdir(path)
        except FileExistsError:
            return False
        for name, content in self.files_for(path).items():
            if name not in self.omit:
                Path(path, name).write_text(content)
        return True

    def rmdir(self, path: str) -> bool:
        if not os.path.isdir(path):
            return True
        if Path(path, "cgroup.procs").exists() and Path(path, "cgroup.procs").read_text().split():
            return False  # busy, like EBUSY
        entries = list(Path(path).iterdir())
        if any(entry.is_dir() for entry in entries):
            return False  # child cgroups, like EBUSY
        for entry in entries:
            entry.unlink()
        os.rmdir(path)
        return True


@pytest.fixture
def fake_v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCgroupKernel]:
    yield FakeCgroupKernel(tmp_path / "cgroup", version=1).install(monkeypatch)


@pytest.fixture
def fake_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCgroupKernel]:
    yield FakeCgroupKernel(tmp_path / "cgroup", version=2).install(monkeypatch)


@pytest.fixture
def v1_files() -> dict[str, dict[str, str]]:
    """The per-controller control files a fresh v1 cgroup has (mutable via monkeypatch)."""
    return V1_FILES


@pytest.fixture
def kernel_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., FakeCgroupKernel]:
    """Build and install a fake kernel with options, e.g. ``omit=("memory.swap.max",)``."""

    def make(version: int, omit: tuple[str, ...] = ()) -> FakeCgroupKernel:
        return FakeCgroupKernel(tmp_path / "cg", version=version, omit=omit).install(monkeypatch)

    return make
