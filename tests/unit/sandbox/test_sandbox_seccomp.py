"""The sandbox's syscall filter (``_seccomp``), its descriptor limit (``_rlimit``) and the options
and bwrap arguments that carry them and /bin/sh."""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lambent.sandbox import Limits, SandboxOptions, SandboxSpec
from lambent.sandbox._argv import ChildFds, RootEntry, build_command, sh_overlay
from lambent.sandbox._rlimit import set_nofile
from lambent.sandbox._seccomp import POLICY, Rule, _compile, seccomp_pfc, seccomp_program

# Every syscall of Docker's table "Significant syscalls blocked by the default profile"
# (https://docs.docker.com/engine/security/seccomp/), except clone and personality (argument
# rules, tested below).
DOCKER_TABLE = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
    "finit_module", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "move_pages",
    "nfsservctl", "open_by_handle_at", "perf_event_open", "pivot_root", "process_vm_readv",
    "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot", "request_key",
    "set_mempolicy", "setns", "settimeofday", "stime", "swapon", "swapoff", "sysfs", "_sysctl",
    "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
)  # fmt: skip
ALSO_REFUSED = (
    "io_uring_setup", "io_uring_enter", "io_uring_register", "fsopen", "fsconfig", "fsmount",
    "fspick", "move_mount", "open_tree", "mount_setattr", "name_to_handle_at",
)  # fmt: skip
DOCKER_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
CLONE_NAMESPACE_MASK = 0x7E020000  # Docker's: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def _unconditional() -> dict[str, int]:
    return {r.syscall: r.errno_value for r in POLICY if not r.mask}


def _refused(syscall: str, arg0: int) -> bool:
    """What the compiled rules decide for ``syscall(arg0, ...)`` (rules are OR-ed)."""
    return any(
        r.syscall == syscall and (not r.mask or (arg0 & r.mask) == r.value) for r in POLICY
    )


# ------------------------------------------------------------------------------------ policy


def test_policy_refuses_dockers_table_and_the_newer_interfaces_with_eperm() -> None:
    refused = _unconditional()
    for name in (*DOCKER_TABLE, *ALSO_REFUSED):
        assert refused.get(name) == errno.EPERM, name


def test_clone3_is_enosys_so_glibc_falls_back_to_clone() -> None:
    assert _unconditional()["clone3"] == errno.ENOSYS


def test_clone_is_refused_exactly_when_it_asks_for_a_namespace() -> None:
    rng = random.Random(8)
    for _ in range(5000):
        flags = rng.getrandbits(32)
        assert _refused("clone", flags) == bool(flags & CLONE_NAMESPACE_MASK), hex(flags)
    # What glibc's fork and pthread_create pass stays allowed.
    assert not _refused("clone", 0x01200011)  # CLONE_CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
    assert not _refused("clone", 0x003D0F00)  # pthread_create's flags


def test_personality_allows_exactly_dockers_values() -> None:
    for value in DOCKER_PERSONALITIES:
        assert not _refused("personality", value), hex(value)
    rng = random.Random(8)
    samples = [rng.getrandbits(32) for _ in range(5000)]
    samples += [1 << bit for bit in range(32)] + [0x0040000, 0xFFFFFFFE, 0x7FFFFFFF, 0x20009]
    for value in samples:
        assert _refused("personality", value) == (value not in DOCKER_PERSONALITIES), hex(value)
    # The kernel reads 32 bits: the upper half of the register does not matter.
    assert not _refused("personality", (1 << 40) | 0x8)


def test_rules_are_frozen_values() -> None:
    with pytest.raises(AttributeError):
        POLICY[0].errno_value = 0  # type: ignore[misc]
    assert Rule("x", errno.EPERM) == Rule("x", errno.EPERM)


# ------------------------------------------------------------------------------ compiled


def test_exported_filter_checks_the_arch_and_kills_foreign_abis() -> None:
    pfc = seccomp_pfc()
    machine = os.uname().machine
    arch_token = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[machine]
    assert f"if ($arch == {arch_token})" in pfc
    assert pfc.count("if ($arch ==") == 1  # the native ABI only
    assert "# invalid architecture action\naction KILL_PROCESS;" in pfc
    assert "# default action\n  action ALLOW;" in pfc
    for name in ("keyctl", "io_uring_setup", "userfaultfd", "bpf", "perf_event_open", "ptrace"):
        block = pfc.split(f'# filter for syscall "{name}"', 1)[1]
        assert block.split("\n", 3)[2].strip() == "action ERRNO(1);", name
    clone3 = pfc.split('# filter for syscall "clone3"', 1)[1]
    assert clone3.split("\n", 3)[2].strip() == "action ERRNO(38);"


