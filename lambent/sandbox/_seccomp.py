"""The syscall filter every sandboxed command runs under (bwrap ``--seccomp FD``).

The policy is a deny-list, written as data (``POLICY``) and compiled to classic BPF by the host's
libseccomp (``libseccomp.so.2``, Debian's libseccomp2) through a small ctypes binding. It denies
what Docker's default profile denies ("Seccomp security profiles for Docker", table *Significant
syscalls blocked by the default profile*: https://docs.docker.com/engine/security/seccomp/) plus
the interfaces Docker added since or that an unprivileged function never needs: io_uring, the new
mount API, name_to_handle_at, fanotify_init, pidfd_getfd, quotactl_fd, syslog, vhangup,
set_mempolicy_home_node. Everything not named is allowed, so a syscall newer than this list is
reachable (sandbox/README.md, "Not defended").

Errnos: EPERM, as Docker (``SCMP_ACT_ERRNO``), except ``clone3``: its flags live in user memory
where BPF cannot read them, so it is refused with ENOSYS, which makes glibc (>= 2.34, pthread_create
and posix_spawn) fall back to ``clone``, whose flags *are* checked (runc and Docker do the same).
io_uring_setup's EPERM is one of the errors libuv (Node.js 20) treats as "no io_uring" and falls
back to its thread pool, as it does under Docker.

Architectures: the filter holds the host's native ABI only. Syscalls of any other ABI (i386 via
``int 0x80`` on x86_64, x32, arm32 on aarch64) kill the process (``SCMP_ACT_KILL_PROCESS``): they
use other syscall tables, which a deny-list written for the native table would not cover. Names
are resolved per architecture by libseccomp, so the same policy compiles on aarch64.

Lifetime: ``seccomp_program()`` compiles once per process and caches the bytes (the policy and
the library are fixed for the life of the server); each sandbox start only writes them to a pipe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os
from dataclasses import dataclass

from .errors import SandboxError

__all__ = ["POLICY", "Rule", "seccomp_pfc", "seccomp_program"]

_log = logging.getLogger(__name__)

# libseccomp's action encodings (seccomp.h) and scmp_compare / scmp_filter_attr values.
_ACT_ALLOW = 0x7FFF0000
_ACT_KILL_PROCESS = 0x80000000
_ACT_ERRNO = 0x00050000
_CMP_MASKED_EQ = 7
_ATTR_ACT_BADARCH = 2
_ATTR_CTL_OPTIMIZE = 8
_NR_SCMP_ERROR = -1

#: Docker's list (every entry of its table), then the additions named in the module docstring.
_EPERM_SYSCALLS: tuple[str, ...] = (
    # Docker's table
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
    "finit_module", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "move_pages",
    "nfsservctl", "open_by_handle_at", "perf_event_open", "pivot_root", "process_vm_readv",
    "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot", "request_key",
    "set_mempolicy", "setns", "settimeofday", "stime", "swapon", "swapoff", "sysfs", "_sysctl",
    "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
    # Not allow-listed by Docker either, or newer than its table
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "name_to_handle_at", "fanotify_init", "pidfd_getfd", "quotactl_fd", "syslog", "vhangup",
    "set_mempolicy_home_node",
)  # fmt: skip

# clone(2) creating namespaces (Docker's mask 0x7E020000): NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
# NEWUSER, NEWPID, NEWNET. clone's low byte is the exit signal, so CLONE_NEWTIME (0x80) cannot
# be asked for through clone (only clone3 and unshare, both refused whole).
_CLONE_NAMESPACE_FLAGS: tuple[int, ...] = (
    0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
)  # fmt: skip

# personality(2) values Docker allows: PER_LINUX, UNAME26, PER_LINUX32 (+UNAME26) and the query
# 0xffffffff. Anything else (other execution domains, READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE…) is
# refused. The kernel reads the low 32 bits only.
_PERSONALITY_ALLOWED_BITS = 0x00020008


@dataclass(frozen=True)
class Rule:
    """Refuse ``syscall`` with ``errno_value``; if ``mask`` is set, only when
    ``args[arg] & mask == value`` (one libseccomp masked comparison)."""

    syscall: str
    errno_value: int
    arg: int = 0
    mask: int = 0
    value: int = 0


def _personality_rules() -> tuple[Rule, ...]:
    # libseccomp allows one comparison per argument and rule, and rules are OR-ed, so "not one of
    # five values" becomes one rule per bit. Bit 31 clear: any bit outside the allowed ones is
    # refused. Bit 31 set: refused unless every bit is set (the query).
    rules: list[Rule] = []
    for bit in range(31):
        flag = 1 << bit
        if not flag & _PERSONALITY_ALLOWED_BITS:
            rules.append(Rule("personality", errno.EPERM, 0, 0x80000000 | flag, flag))
        rules.append(Rule("personality", errno.EPERM, 0, 0x80000000 | flag, 0x80000000))
    return tuple(rules)


def _build_policy() -> tuple[Rule, ...]:
    rules = [Rule(name, errno.EPERM) for name in _EPERM_SYSCALLS]
    rules.append(Rule("clone3", errno.ENOSYS))
    rules += [Rule("clone", errno.EPERM, 0, flag, flag) for flag in _CLONE_NAMESPACE_FLAGS]
    rules += _personality_rules()
    return tuple(rules)


#: Every refusal of the filter; what is not matched here is allowed.
POLICY: tuple[Rule, ...] = _build_policy()


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _load_library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SandboxError(
            f"cannot load libseccomp: {exc}",
            hint="install libseccomp2; refusing to run sandboxes without a syscall filter",
        ) from exc
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    for export in (lib.seccomp_export_bpf, lib.seccomp_export_pfc):
        export.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise SandboxError(f"libseccomp {what} failed: {os.strerror(-rc)}")


def _compile(rules: tuple[Rule, ...], *, pfc: bool) -> bytes:
    """Build the filter with libseccomp and export it (raw BPF, or the readable PFC text)."""
    lib = _load_library()
    # seccomp_init adds the native architecture only; any other is the "bad arch" action.
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise SandboxError("libseccomp seccomp_init failed")
    memfd = os.memfd_create("lambent-seccomp", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_attr_set(ctx, _ATTR_ACT_BADARCH, _ACT_KILL_PROCESS), "attr_set")
        # A binary search over syscall numbers instead of a linear chain (libseccomp >= 2.5;
        # older ones keep the chain, same verdicts). Most allowed syscalls skip the program
        # anyway: the kernel caches verdicts that depend on the number alone (Linux >= 5.11).
        lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)
        unknown: set[str] = set()
        for rule in rules:
            nr = lib.seccomp_syscall_resolve_name(rule.syscall.encode())
            if nr == _NR_SCMP_ERROR:
                unknown.add(rule.syscall)  # newer than this libseccomp: cannot be filtered
                continue
            cmps = (_ArgCmp * 1)(_ArgCmp(rule.arg, _CMP_MASKED_EQ, rule.mask, rule.value))
            # Syscalls absent from the native table (vm86 on x86_64) resolve to negative
            # pseudo-numbers that libseccomp accepts and emits nothing for.
            _check(
                lib.seccomp_rule_add_array(
                    ctx, _ACT_ERRNO | rule.errno_value, nr, 1 if rule.mask else 0, cmps
                ),
                f"rule for {rule.syscall}",
            )
        if unknown:
            _log.warning(
                "libseccomp does not know %s: these syscalls are not filtered",
                ", ".join(sorted(unknown)),
            )
        export = lib.seccomp_export_pfc if pfc else lib.seccomp_export_bpf
        _check(export(ctx, memfd), "export")
        size = os.fstat(memfd).st_size
        return os.pread(memfd, size, 0)
    finally:
        os.close(memfd)
        lib.seccomp_release(ctx)


@functools.cache
def seccomp_program() -> bytes:
    """The filter as raw ``struct sock_filter`` instructions, what bwrap's ``--seccomp`` reads.

    Compiled on first use (about 1 ms) and cached for the life of the process. Raises
    SandboxError if libseccomp is missing or refuses the policy.
    """
    program = _compile(POLICY, pfc=False)
    # bwrap reads the program from a pipe the host fills before bwrap starts; it must fit in
    # the pipe buffer (64 KiB) or the write would block. The policy compiles to ~3 KiB.
    if not program or len(program) % 8 or len(program) > 60_000:
        raise SandboxError(f"unexpected seccomp program size {len(program)}")
    return program


def seccomp_pfc() -> str:
    """The same filter as libseccomp's pseudo-filter-code text (for tests and inspection)."""
    return _compile(POLICY, pfc=True).decode()
