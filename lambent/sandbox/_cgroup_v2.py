"""cgroup v2: one directory in the unified hierarchy with memory, cpu and pids enabled."""

from __future__ import annotations

import os

from . import _cgroupfs as fs
from ._cgroup_base import CFS_PERIOD_US, Cgroup, cfs_quota_us
from .errors import SandboxError
from .spec import Limits

CONTROLLERS = ("memory", "cpu", "pids")


def enable_controllers(cgroup_dir: str) -> None:
    """Delegate CONTROLLERS to the children of ``cgroup_dir`` (cgroup.subtree_control)."""
    path = os.path.join(cgroup_dir, "cgroup.subtree_control")
    enabled = set(fs.read(path).split())
    missing = [c for c in CONTROLLERS if c not in enabled]
    if not missing:
        return
    try:
        fs.write(path, " ".join("+" + c for c in missing))
    except SandboxError as exc:
        raise SandboxError(
            f"cannot enable controllers {missing}: {exc.message}",
            path=path,
            hint=(
                "a v2 cgroup with processes of its own cannot delegate controllers; "
                "move lambent's own process into a leaf cgroup (e.g. <root>/lambent-host)"
            ),
        ) from exc


class CgroupV2(Cgroup):
    """A sandbox cgroup in the unified hierarchy; see ``Cgroup`` for the lifetime.

    Holds one descriptor on ``memory.peak`` for its whole life: since Linux 6.12 a reset of
    ``memory.peak`` only applies to reads through the descriptor that wrote it.
    """

    def __init__(self, name: str, limits: Limits | None, path: str) -> None:
        super().__init__(name, limits)
        self._path = path
        self._peak_fd: int | None = None
        self._peak_resettable = False

    @property
    def paths(self) -> tuple[str, ...]:
        return (self._path,)

    def _file(self, name: str) -> str:
        return os.path.join(self._path, name)

    def setup(self) -> None:
        """Create the directory and apply ``limits``; a leftover empty cgroup is reused."""
        if self.limits is None:
            raise ValueError("setup() needs limits")
        if not fs.mkdir(self._path) and self.pids():
            raise SandboxError(
                "cgroup already exists and still has processes",
                sandbox_id=self.name,
                path=self._path,
                hint="sandbox ids must be unique; CgroupManager.cleanup_stale() removes leftovers",
            )
        fs.write(self._file("memory.max"), str(self.limits.memory_bytes))
        if os.path.exists(self._file("memory.swap.max")):
            fs.write(self._file("memory.swap.max"), "0")
        quota = cfs_quota_us(self.limits.cpu_millicores)
        fs.write(self._file("cpu.max"), f"{quota} {CFS_PERIOD_US}")
        fs.write(self._file("pids.max"), str(self.limits.pids_max))
        if os.path.exists(self._file("cgroup.freeze")):
            fs.write(self._file("cgroup.freeze"), "0")
        self._open_peak()
        self.reset_memory_peak()
        self._start_oom_count()

    def _open_peak(self) -> None:
        path = self._file("memory.peak")
        try:
            self._peak_fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            self._peak_resettable = True
        except PermissionError:
            # Linux 5.19-6.11: memory.peak exists but is read-only (no reset).
            self._peak_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            # Before 5.19 there is no peak at all; memory_peak_bytes falls back to current.
            self._peak_fd = None

    def add_pid(self, pid: int) -> None:
        if self._destroyed:
            raise SandboxError("cgroup already destroyed", sandbox_id=self.name)
        fs.write(self._file("cgroup.procs"), str(pid))

    def pids(self) -> set[int]:
        if self._destroyed:
            return set()
        return fs.read_pids(self._file("cgroup.procs"))

    def set_cpu_millicores(self, cpu_millicores: int) -> None:
        if not self.destroyed:
            fs.write(self._file("cpu.max"), f"{cfs_quota_us(cpu_millicores)} {CFS_PERIOD_US}")

    def freeze(self) -> None:
        # Like v1 this only requests the freeze; cgroup.events reports "frozen 1" later.
        if not self._destroyed:
            fs.write(self._file("cgroup.freeze"), "1")

    def thaw(self) -> None:
        if not self._destroyed:
            fs.write(self._file("cgroup.freeze"), "0")

    def kill_all(self) -> None:
        if self._destroyed:
            return
        kill_file = self._file("cgroup.kill")
        if os.path.exists(kill_file):
            # Linux 5.14+: one write kills every member atomically, frozen or not.
            fs.write(kill_file, "1")
            return
        self.freeze()
        fs.kill_pids(self.pids())
        self.thaw()

    def memory_current_bytes(self) -> int:
        if self._destroyed:
            return 0
        return fs.read_int(self._file("memory.current"))

    def memory_peak_bytes(self) -> int:
        if self._destroyed:
            return 0
        if self._peak_fd is None:
            return self.memory_current_bytes()
        try:
            return int(os.pread(self._peak_fd, 64, 0).split()[0])
        except OSError as exc:
            raise SandboxError(f"cannot read memory.peak: {exc.strerror}", path=self._path) from exc

    def reset_memory_peak(self) -> None:
        if self._destroyed or self._peak_fd is None or not self._peak_resettable:
            return
        try:
            os.pwrite(self._peak_fd, b"reset\n", 0)
        except OSError as exc:
            raise SandboxError(
                f"cannot reset memory.peak: {exc.strerror}", path=self._path
            ) from exc

    def _oom_kill_total(self) -> int:
        return fs.parse_keyed(fs.read(self._file("memory.events")), "oom_kill")

    def cpu_usage_ns(self) -> int:
        if self._destroyed:
            return 0
        return fs.parse_keyed(fs.read(self._file("cpu.stat")), "usage_usec") * 1000

    def _remove_dirs(self) -> bool:
        # The descriptor is useless once removal started; close it before rmdir.
        self._close_peak()
        return fs.rmdir(self._path)

    def _close_peak(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None

    def _closed(self) -> None:
        self._close_peak()