def test_names_libseccomp_does_not_know_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a policy naming a syscall newer than the host's libseccomp, and a known one
    rules = (Rule("no_such_syscall_2099", errno.EPERM), Rule("keyctl", errno.EPERM))
    # When it is compiled
    with caplog.at_level("WARNING", logger="lambent.sandbox._seccomp"):
        pfc = _compile(rules, pfc=True).decode()
    # Then the known one is filtered and the operator is told which one is not
    assert '# filter for syscall "keyctl"' in pfc and "no_such_syscall" not in pfc
    assert "libseccomp does not know no_such_syscall_2099" in caplog.text


def test_program_is_compiled_once_and_is_raw_bpf() -> None:
    program = seccomp_program()
    assert seccomp_program() is program  # cached for the life of the process
    assert len(program) % 8 == 0 and 0 < len(program) < 60_000
    # The first instruction loads seccomp_data.arch (BPF_LD|BPF_W|BPF_ABS, offset 4).
    code, _, _, k = int.from_bytes(program[0:2], "little"), program[2], program[3], program[4:8]
    assert (code, int.from_bytes(k, "little")) == (0x20, 4)


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long
_SECCOMP = ctypes.CDLL("libseccomp.so.2")
_SECCOMP.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _nr(name: str) -> int:
    nr = int(_SECCOMP.seccomp_syscall_resolve_name(name.encode()))
    assert nr >= 0, name
    return nr


def _probe(name: str, *args: int) -> str:
    ctypes.set_errno(0)
    rc = _LIBC.syscall(ctypes.c_long(_nr(name)), *[ctypes.c_long(a) for a in args])
    return "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]


def _under_filter(probes: dict[str, tuple[str, tuple[int, ...]]]) -> dict[str, str]:
    """Load the program into a forked child (as bwrap does: no_new_privs, then the filter) and
    run each probe there; harmless arguments only (the child is root)."""
    program = seccomp_program()
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(r)
            pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
            if _LIBC.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
            if _LIBC.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(prog), 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
            out = {label: _probe(name, *args) for label, (name, args) in probes.items()}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    assert data, "the child could not load the filter"
    return dict(json.loads(data))


def test_filter_refuses_in_a_real_process_and_lets_ordinary_calls_through() -> None:
    # Given the compiled program loaded into a process
    got = _under_filter(
        {
            "keyctl": ("keyctl", (0, -3, 0)),  # KEYCTL_GET_KEYRING_ID of the session keyring
            "userfaultfd": ("userfaultfd", (os.O_CLOEXEC | 1,)),  # UFFD_USER_MODE_ONLY
            "io_uring_setup": ("io_uring_setup", (1, 0)),
            "clone3": ("clone3", (0, 0)),
            "unshare(NEWUSER)": ("unshare", (0x10000000,)),
            "personality(ADDR_NO_RANDOMIZE)": ("personality", (0x0040000,)),
            "personality(query)": ("personality", (0xFFFFFFFF,)),
            "getpid": ("getpid", ()),
            "getppid": ("getppid", ()),
        }
    )
    # Then the refused ones answer the filter's errno, the rest run
    assert got == {
        "keyctl": "EPERM",
        "userfaultfd": "EPERM",
        "io_uring_setup": "EPERM",
        "clone3": "ENOSYS",
        "unshare(NEWUSER)": "EPERM",
        "personality(ADDR_NO_RANDOMIZE)": "EPERM",
        "personality(query)": "ok",
        "getpid": "ok",
        "getppid": "ok",
    }


def _killed_by(code: bytes) -> int | None:
    """Run machine code in a forked child under the filter; the signal that ended it."""
    program = seccomp_program()
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            if _LIBC.prctl(38, 1, 0, 0, 0) == 0 and _LIBC.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0:
                page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
                page.write(code)
                address = ctypes.addressof(ctypes.c_char.from_buffer(page))
                ctypes.CFUNCTYPE(ctypes.c_long)(address)()
        finally:
            os._exit(0)
    status = os.waitpid(pid, 0)[1]
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def test_foreign_abis_kill_the_process() -> None:
    assert os.uname().machine == "x86_64", "machine code below is x86_64's"
    # i386 getpid through int 0x80 (mov eax, 20; int 0x80; ret): AUDIT_ARCH_I386, not in the filter
    assert _killed_by(bytes.fromhex("b814000000cd80c3")) == signal.SIGSYS
    # x32 getpid (mov eax, 0x40000027; syscall; ret): x86_64's arch with the x32 bit set
    assert _killed_by(bytes.fromhex("b8270000400f05c3")) == signal.SIGSYS
    # native getpid (mov eax, 39; syscall; ret) runs
    assert _killed_by(bytes.fromhex("b8270000000f05c3")) is None


# ------------------------------------------------------------------------ options and argv

FDS = ChildFds(status_w=10, block_r=11, passwd_r=12, group_r=13, hosts_r=14, seccomp_r=15)
MERGED_USR = (RootEntry("/bin", "usr/bin"), RootEntry("/lib", "usr/lib"))


def _spec() -> SandboxSpec:
    return SandboxSpec(
        sandbox_id="sbx-1",
        argv=("/usr/bin/python3", "-c", "pass"),
        env={},
        mounts=(),
        tmp_size_mb=64,
        limits=Limits(memory_mb=128, cpu_millicores=1000, pids_max=64),
    )


