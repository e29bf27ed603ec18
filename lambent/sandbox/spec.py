"""What a sandbox should look like (``SandboxSpec``) and how the host launches it
(``SandboxOptions``).

All values are frozen and validate themselves on creation, so a spec that reaches
``Sandbox.start`` is well formed. Invalid values raise ``ValueError`` (a caller bug), never
``SandboxError`` (a host failure).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .uids import UidAllocator

# Used as a cgroup directory name, so it must never contain "/" or "..".
_SANDBOX_ID = re.compile(r"[a-z0-9-]{1,64}")
_ENV_NAME = re.compile(r"[^=\x00]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62})")
_MAX_ID = 2**32 - 2  # (uid_t)-1 is reserved by the kernel


def _check_path(what: str, path: str) -> None:
    if not path.startswith("/") or "\x00" in path:
        raise ValueError(f"{what} must be an absolute path without NUL: {path!r}")


@dataclass(frozen=True)
class Mount:
    """A host path bound into the sandbox; read-only unless ``writable``.

    ``private``: the source directory is closed to everyone but the sandboxes that mount it:
    its top directory gets a POSIX ACL entry for this sandbox's own host uid at start, removed
    at destroy (``uids.UidLease.grant``). Needs ``SandboxOptions.uids``.
    """

    source: str
    target: str
    writable: bool = False
    private: bool = False

    def __post_init__(self) -> None:
        _check_path("Mount.source", self.source)
        _check_path("Mount.target", self.target)
        if self.target.rstrip("/") in ("", "/proc", "/dev", "/usr", "/etc", "/tmp"):
            raise ValueError(f"Mount.target {self.target!r} would hide part of the sandbox base")


@dataclass(frozen=True)
class Limits:
    """Resource limits enforced by the sandbox's cgroup.

    Everything in the sandbox counts, including bwrap's init (pid 1 inside, ~1 MB): pids_max
    limits tasks, i.e. processes *and* threads, so the command itself can have pids_max - 1.
    Pages of the /tmp tmpfs are charged to memory_mb as well.
    """

    memory_mb: int
    cpu_millicores: int
    pids_max: int

    def __post_init__(self) -> None:
        for name in ("memory_mb", "cpu_millicores", "pids_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024


@dataclass(frozen=True)
class SandboxSpec:
    """One sandbox: the command, its complete environment, its filesystem view and limits.

    ``env`` is copied into a read-only mapping, so later changes to the caller's dict do not
    leak into a spec that was already validated.
    """

    sandbox_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    mounts: tuple[Mount, ...]
    tmp_size_mb: int
    limits: Limits
    cwd: str = "/var/task"
    hostname: str = "localhost"
    listen_port: int | None = 9001
    uid: int = 993
    gid: int = 990

    def __post_init__(self) -> None:
        if not _SANDBOX_ID.fullmatch(self.sandbox_id):
            raise ValueError(f"sandbox_id must match [a-z0-9-]{{1,64}}: {self.sandbox_id!r}")
        if not self.argv or any("\x00" in a for a in self.argv):
            raise ValueError("argv must be non-empty and free of NUL")
        env = dict(self.env)
        for key, value in env.items():
            if not _ENV_NAME.fullmatch(key) or "\x00" in value:
                raise ValueError(f"invalid environment variable {key!r}")
        object.__setattr__(self, "env", types.MappingProxyType(env))
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "mounts", tuple(self.mounts))
        if self.tmp_size_mb <= 0:
            raise ValueError(f"tmp_size_mb must be positive, got {self.tmp_size_mb}")
        _check_path("cwd", self.cwd)
        if not _HOSTNAME.fullmatch(self.hostname):
            raise ValueError(f"invalid hostname {self.hostname!r}")
        if self.listen_port is not None and not 1 <= self.listen_port <= 65535:
            raise ValueError(f"listen_port out of range: {self.listen_port}")
        for name in ("uid", "gid"):
            value = getattr(self, name)
            if not 0 <= value <= _MAX_ID:
                raise ValueError(f"{name} out of range: {value}")


# /etc entries a dynamically linked runtime needs; missing ones are skipped (bwrap --ro-bind-try).
DEFAULT_ETC_BINDS: tuple[str, ...] = (
    "/etc/ld.so.cache",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/nsswitch.conf",
)


@dataclass(frozen=True)
class SandboxOptions:
    """Host-side launch settings shared by all sandboxes of one worker (passed explicitly).

    ``host_uid``/``host_gid`` are the unprivileged host identity bwrap runs as; the sandbox's
    ``uid`` maps onto it, so files the sandbox can reach are judged as that host user. With
    ``uids`` set, each sandbox gets its own host uid (and gid) from that allocator instead, held
    until the sandbox is destroyed; ``host_uid``/``host_gid`` are then unused.
    """

    bwrap_path: str = "/usr/bin/bwrap"
    # setpriv (util-linux) drops root to host_uid right before exec'ing bwrap; see sandbox.py
    # for why this beats create_subprocess_exec(user=...).
    setpriv_path: str = "/usr/bin/setpriv"
    host_uid: int = 65534
    host_gid: int = 65534
    user_name: str = "sbx_user1051"
    etc_binds: tuple[str, ...] = field(default=DEFAULT_ETC_BINDS)
    start_timeout_s: float = 5.0
    destroy_timeout_s: float = 5.0
    listen_backlog: int = 64
    #: Host-wide allocator of one host uid per sandbox (``uids.py``); None: all share host_uid.
    uids: UidAllocator | None = field(default=None, compare=False)
    #: Marker bwrap carries in its environment as ``LAMBENT_SANDBOX_OWNER`` (hidden from the
    #: command by ``--unsetenv``), by which ``orphans.py`` finds the sandbox processes of an
    #: owner that died; "" for none. Conventionally the owner's sandbox dir with a trailing "/".
    owner: str = ""
    #: Load the syscall filter of ``_seccomp.py`` (bwrap --seccomp) into every sandbox.
    seccomp: bool = True
    #: RLIMIT_NOFILE (soft = hard) of everything in the sandbox; Lambda's is 1024
    #: (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). 0: inherit.
    nofile_limit: int = 1024
    #: What /bin/sh runs inside (bash, as on Amazon Linux 2023); "": the host's /bin/sh.
    bin_sh: str = "/usr/bin/bash"
    #: More ports the host listens on in every sandbox's network namespace (127.0.0.1 only),
    #: each served by the host like ``SandboxSpec.listen_port`` (``Sandbox.extra_listeners``,
    #: same order); each must differ from the spec's ``listen_port``.
    extra_listen_ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_path("bwrap_path", self.bwrap_path)
        _check_path("setpriv_path", self.setpriv_path)
        for path in self.etc_binds:
            _check_path("etc_binds entry", path)
        if self.host_uid == 0 or self.host_gid == 0:
            raise ValueError("host_uid/host_gid must not be root: the sandbox user maps onto them")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", self.user_name):
            raise ValueError(f"invalid user_name {self.user_name!r}")
        if self.start_timeout_s <= 0 or self.destroy_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if "\x00" in self.owner:
            raise ValueError("owner must not contain NUL")
        if isinstance(self.nofile_limit, bool) or not 0 <= self.nofile_limit <= 2**20:
            raise ValueError(f"nofile_limit must be 0..{2**20}, got {self.nofile_limit!r}")
        if self.bin_sh:
            _check_path("bin_sh", self.bin_sh)
        ports = tuple(self.extra_listen_ports)
        object.__setattr__(self, "extra_listen_ports", ports)
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise ValueError(f"extra_listen_ports entry out of range: {port!r}")
        if len(set(ports)) != len(ports):
            raise ValueError(f"extra_listen_ports must be distinct: {ports}")

    def check_ports(self, spec: SandboxSpec) -> None:
        """Raise ValueError if ``spec``'s listen_port is also one of ``extra_listen_ports``."""
        if spec.listen_port is not None and spec.listen_port in self.extra_listen_ports:
            raise ValueError(f"listen_port {spec.listen_port} is also in extra_listen_ports")
