"""The exact command line that launches one sandbox: ``setpriv … -- bwrap … -- argv``.

Pure functions of the spec, the host options and the fd numbers (plus ``host_root_entries``,
which only ``lstat``s a handful of top-level paths), so the whole filesystem and namespace
layout is unit-testable without running anything.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from .orphans import OWNER_ENV
from .spec import SandboxOptions, SandboxSpec

# Top-level directories a program expects besides /usr. On merged-/usr hosts (Debian 12) they
# are symlinks into /usr and are recreated as symlinks; otherwise they are bound read-only.
_ROOT_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class RootEntry:
    """One top-level path: recreated as a symlink (``symlink_to`` set) or bound read-only."""

    path: str
    symlink_to: str | None


@dataclass(frozen=True)
class ChildFds:
    """Descriptor numbers bwrap inherits (``pass_fds``) for the handshake and generated files."""

    status_w: int
    block_r: int
    passwd_r: int
    group_r: int
    hosts_r: int
    #: The seccomp BPF program (``_seccomp.seccomp_program``); None: no filter.
    seccomp_r: int | None = None

    def all(self) -> tuple[int, ...]:
        fds = (self.status_w, self.block_r, self.passwd_r, self.group_r, self.hosts_r)
        return fds if self.seccomp_r is None else (*fds, self.seccomp_r)


def host_root_entries(root: str = "/") -> tuple[RootEntry, ...]:
    """Mirror the host's top-level layout for the directories in ``_ROOT_DIRS`` that exist."""
    entries: list[RootEntry] = []
    for name in _ROOT_DIRS:
        host_path = os.path.join(root, name)
        if os.path.islink(host_path):
            entries.append(RootEntry(path="/" + name, symlink_to=os.readlink(host_path)))
        elif os.path.isdir(host_path):
            entries.append(RootEntry(path="/" + name, symlink_to=None))
    return tuple(entries)


@functools.cache
def sh_overlay(bin_sh: str | None, root: str = "/") -> tuple[str, str] | None:
    """(source, target) of the bind that makes ``/bin/sh`` ``bin_sh`` inside, or None.

    Cached: the realpath walks cost ~60 us, and the host's /usr does not change under a server.

    On Debian /usr/bin/sh is a symlink to dash; Lambda's Amazon Linux 2023 has bash there, and
    AWS's custom-runtime tutorial bootstrap (``#!/bin/sh`` + ``set -euo pipefail``) needs it.
    A bind mount follows a symlink at its target, so the bind goes over the file the host's
    link resolves to (dash, seen under /usr inside too: /usr is bound at the same path); the
    mount lives in the sandbox's mount namespace only, the host is never changed.
    """
    if not bin_sh:
        return None
    usr = os.path.realpath(os.path.join(root, "usr"))
    target = os.path.realpath(os.path.join(usr, "bin/sh"))
    if not target.startswith(usr + "/"):
        return None  # not under /usr: not what the sandbox sees as /bin/sh
    if target == os.path.realpath(os.path.join(root, bin_sh.lstrip("/"))):
        return None  # already bin_sh
    return bin_sh, "/usr" + target[len(usr) :]


