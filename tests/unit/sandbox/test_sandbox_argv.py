"""The bwrap command line: namespaces, filesystem layout, handshake fds, privilege drop."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambent.sandbox import Limits, Mount, SandboxOptions, SandboxSpec
from lambent.sandbox._argv import (
    ChildFds,
    RootEntry,
    build_command,
    group_bytes,
    host_root_entries,
    hosts_bytes,
    passwd_bytes,
)

FDS = ChildFds(status_w=10, block_r=11, passwd_r=12, group_r=13, hosts_r=14)
MERGED_USR = (
    RootEntry("/bin", "usr/bin"),
    RootEntry("/sbin", "usr/sbin"),
    RootEntry("/lib", "usr/lib"),
    RootEntry("/lib64", "usr/lib64"),
)


def _spec(**overrides: object) -> SandboxSpec:
    values: dict[str, object] = {
        "sandbox_id": "sbx-1",
        "argv": ("/usr/bin/python3.11", "-m", "runtime"),
        "env": {"SECRET": "s3cr3t", "PATH": "/usr/bin"},
        "mounts": (Mount("/srv/code", "/var/task"), Mount("/srv/scratch", "/mnt/x", writable=True)),
        "tmp_size_mb": 512,
        "limits": Limits(memory_mb=128, cpu_millicores=1000, pids_max=64),
    }
    values.update(overrides)
    return SandboxSpec(**values)  # type: ignore[arg-type]


def _command(spec: SandboxSpec | None = None, options: SandboxOptions | None = None) -> list[str]:
    return build_command(spec or _spec(), options or SandboxOptions(), FDS, MERGED_USR)


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    """All (a, b) following each occurrence of a two-argument flag."""
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def _bwrap_part(argv: list[str]) -> list[str]:
    start = argv.index("/usr/bin/bwrap") + 1
    return argv[start : argv.index("--", start)]


def test_bwrap_runs_as_unprivileged_host_user_via_setpriv() -> None:
    argv = _command()
    assert argv[:6] == [
        "/usr/bin/setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        "/usr/bin/bwrap",
    ]


def test_command_follows_the_last_separator_verbatim() -> None:
    argv = _command()
    assert argv[-4:] == ["--", "/usr/bin/python3.11", "-m", "runtime"]


def test_all_namespaces_unshared_and_privileges_dropped() -> None:
    args = _bwrap_part(_command())
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                 "--new-session"):  # fmt: skip
        assert flag in args
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[args.index("--uid") + 1] == "993"
    assert args[args.index("--gid") + 1] == "990"
    assert args[args.index("--hostname") + 1] == "localhost"
    assert "--share-net" not in args


def test_environment_is_not_on_the_command_line() -> None:
    # Values such as credentials must not appear in the host's world-readable cmdline.
    argv = _command()
    assert "--setenv" not in argv
    assert not any("s3cr3t" in a for a in argv)


def test_filesystem_layout() -> None:
    args = _bwrap_part(_command())
    ro_binds = _pairs(args, "--ro-bind")
    assert ("/usr", "/usr") in ro_binds
    assert ("/srv/code", "/var/task") in ro_binds
    assert _pairs(args, "--bind") == [("/srv/scratch", "/mnt/x")]
    assert _pairs(args, "--symlink") == [(e.symlink_to, e.path) for e in MERGED_USR]
    assert args[args.index("--proc") + 1] == "/proc"
    assert args[args.index("--dev") + 1] == "/dev"
    # Nothing else of the host is bound
    sources = {src for src, _ in ro_binds + _pairs(args, "--bind")}
    assert sources == {"/usr", "/srv/code", "/srv/scratch"}
    for forbidden in ("/", "/home", "/root", "/work", "/tmp", "/var", "/var/lib"):
        assert forbidden not in sources


def test_etc_is_minimal_and_generated_files_are_readable() -> None:
    args = _bwrap_part(_command())
    try_binds = _pairs(args, "--ro-bind-try")
    assert [src for src, _ in try_binds] == list(SandboxOptions().etc_binds)
    assert all(src == dst and src.startswith("/etc/") for src, dst in try_binds)
    data = _pairs(args, "--ro-bind-data")
    assert data == [("12", "/etc/passwd"), ("13", "/etc/group"), ("14", "/etc/hosts")]
    # --perms must directly precede each --ro-bind-data, or the file is 0600
    for i, a in enumerate(args):
        if a == "--ro-bind-data":
            assert args[i - 2 : i] == ["--perms", "0444"]


def test_tmp_is_a_sized_world_writable_tmpfs() -> None:
    args = _bwrap_part(_command(_spec(tmp_size_mb=3)))
    i = args.index("--tmpfs")
    assert args[i + 1] == "/tmp"
    # --perms and --size apply to the next --tmpfs only, so they must come right before it
    assert args[i - 4 : i] == ["--perms", "1777", "--size", str(3 * 1024 * 1024)]


def test_root_is_remounted_read_only_after_all_mounts() -> None:
    args = _bwrap_part(_command())
    remount = args.index("--remount-ro")
    assert args[remount + 1] == "/"
    last_mount = max(i for i, a in enumerate(args) if a in ("--bind", "--ro-bind", "--tmpfs"))
    assert remount > last_mount


def test_handshake_fds_and_cwd() -> None:
    args = _bwrap_part(_command(_spec(cwd="/opt/app")))
    assert args[args.index("--json-status-fd") + 1] == "10"
    assert args[args.index("--block-fd") + 1] == "11"
    assert args[args.index("--chdir") + 1] == "/opt/app"


def test_custom_host_identity_and_binary_paths() -> None:
    options = SandboxOptions(
        bwrap_path="/opt/bwrap", setpriv_path="/opt/setpriv", host_uid=4000, host_gid=4001
    )
    argv = _command(options=options)
    assert argv[:3] == ["/opt/setpriv", "--reuid=4000", "--regid=4001"]
    assert argv[5] == "/opt/bwrap"


def test_passwd_and_group_name_the_sandbox_user() -> None:
    spec = _spec()
    options = SandboxOptions()
    passwd = passwd_bytes(spec, options).decode().splitlines()
    group = group_bytes(spec, options).decode().splitlines()
    assert "sbx_user1051:x:993:990::/tmp:/usr/sbin/nologin" in passwd
    assert "sbx_user1051:x:990:" in group
    assert passwd[0].startswith("root:x:0:0:")
    assert any(line.startswith("nobody:x:65534:") for line in passwd)


def test_hosts_resolves_localhost_and_hostname() -> None:
    assert hosts_bytes(_spec()).decode().splitlines()[0] == "127.0.0.1 localhost"
    custom = hosts_bytes(_spec(hostname="fn-host")).decode()
    assert custom.splitlines()[0] == "127.0.0.1 localhost fn-host"


def test_host_root_entries_mirror_symlinks_and_dirs(tmp_path: Path) -> None:
    # Given a host with merged /usr for bin and lib, but a real /lib64 directory
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "lib64").mkdir()
    # Then symlinks are recreated and directories bound
    assert host_root_entries(str(tmp_path)) == (
        RootEntry("/bin", "usr/bin"),
        RootEntry("/lib", "usr/lib"),
        RootEntry("/lib64", None),
    )


def test_real_root_dirs_are_bound_read_only() -> None:
    args = build_command(_spec(), SandboxOptions(), FDS, (RootEntry("/lib64", None),))
    assert ("/lib64", "/lib64") in _pairs(_bwrap_part(args), "--ro-bind")


@pytest.mark.parametrize("target", ["/", "/proc", "/usr", "/etc", "/tmp", "/dev/"])
def test_mounts_cannot_hide_the_sandbox_base(target: str) -> None:
    with pytest.raises(ValueError):
        Mount("/srv/code", target)
