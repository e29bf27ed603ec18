"""What sandboxed code can see and who it is: identity, filesystem, processes, network, env.

Negative tests assert the exact refusal (errno), not just "something failed".
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from lambent.sandbox import Mount, Sandbox, SandboxOptions
from lambent.sandbox._argv import host_root_entries
from lambent.sandbox.spec import DEFAULT_ETC_BINDS

if TYPE_CHECKING:
    from conftest import SandboxKit


@pytest.fixture
def host_dir() -> Iterator[str]:
    """A host directory the unprivileged bwrap can traverse (pytest's tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix="lambent-sbx-it-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _status_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


async def test_runs_as_993_inside_and_nobody_on_the_host(kit: SandboxKit) -> None:
    # Given a sandbox that reports its identity, then waits
    sandbox = await kit.python(
        "import os, pwd, grp\n"
        "print(os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name,"
        " grp.getgrgid(os.getgid()).gr_name, os.getgroups(), flush=True)\n"
        "import time; time.sleep(30)\n"
    )
    text = await kit.read_until(sandbox, "\n")
    # Then inside it is uid 993 / gid 990, named like Lambda's sandbox user
    assert text.split(maxsplit=4)[:4] == ["993", "990", "sbx_user1051", "sbx_user1051"]
    # And on the host the init and the command run as nobody (65534), not as root
    assert _status_uid(sandbox.pid) == 65534
    with open(f"/proc/{sandbox.pid}/task/{sandbox.pid}/children", encoding="ascii") as f:
        command_pid = int(f.read().split()[0])
    assert _status_uid(command_pid) == 65534
    assert command_pid in (sandbox.cgroup.pids() if sandbox.cgroup else set())


async def test_filesystem_shows_only_the_sandbox_base(kit: SandboxKit, host_dir: str) -> None:
    # Given a file in the host's /tmp and code mounted at /var/task
    host_secret = tempfile.NamedTemporaryFile(dir="/tmp", prefix="host-only-", delete=False)
    host_secret.close()
    try:
        sandbox = await kit.python(
            "import os, json\n"
            "r = {'root': sorted(os.listdir('/')), 'etc': sorted(os.listdir('/etc')),\n"
            "     'tmp': os.listdir('/tmp'),\n"
            f"     'exists': {{p: os.path.exists(p) for p in ['/work', '/root', '/home',"
            f" '/var/lib', '/etc/shadow', '/old_root', '/sys', {host_secret.name!r}]}}}}\n"
            "for key, path in (('usr_w', '/usr/x'), ('root_w', '/x'), ('task_w', '/var/task/x')):\n"
            "    try:\n"
            "        open(path, 'w')\n"
            "    except OSError as e:\n"
            "        r[key] = e.errno\n"
            "print(json.dumps(r))\n",
            mounts=(Mount(host_dir, "/var/task"),),
            cwd="/var/task",
        )
        result = json.loads(await kit.output(sandbox))
    finally:
        os.unlink(host_secret.name)
    expected_root = {e.path.lstrip("/") for e in host_root_entries()} | {
        "dev", "etc", "proc", "tmp", "usr", "var",
    }  # fmt: skip
    assert set(result["root"]) == expected_root
    expected_etc = {p.removeprefix("/etc/") for p in DEFAULT_ETC_BINDS if os.path.exists(p)}
    assert set(result["etc"]) == expected_etc | {"passwd", "group", "hosts"}
    assert result["tmp"] == []
    assert not any(result["exists"].values()), result["exists"]
    # Read-only: /usr, the root itself, and read-only mounts
    assert result["usr_w"] == errno.EROFS
    assert result["root_w"] == errno.EROFS
    assert result["task_w"] == errno.EROFS


async def test_root_only_host_files_stay_unreadable(kit: SandboxKit, host_dir: str) -> None:
    # Given a mounted directory with a root-owned 0600 file next to a public one
    secret = os.path.join(host_dir, "secret")
    public = os.path.join(host_dir, "public")
    for path, mode in ((secret, 0o600), (public, 0o644)):
        with open(path, "w") as f:
            f.write("data")
        os.chmod(path, mode)
    # When the sandbox reads both
    out, status = await kit.run(
        ("/usr/bin/python3.11", "-c",
         "import errno\n"
         "print(open('/var/task/public').read())\n"
         "try:\n    open('/var/task/secret')\nexcept PermissionError as e:\n    print(e.errno)\n"),
        mounts=(Mount(host_dir, "/var/task"),),
    )  # fmt: skip
    # Then the sandbox user, being nobody on the host, gets EACCES for the root-only one
    assert status.exit_code == 0
    assert out.split() == ["data", str(errno.EACCES)]


async def test_only_its_own_processes_are_visible(kit: SandboxKit) -> None:
    out, status = await kit.run(
        ("/usr/bin/python3.11", "-c",
         "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),"
         " os.getpid(), open('/proc/1/cmdline').read().split('\\0')[0])"),
    )  # fmt: skip
    assert status.exit_code == 0
    # pid 1 is bwrap's init, the command is pid 2; nothing of the host
    assert out.strip() == "[1, 2] 2 /usr/bin/bwrap"


async def test_environment_is_exactly_the_spec(kit: SandboxKit) -> None:
    # Given a host environment with variables the sandbox must not inherit
    os.environ["LAMBENT_HOST_ONLY"] = "leak"
    try:
        out, _ = await kit.run(
            ("/usr/bin/env",),  # not python: it adds LC_CTYPE itself (PEP 538)
            env={"PATH": "/usr/bin", "AWS_REGION": "eu-west-1", "EMPTY": ""},
            cwd="/tmp",
        )
    finally:
        del os.environ["LAMBENT_HOST_ONLY"]
    # Then only the spec's variables are set, plus PWD which bwrap always exports
    assert sorted(out.splitlines()) == [
        "AWS_REGION=eu-west-1", "EMPTY=", "PATH=/usr/bin", "PWD=/tmp",
    ]  # fmt: skip


async def test_network_is_loopback_only_and_host_unreachable(kit: SandboxKit) -> None:
    # Given a server listening on the host's loopback
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        out, status = await kit.run(
            ("/usr/bin/python3.11", "-c",
             "import socket, errno\n"
             "print([n for _, n in socket.if_nameindex()])\n"
             "try:\n"
             f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
             "    print('connected')\n"
             "except OSError as e:\n"
             "    print(e.errno)\n"
             "try:\n"
             "    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
             "except OSError as e:\n"
             "    print(e.errno)\n"),
            listen_port=None,
        )  # fmt: skip
    finally:
        server.close()
    lines = out.split("\n")
    assert status.exit_code == 0
    assert lines[0] == "['lo']"
    assert lines[1] == str(errno.ECONNREFUSED)  # the host's 127.0.0.1 is another namespace
    assert lines[2] == str(errno.ENETUNREACH)  # no route out at all


async def test_python_and_node_run_inside(kit: SandboxKit) -> None:
    py_out, py_status = await kit.run(
        ("/usr/bin/python3.11", "-c",
         "import ssl, sqlite3, json, socket; print('py', socket.gethostname(),"
         " socket.gethostbyname('localhost'))"),
    )  # fmt: skip
    assert py_status.exit_code == 0, py_out
    assert py_out.strip() == "py localhost 127.0.0.1"
    if not os.path.exists("/usr/bin/node"):
        pytest.skip("node is not installed")
    node_out, node_status = await kit.run(
        ("/usr/bin/node", "-e",
         "const os = require('os'); console.log('node', os.userInfo().username, 6 * 7)"),
    )  # fmt: skip
    assert node_status.exit_code == 0, node_out
    assert node_out.strip() == "node sbx_user1051 42"


async def test_user_namespaces_cannot_be_nested(kit: SandboxKit) -> None:
    argv = ("/usr/bin/python3.11", "-c",
            "import ctypes\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "print('created' if libc.unshare(0x10000000) == 0 else ctypes.get_errno())")  # fmt: skip
    out, _ = await kit.run(argv)
    # The syscall filter refuses unshare first (EPERM, as Docker's profile does) ...
    assert out.strip() == str(errno.EPERM)
    # ... and without it, bwrap --disable-userns sets max_user_namespaces to 1 inside: ENOSPC
    unfiltered = await Sandbox.start(kit.spec(argv), kit.cgroups, SandboxOptions(seccomp=False))
    kit.started.append(unfiltered)
    assert (await kit.output(unfiltered)).strip() == str(errno.ENOSPC)


async def test_stdout_and_stderr_share_one_pipe_and_stdin_is_empty(kit: SandboxKit) -> None:
    sandbox = await kit.start(("/bin/sh", "-c", "echo out; echo err >&2; cat; echo done"))
    assert not os.get_blocking(sandbox.output_fd)
    out = await kit.output(sandbox)
    status = await asyncio.wait_for(sandbox.wait(), 10)
    assert status.exit_code == 0
    assert out == "out\nerr\ndone\n"


@pytest.mark.parametrize(
    ("script", "exit_code", "signal"),
    [("exit 0", 0, None), ("exit 3", 3, None), ("kill -TERM $$", None, 15),
     ("kill -9 $$", None, 9)],
)  # fmt: skip
async def test_exit_status(
    kit: SandboxKit, script: str, exit_code: int | None, signal: int | None
) -> None:
    sandbox = await kit.start(("/bin/sh", "-c", script))
    status = await asyncio.wait_for(sandbox.wait(), 10)
    assert (status.exit_code, status.signal, status.oom_killed) == (exit_code, signal, False)
