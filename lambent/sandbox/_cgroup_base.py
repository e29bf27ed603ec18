"""The ``Cgroup`` interface shared by the v1 and v2 implementations."""

from __future__ import annotations

import abc

from .spec import Limits

# CFS period; quota = period * millicores / 1000. Shorter than the kernel's 100 ms default so a
# small function that exhausts its quota stalls for at most ~20 ms, not ~100 ms, at a time.
CFS_PERIOD_US = 20_000
# The kernel rejects quotas below 1 ms.
CFS_MIN_QUOTA_US = 1_000


def cfs_quota_us(cpu_millicores: int, period_us: int = CFS_PERIOD_US) -> int:
    """CPU time per period for a limit in millicores (1000 = one full CPU)."""
    return max(CFS_MIN_QUOTA_US, period_us * cpu_millicores // 1000)


class Cgroup(abc.ABC):
    """The cgroup(s) of one sandbox.

    Lifetime: created by ``CgroupManager.create`` (or adopted by ``cleanup_stale``), removed by
    ``destroy``. After ``destroy`` succeeded every method is a harmless no-op and every reading
    is 0, so late callers (metrics, a racing destroy) never fail.
    """

    def __init__(self, name: str, limits: Limits | None) -> None:
        self.name = name
        self.limits = limits
        self._destroyed = False
        self._oom_baseline = 0

    @property
    @abc.abstractmethod
    def paths(self) -> tuple[str, ...]:
        """Directories backing this cgroup (one per v1 hierarchy, one in v2)."""

    @property
    def destroyed(self) -> bool:
        return self._destroyed

    @abc.abstractmethod
    def add_pid(self, pid: int) -> None:
        """Move a process (and its future children) into the cgroup."""

    @abc.abstractmethod
    def pids(self) -> set[int]:
        """Processes currently in the cgroup."""

    @abc.abstractmethod
    def set_cpu_millicores(self, cpu_millicores: int) -> None:
        """Change the CPU quota of a live cgroup (e.g. a boost during a runtime's init)."""

    @abc.abstractmethod
    def freeze(self) -> None:
        """Request freezing; returns without waiting for it to complete. Idempotent."""

    @abc.abstractmethod
    def thaw(self) -> None:
        """Resume the processes, also when a freeze is still in progress. Idempotent."""

    @abc.abstractmethod
    def kill_all(self) -> None:
        """SIGKILL every member; frozen members die too. Does not wait for them to exit."""

    @abc.abstractmethod
    def memory_current_bytes(self) -> int: ...

    @abc.abstractmethod
    def memory_peak_bytes(self) -> int:
        """Peak usage since creation or the last ``reset_memory_peak``."""

    @abc.abstractmethod
    def reset_memory_peak(self) -> None: ...

    @abc.abstractmethod
    def _oom_kill_total(self) -> int: ...

    @abc.abstractmethod
    def cpu_usage_ns(self) -> int:
        """CPU time consumed by all members since creation."""

    @abc.abstractmethod
    def _remove_dirs(self) -> bool: ...

    def oom_kill_count(self) -> int:
        """OOM kills inside this cgroup since ``create`` handed it out."""
        if self._destroyed:
            return 0
        return self._oom_kill_total() - self._oom_baseline

    def _start_oom_count(self) -> None:
        # A recycled directory keeps its old counter; count only from now on.
        self._oom_baseline = self._oom_kill_total()

    def destroy(self) -> bool:
        """Remove the directories. False while processes remain (kill, wait, retry).

        Idempotent; returns True once everything is gone.
        """
        if self._destroyed:
            return True
        if self._remove_dirs():
            self._destroyed = True
            self._closed()
        return self._destroyed

    def _closed(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Hook for releasing descriptors held for the cgroup's lifetime."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, paths={self.paths!r})"
