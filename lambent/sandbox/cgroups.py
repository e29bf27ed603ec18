"""Resource limits for sandboxes through cgroups v1 or v2, below one parent named ``prefix``.

Layout: v1 ``<root>/<controller>/<prefix>/<name>`` for memory, cpu, cpuacct, pids and freezer;
v2 ``<root>/<prefix>/<name>`` with memory, cpu and pids delegated. ``root`` is injectable so the
file writes can be tested against a fake tree.
"""

from __future__ import annotations

import logging
import os
import re
import time

from . import _cgroupfs as fs
from ._cgroup_base import Cgroup, cfs_quota_us
from ._cgroup_v1 import OPTIONAL_CONTROLLERS, REQUIRED_CONTROLLERS, CgroupV1
from ._cgroup_v2 import CONTROLLERS as V2_CONTROLLERS
from ._cgroup_v2 import CgroupV2, enable_controllers
from .errors import SandboxError
from .spec import Limits

__all__ = ["Cgroup", "CgroupManager", "cfs_quota_us", "detect_version"]

_log = logging.getLogger(__name__)
_NAME = re.compile(r"[a-z0-9-]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def detect_version(root: str) -> int | None:
    """2 if ``root`` is a unified hierarchy offering memory, 1 if it holds v1 mounts, else None."""
    controllers = os.path.join(root, "cgroup.controllers")
    if os.path.exists(controllers):
        try:
            with open(controllers, encoding="ascii") as f:
                if "memory" in f.read().split():
                    return 2
        except OSError:
            pass
    if os.path.isdir(os.path.join(root, "memory")):
        return 1
    return None


class CgroupManager:
    """Creates the cgroups of one worker's sandboxes and sweeps leftovers of crashed runs.

    Lifetime: one per worker process, passed explicitly to ``Sandbox.start``. It holds no kernel
    resources itself. Each prefix must belong to a single live process: ``cleanup_stale`` kills
    everything found below it.
    """

    def __init__(
        self, root: str = "/sys/fs/cgroup", prefix: str = "lambent", version: int | None = None
    ) -> None:
        if not _PREFIX.fullmatch(prefix) or prefix in (".", ".."):
            raise ValueError(f"invalid cgroup prefix {prefix!r}")
        if version not in (None, 1, 2):
            raise ValueError(f"cgroup version must be 1, 2 or None, got {version!r}")
        self.root = root
        self.prefix = prefix
        self.version: int | None = version if version is not None else detect_version(root)
        self.unavailable_reason: str | None = self._probe()
        self.available: bool = self.unavailable_reason is None
        self._parent_ready = False

    def _hierarchies(self) -> dict[str, str]:
        """v1 controller -> hierarchy mount (resolved, so co-mounts like cpu,cpuacct coincide)."""
        found: dict[str, str] = {}
        for controller in REQUIRED_CONTROLLERS + OPTIONAL_CONTROLLERS:
            path = os.path.join(self.root, controller)
            if os.path.isdir(path):
                found[controller] = os.path.realpath(path)
        return found

    def _probe(self) -> str | None:
        if self.version is None:
            return f"no cgroup v1 or v2 hierarchy with a memory controller under {self.root}"
        if self.version == 1:
            hierarchies = self._hierarchies()
            for controller in REQUIRED_CONTROLLERS:
                if controller not in hierarchies:
                    return f"cgroup v1 controller {controller!r} is not mounted under {self.root}"
                if not os.access(hierarchies[controller], os.W_OK):
                    return f"cgroup v1 hierarchy {hierarchies[controller]} is not writable"
            return None
        try:
            offered = set(fs.read(os.path.join(self.root, "cgroup.controllers")).split())
        except SandboxError as exc:
            return str(exc)
        missing = [c for c in V2_CONTROLLERS if c not in offered]
        if missing:
            return f"cgroup v2 at {self.root} does not offer controllers {missing}"
        if not os.access(self.root, os.W_OK):
            return f"cgroup v2 root {self.root} is not writable"
        return None

    def parent_paths(self) -> tuple[str, ...]:
        """The ``prefix`` directories (one per v1 hierarchy, one in v2)."""
        if self.version == 1:
            unique = dict.fromkeys(self._hierarchies().values())
            return tuple(os.path.join(h, self.prefix) for h in unique)
        return (os.path.join(self.root, self.prefix),)

    def _ensure_parent(self) -> None:
        if self._parent_ready:
            return
        for path in self.parent_paths():
            fs.mkdir(path)
        if self.version == 2:
            enable_controllers(self.root)
            enable_controllers(os.path.join(self.root, self.prefix))
        self._parent_ready = True

    def _handle(self, name: str, limits: Limits | None) -> CgroupV1 | CgroupV2:
        if self.version == 1:
            dirs = {c: os.path.join(h, self.prefix, name) for c, h in self._hierarchies().items()}
            return CgroupV1(name, limits, dirs)
        return CgroupV2(name, limits, os.path.join(self.root, self.prefix, name))

    def create(self, name: str, limits: Limits) -> Cgroup:
        """A new cgroup with ``limits`` applied and no members yet."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"cgroup name must match [a-z0-9-]{{1,64}}: {name!r}")
        if not self.available:
            raise SandboxError(f"cgroups unavailable: {self.unavailable_reason}", sandbox_id=name)
        self._ensure_parent()
        cgroup = self._handle(name, limits)
        try:
            cgroup.setup()
        except BaseException:
            cgroup.destroy()
            raise
        return cgroup

    def stale_names(self) -> set[str]:
        """Names of cgroups currently below the prefix (in any hierarchy)."""
        names: set[str] = set()
        for parent in self.parent_paths():
            try:
                entries = os.scandir(parent)
            except FileNotFoundError:
                continue
            with entries:
                names |= {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        return {n for n in names if _NAME.fullmatch(n)}

    def cleanup_stale(self, timeout_s: float = 5.0) -> int:
        """Kill the processes of and remove every cgroup below the prefix; returns how many.

        Meant for worker start-up, before any sandbox of this manager exists. It blocks (polling
        with short sleeps, at most ``timeout_s`` in total); call it off the event loop if the
        loop is already serving. Cgroups that cannot be emptied in time are logged and left.
        """
        if not self.available:
            return 0
        deadline = time.monotonic() + timeout_s
        busy = [self._handle(name, None) for name in sorted(self.stale_names())]
        total = len(busy)
        # Every cgroup is killed before any is waited for: a crashed owner's frozen environments
        # (93 of them once) then exit in parallel instead of one poll loop after another.
        while busy:
            for cgroup in busy:
                cgroup.kill_all()
            busy = [cgroup for cgroup in busy if not cgroup.destroy()]
            if busy and time.monotonic() >= deadline:
                for cgroup in busy:
                    _log.warning("stale cgroup %s still busy, left in place", cgroup.paths)
                break
            if busy:
                time.sleep(0.005)
        return total - len(busy)

    def remove_parents(self) -> bool:
        """Remove the ``prefix`` directories once no sandbox cgroup is left below them.

        For orderly shutdown and tests; returns False (leaving them) while any is still busy.
        """
        if not self.available:
            return True
        removed = [fs.rmdir(path) for path in self.parent_paths()]
        self._parent_ready = False
        return all(removed)
