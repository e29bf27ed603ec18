"""Isolation only: bubblewrap namespaces, cgroup limits, mounts and a listener in the sandbox's
network namespace. Knows nothing of Lambda; see README.md for the threat model.

The public API is assembled here and pinned by tests/unit/sandbox/test_sandbox_public_api.py.
"""

from ._cgroup_base import Cgroup
from ._netns import udp_in_netns
from ._status import ExitStatus
from .cgroups import CgroupManager
from .errors import SandboxError
from .orphans import kill_leftover_sandboxes
from .sandbox import Sandbox
from .spec import Limits, Mount, SandboxOptions, SandboxSpec
from .uids import SandboxCapacityExceeded, UidAllocator, UidRange, UidRangeExhausted

__all__ = [
    "Cgroup",
    "CgroupManager",
    "ExitStatus",
    "Limits",
    "Mount",
    "Sandbox",
    "SandboxCapacityExceeded",
    "SandboxError",
    "SandboxOptions",
    "SandboxSpec",
    "UidAllocator",
    "UidRange",
    "UidRangeExhausted",
    "kill_leftover_sandboxes",
    "udp_in_netns",
]