def _bwrap_part(argv: list[str]) -> list[str]:
    start = argv.index("/usr/bin/bwrap") + 1
    return argv[start : argv.index("--", start)]


def test_options_default_to_lambdas_sandbox() -> None:
    options = SandboxOptions()
    assert (options.seccomp, options.nofile_limit, options.bin_sh) == (True, 1024, "/usr/bin/bash")


@pytest.mark.parametrize(
    "overrides",
    [{"nofile_limit": -1}, {"nofile_limit": 2**21}, {"nofile_limit": True}, {"bin_sh": "bash"}],
)
def test_options_refuse_bad_limits_and_relative_shells(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SandboxOptions(**overrides)  # type: ignore[arg-type]


def test_seccomp_program_fd_reaches_bwrap() -> None:
    args = _bwrap_part(build_command(_spec(), SandboxOptions(), FDS, MERGED_USR))
    assert args[args.index("--seccomp") + 1] == "15"
    assert 15 in FDS.all()
    no_filter = ChildFds(status_w=10, block_r=11, passwd_r=12, group_r=13, hosts_r=14)
    assert "--seccomp" not in build_command(_spec(), SandboxOptions(), no_filter, MERGED_USR)
    assert no_filter.all() == (10, 11, 12, 13, 14)


def test_sh_is_bound_after_usr_and_its_symlinks() -> None:
    sh = ("/usr/bin/bash", "/usr/bin/dash")
    args = _bwrap_part(build_command(_spec(), SandboxOptions(), FDS, MERGED_USR, sh))
    at = args.index("/usr/bin/bash") - 1
    assert args[at : at + 3] == ["--ro-bind", "/usr/bin/bash", "/usr/bin/dash"]
    assert args.index("/usr") < at and args.index("/bin") < at
    assert "/usr/bin/dash" not in build_command(_spec(), SandboxOptions(), FDS, MERGED_USR)


def _fake_root(tmp_path: Path, sh_link: str) -> Path:
    bin_dir = tmp_path / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    for exe in ("bash", "dash"):
        (bin_dir / exe).write_text("")
    (bin_dir / "sh").symlink_to(sh_link)
    return tmp_path


def test_sh_overlay_goes_over_what_the_hosts_link_resolves_to(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "dash")
    # A bind follows a symlink at its target: bind over dash itself, never over the host's link.
    assert sh_overlay("/usr/bin/bash", str(root)) == ("/usr/bin/bash", "/usr/bin/dash")
    assert sh_overlay("", str(root)) is None


def test_sh_overlay_is_nothing_when_sh_is_bash_already(tmp_path: Path) -> None:
    assert sh_overlay("/usr/bin/bash", str(_fake_root(tmp_path, "bash"))) is None


# ---------------------------------------------------------------------------------- rlimit


def _require_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and this test needs root")
        pytest.skip("needs root (a process of another uid)")


def test_set_nofile_lowers_another_uids_process_and_restores_the_thread() -> None:
    # Given a process of the unprivileged uid 65534, as the sandbox's init is
    _require_root()
    proc = subprocess.Popen(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
         "/usr/bin/sleep", "30"]
    )  # fmt: skip
    try:
        for _ in range(200):  # wait until setpriv has become uid 65534 and exec'd sleep
            status = Path(f"/proc/{proc.pid}/status").read_text()
            if status.startswith("Name:\tsleep") and "\nUid:\t65534" in status:
                break
            time.sleep(0.01)
        ids: list[object] = []

        def work() -> None:
            set_nofile(proc.pid, 1000)
            ids.extend([os.getresuid(), os.getresgid()])

        # When its descriptor limit is set from a thread of this (root) process
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        # Then the process has it (soft and hard) and the thread is root again
        with open(f"/proc/{proc.pid}/limits") as limits:
            line = next(ln for ln in limits if ln.startswith("Max open files"))
        assert line.split()[3:5] == ["1000", "1000"]
        assert ids == [(0, 0, 0), (0, 0, 0)]
    finally:
        proc.kill()
        proc.wait()


# -------------------------------------------------------------------------------- settings


def test_settings_default_to_the_options_defaults_and_read_their_env_vars() -> None:
    from lambent.settings import Settings

    defaults, options = Settings.from_env({}).sandbox, SandboxOptions()
    assert (defaults.seccomp, defaults.nofile_limit, defaults.bin_sh) == (
        options.seccomp, options.nofile_limit, options.bin_sh,
    )  # fmt: skip
    env = {"LAMBENT_SANDBOX_SECCOMP": "0", "LAMBENT_SANDBOX_NOFILE_LIMIT": "4096",
           "LAMBENT_SANDBOX_BIN_SH": ""}  # fmt: skip
    got = Settings.from_env(env).sandbox
    assert (got.seccomp, got.nofile_limit, got.bin_sh) == (False, 4096, "")