def passwd_bytes(spec: SandboxSpec, options: SandboxOptions) -> bytes:
    """/etc/passwd naming the sandbox user; nobody covers host files of unmapped owners."""
    lines = ["root:x:0:0:root:/root:/usr/sbin/nologin"]
    if spec.uid not in (0, 65534):
        lines.append(f"{options.user_name}:x:{spec.uid}:{spec.gid}::/tmp:/usr/sbin/nologin")
    lines.append("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
    return ("\n".join(lines) + "\n").encode()


def group_bytes(spec: SandboxSpec, options: SandboxOptions) -> bytes:
    lines = ["root:x:0:"]
    if spec.gid not in (0, 65534):
        lines.append(f"{options.user_name}:x:{spec.gid}:")
    lines.append("nogroup:x:65534:")
    return ("\n".join(lines) + "\n").encode()


def hosts_bytes(spec: SandboxSpec) -> bytes:
    # glibc resolves "localhost" through /etc/hosts; without it lookups would go to DNS,
    # which does not exist in the sandbox's empty network namespace.
    names = "localhost" if spec.hostname == "localhost" else f"localhost {spec.hostname}"
    return f"127.0.0.1 {names}\n::1 localhost ip6-localhost ip6-loopback\n".encode()


def build_command(
    spec: SandboxSpec,
    options: SandboxOptions,
    fds: ChildFds,
    root_entries: tuple[RootEntry, ...],
    sh: tuple[str, str] | None = None,
) -> list[str]:
    """The full exec vector: privilege drop, then bwrap, then the sandboxed command."""
    return [
        options.setpriv_path,
        f"--reuid={options.host_uid}",
        f"--regid={options.host_gid}",
        "--clear-groups",
        "--",
        options.bwrap_path,
        *bwrap_args(spec, options, fds, root_entries, sh),
        "--",
        *spec.argv,
    ]


def launch_env(spec: SandboxSpec, options: SandboxOptions) -> dict[str, str]:
    """bwrap's environment: the sandbox's complete environment (bwrap hands its own to the
    command; unlike --setenv this keeps values such as credentials out of the world-readable
    /proc/<pid>/cmdline), plus the owner marker that ``--unsetenv`` removes again for the
    command (``orphans.py`` reads it from /proc/<pid>/environ, which only root and the
    sandbox's own uid may read)."""
    env = dict(spec.env)
    if options.owner:
        env[OWNER_ENV] = options.owner
    return env


@dataclass(frozen=True)
class HiddenCommand:
    """A command whose bwrap options travel through a pipe (``bwrap --args FD``) instead of the
    command line: /proc/<pid>/cmdline is world-readable and would show every bind source (the
    code tree's path, the owner's directories) to any user of the host."""

    head: tuple[str, ...]  # up to and including bwrap
    options: bytes  # NUL-terminated bwrap options, read by bwrap from the FD
    tail: tuple[str, ...]  # "--" and the sandboxed command

    def argv(self, args_fd: int) -> list[str]:
        return [*self.head, "--args", str(args_fd), *self.tail]


def hide_bwrap_options(command: list[str], spec: SandboxSpec, options: SandboxOptions) -> HiddenCommand:
    """Split ``build_command``'s result at bwrap: its options (everything between bwrap and the
    "--" before ``spec.argv``) go to the pipe. Found by position, never by searching for "--":
    an option value (an environment value given to --setenv) may be "--" itself. The sandboxed
    command must stay on the command line (bwrap refuses it inside --args)."""
    start = command.index(options.bwrap_path) + 1
    end = len(command) - len(spec.argv) - 1
    if end < start or command[end] != "--" or tuple(command[end + 1 :]) != spec.argv:
        raise ValueError("command does not end with '--' and the spec's argv")
    blob = b"".join(os.fsencode(a) + b"\0" for a in command[start:end])
    return HiddenCommand(tuple(command[:start]), blob, tuple(command[end:]))


def _owner_env_args(spec: SandboxSpec, options: SandboxOptions) -> tuple[str, ...]:
    """The command never sees the owner marker; a variable of that name the spec itself has
    keeps its value (set again here, in bwrap's options: never on the command line). bwrap
    applies both as it parses them, in order."""
    if not options.owner:
        return ()
    if OWNER_ENV in spec.env:
        return ("--unsetenv", OWNER_ENV, "--setenv", OWNER_ENV, spec.env[OWNER_ENV])
    return ("--unsetenv", OWNER_ENV)


def bwrap_args(
    spec: SandboxSpec,
    options: SandboxOptions,
    fds: ChildFds,
    root_entries: tuple[RootEntry, ...],
    sh: tuple[str, str] | None = None,
) -> list[str]:
    """bwrap options, in the order bwrap applies them (order matters for --perms/--size).

    ``sh`` is ``sh_overlay``'s result: bound after /usr, which it lies in.
    """
    args = [
        "--unshare-all",
        # --disable-userns needs an explicit --unshare-user; it stops sandboxed code from
        # creating nested user namespaces, which is kernel attack surface it never needs.
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        *_owner_env_args(spec, options),
        "--uid", str(spec.uid),
        "--gid", str(spec.gid),
        "--hostname", spec.hostname,
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for entry in root_entries:
        if entry.symlink_to is not None:
            args += ["--symlink", entry.symlink_to, entry.path]
        else:
            args += ["--ro-bind", entry.path, entry.path]
    if sh is not None:
        args += ["--ro-bind", *sh]
    args += ["--perms", "0755", "--dir", "/etc"]
    for path in options.etc_binds:
        args += ["--ro-bind-try", path, path]
    for fd, target in (
        (fds.passwd_r, "/etc/passwd"),
        (fds.group_r, "/etc/group"),
        (fds.hosts_r, "/etc/hosts"),
    ):
        # Without --perms bwrap creates these 0600, unreadable for any other uid.
        args += ["--perms", "0444", "--ro-bind-data", str(fd), target]
    args += [
        "--proc", "/proc",
        "--dev", "/dev",
        # --perms and --size apply to the next --tmpfs only.
        "--perms", "1777",
        "--size", str(spec.tmp_size_mb * 1024 * 1024),
        "--tmpfs", "/tmp",
    ]  # fmt: skip
    # bwrap runs as an unprivileged host uid: every mount source must be reachable by it (bwrap
    # canonicalises sources with realpath, so even --ro-bind-fd needs a traversable path).
    for mount in spec.mounts:
        args += ["--bind" if mount.writable else "--ro-bind", mount.source, mount.target]
    args += [
        # The root is a tmpfs bwrap created; making it read-only stops the sandbox from
        # filling it (only /tmp and writable mounts remain writable).
        "--remount-ro", "/",
        "--chdir", spec.cwd,
        "--json-status-fd", str(fds.status_w),
        "--block-fd", str(fds.block_r),
    ]  # fmt: skip
    if fds.seccomp_r is not None:
        # bwrap installs it (with no_new_privs) right before it execs the command.
        args += ["--seccomp", str(fds.seccomp_r)]
    return args
