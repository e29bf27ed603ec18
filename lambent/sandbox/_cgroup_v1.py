"""cgroup v1: one directory per controller hierarchy (memory, cpu, cpuacct, pids, freezer)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from . import _cgroupfs as fs
from ._cgroup_base import CFS_PERIOD_US, Cgroup, cfs_quota_us
from .errors import SandboxError
from .spec import Limits

REQUIRED_CONTROLLERS = ("memory", "cpu", "pids", "freezer")
OPTIONAL_CONTROLLERS = ("cpuacct",)


class CgroupV1(Cgroup):
    """A sandbox cgroup spread over the v1 hierarchies; see ``Cgroup`` for the lifetime."""

    def __init__(self, name: str, limits: Limits | None, dirs: Mapping[str, str]) -> None:
        """``dirs`` maps controller name to this cgroup's directory in that hierarchy.

        Co-mounted controllers (``cpu,cpuacct``) map to the same directory, handled once.
        """
        super().__init__(name, limits)
        self._dirs = dict(dirs)
        self._unique = tuple(dict.fromkeys(self._dirs.values()))
        self._peak_fd: int | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        return self._unique

    def _file(self, controller: str, name: str) -> str:
        return os.path.join(self._dirs[controller], name)

    def setup(self) -> None:
        """Create the directories and apply ``limits``; a leftover empty cgroup is reused."""
        if self.limits is None:
            raise ValueError("setup() needs limits")
        created = [fs.mkdir(path) for path in self._unique]
        if not all(created) and self.pids():
            raise SandboxError(
                "cgroup already exists and still has processes",
                sandbox_id=self.name,
                path=self._unique[0],
                hint="sandbox ids must be unique; CgroupManager.cleanup_stale() removes leftovers",
            )
        self._apply_memory(self.limits.memory_bytes)
        fs.write(self._file("cpu", "cpu.cfs_period_us"), str(CFS_PERIOD_US))
        quota = cfs_quota_us(self.limits.cpu_millicores)
        fs.write(self._file("cpu", "cpu.cfs_quota_us"), str(quota))
        fs.write(self._file("pids", "pids.max"), str(self.limits.pids_max))
        fs.write(self._file("freezer", "freezer.state"), "THAWED")
        self._start_oom_count()

    def set_cpu_millicores(self, cpu_millicores: int) -> None:
        if not self.destroyed:
            fs.write(self._file("cpu", "cpu.cfs_quota_us"), str(cfs_quota_us(cpu_millicores)))

    def _apply_memory(self, limit: int) -> None:
        memsw = self._file("memory", "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            # The kernel insists memsw >= limit at every step; lifting memsw first keeps that
            # true whatever a recycled directory held before. memsw == limit means no swap.
            fs.write(memsw, "-1")
            fs.write(self._file("memory", "memory.limit_in_bytes"), str(limit))
            fs.write(memsw, str(limit))
        else:
            # Swap accounting is off (swapaccount=0): the best we can do is discourage swapping.
            fs.write(self._file("memory", "memory.limit_in_bytes"), str(limit))
            try:
                fs.write(self._file("memory", "memory.swappiness"), "0")
            except SandboxError:
                pass
        fs.write(self._file("memory", "memory.max_usage_in_bytes"), "0")

    def add_pid(self, pid: int) -> None:
        if self._destroyed:
            raise SandboxError("cgroup already destroyed", sandbox_id=self.name)
        for path in self._unique:
            fs.write(os.path.join(path, "cgroup.procs"), str(pid))

    def pids(self) -> set[int]:
        if self._destroyed:
            return set()
        members: set[int] = set()
        for path in self._unique:
            members |= fs.read_pids(os.path.join(path, "cgroup.procs"))
        return members

    def freeze(self) -> None:
        # v1 freezing is asynchronous: the state reads FREEZING until every task stopped.
        # We only ask; nothing here waits.
        if not self._destroyed:
            fs.write(self._file("freezer", "freezer.state"), "FROZEN")

    def thaw(self) -> None:
        if not self._destroyed:
            fs.write(self._file("freezer", "freezer.state"), "THAWED")

    def freezer_state(self) -> str:
        if self._destroyed:
            return "THAWED"
        return fs.read(self._file("freezer", "freezer.state")).strip()

    def kill_all(self) -> None:
        if self._destroyed:
            return
        # Freeze first so nothing can fork between listing and killing; frozen tasks keep the
        # SIGKILL pending and die on thaw. A missing freezer dir (half-created leftover) only
        # loses that protection; pids.max still bounds any race.
        try:
            self.freeze()
        except SandboxError:
            pass
        fs.kill_pids(self.pids())
        try:
            self.thaw()
        except SandboxError:
            pass

    def memory_current_bytes(self) -> int:
        if self._destroyed:
            return 0
        return fs.read_int(self._file("memory", "memory.usage_in_bytes"))

    def memory_peak_bytes(self) -> int:
        # Read after every invocation: keep the file open and pread it (one syscall, not three).
        if self._destroyed:
            return 0
        if self._peak_fd is None:
            self._peak_fd = os.open(self._file("memory", "memory.max_usage_in_bytes"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            return int(os.pread(self._peak_fd, 64, 0).split()[0])
        except OSError as exc:
            raise SandboxError(f"cannot read cgroup file: {exc.strerror}", sandbox_id=self.name) from exc

    def _closed(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None

    def reset_memory_peak(self) -> None:
        if not self._destroyed:
            fs.write(self._file("memory", "memory.max_usage_in_bytes"), "0")

    def _oom_kill_total(self) -> int:
        return fs.parse_keyed(fs.read(self._file("memory", "memory.oom_control")), "oom_kill")

    def cpu_usage_ns(self) -> int:
        if self._destroyed:
            return 0
        if "cpuacct" not in self._dirs:
            raise SandboxError("cpuacct controller not mounted", sandbox_id=self.name)
        return fs.read_int(self._file("cpuacct", "cpuacct.usage"))

    def _remove_dirs(self) -> bool:
        self._closed()  # no descriptor of ours may pin the directory
        # Try every hierarchy even if one is still busy, so a retry has less left to do.
        removed = [fs.rmdir(path) for path in self._unique]
        return all(removed)
