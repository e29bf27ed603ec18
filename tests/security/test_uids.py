"""One host uid per execution environment, private code trees, private command lines.

The attacker is a process on the host: another environment's uid, or ``nobody`` (what every
sandbox ran as before). It is played by ``setpriv`` + the host's python, so each refusal is the
exact errno the kernel gives. The server is real; sandbox processes are found the way the
orphan sweep finds them (bwrap with ``LAMBENT_SANDBOX_OWNER=<sandbox dir>/`` in its environment)
and attributed to their function by ``AWS_LAMBDA_FUNCTION_NAME`` in that same environment.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import errno
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import Server, create_function, invoke_json

from lambent.sandbox.uids import read_acl_users
from lambent.settings import SandboxSettings

NOBODY = 65534
DEFAULTS = SandboxSettings()
LOCK_DIR = Path(DEFAULTS.uid_lock_dir)

APP = {"app.py": """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"uid": os.getuid(), "secret": os.environ.get("SECRET"),
            "owner": os.environ.get("LAMBENT_SANDBOX_OWNER")}
"""}

#: Run by the attacker: prints the errno of each attempt (0 when it succeeded).
_PROBE = """
import os, sys
for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        if kind == "ls":
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        print(0)
    except OSError as exc:
        print(exc.errno)
"""


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    uid: int
    cmdline: list[str]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _proc(pid: int) -> Proc | None:
    status = _read(f"/proc/{pid}/status").decode()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "Uid" not in fields:
        return None
    cmdline = [a.decode(errors="replace") for a in _read(f"/proc/{pid}/cmdline").split(b"\0") if a]
    return Proc(pid, int(fields["PPid"]), int(fields["Uid"].split()[0]), cmdline)


def _runs_as(uid: int) -> bool:
    """Whether any process on the host runs as ``uid`` (real, effective or saved)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                line = next(x for x in f if x.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if str(uid) in line.split()[1:4]:
            return True
    return False


def _sandbox_roots(server: Server, name: str) -> list[Proc]:
    """The outer bwrap of every live environment of ``name`` on ``server``."""
    owner = f"LAMBENT_SANDBOX_OWNER={server.sandbox_dir()}/".encode()
    fn = f"AWS_LAMBDA_FUNCTION_NAME={name}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        cmdline = _read(f"/proc/{entry}/cmdline")
        if os.path.basename(cmdline.split(b"\0", 1)[0]) != b"bwrap":
            continue
        environ = _read(f"/proc/{entry}/environ").split(b"\0")
        if owner in environ and fn in environ:
            proc = _proc(int(entry))
            if proc is not None and os.path.basename(_read(f"/proc/{proc.ppid}/comm").strip()) != b"bwrap":
                found.append(proc)
    return found


def _tree(pid: int) -> list[Proc]:
    """``pid`` and all its descendants."""
    out: list[Proc] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        proc = _proc(p)
        if proc is None:
            continue
        out.append(proc)
        for task in os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else []:
            todo += [int(c) for c in _read(f"/proc/{p}/task/{task}/children").split()]
    return out


def _as(uid: int, *attempts: tuple[str, str]) -> list[int]:
    """The errno of each (kind, path) attempt made by a host process running as ``uid``."""
    argv = [a for pair in attempts for a in pair]
    result = subprocess.run(
        ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
         "/usr/bin/python3", "-I", "-c", _PROBE, *argv],
        capture_output=True, timeout=30, check=True, cwd="/",
    )  # fmt: skip
    return [int(x) for x in result.stdout.split()]


def _code_tree(server: Server, lam: Any, name: str) -> Path:
    sha = base64.b64decode(lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]).hex()
    return server.sandbox_dir() / "code" / sha


def _warm(lam: Any, name: str, **event: Any) -> dict[str, Any]:
    resp, out = invoke_json(lam, name, event)
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp, out
    assert isinstance(out, dict)
    return out


def _private_range(size: int) -> dict[str, str]:
    """A range of its own for a test server (below the default one, clear of real users)."""
    start = 1_900_000_000 + random.randrange(0, 90_000_000 // 64) * 64
    return {"LAMBENT_SANDBOX_UID_RANGE_START": str(start), "LAMBENT_SANDBOX_UID_RANGE_SIZE": str(size)}


# ------------------------------------------------------------------------------------ tests


def test_each_environment_runs_as_its_own_host_uid(lam: Any, server: Server) -> None:
    # Given two functions, each with a warm environment
    a = create_function(lam, APP)
    b = create_function(lam, APP)
    assert _warm(lam, a)["uid"] == 993  # inside, the sandbox user as always
    _warm(lam, b)
    (root_a,) = _sandbox_roots(server, a)
    (root_b,) = _sandbox_roots(server, b)
    # Then each runs as a distinct host uid of the configured range, never as nobody or root
    first, last = DEFAULTS.uid_range_start, DEFAULTS.uid_range_start + DEFAULTS.uid_range_size - 1
    assert root_a.uid != root_b.uid
    for root in (root_a, root_b):
        assert first <= root.uid <= last
        # every process of the environment, on the host, is that uid
        assert {p.uid for p in _tree(root.pid)} == {root.uid}
        # and the uid is locked host-wide for as long as the environment lives
        assert (LOCK_DIR / str(root.uid)).exists()


def test_environment_variables_are_unreadable_by_other_uids(lam: Any, server: Server) -> None:
    # Given a function whose environment holds a secret, and another function's environment
    victim = create_function(lam, APP, Environment={"Variables": {"SECRET": "hunter2"}})
    other = create_function(lam, APP)
    assert _warm(lam, victim)["secret"] == "hunter2"
    _warm(lam, other)
    (root,) = _sandbox_roots(server, victim)
    (attacker,) = _sandbox_roots(server, other)
    pids = [p.pid for p in _tree(root.pid)]
    assert len(pids) >= 3  # bwrap, its init, the runtime
    targets = [("read", f"/proc/{pid}/environ") for pid in pids]
    # When another environment's uid, or nobody, reads them on the host: EACCES for each
    assert _as(attacker.uid, *targets) == [errno.EACCES] * len(pids)
    assert _as(NOBODY, *targets) == [errno.EACCES] * len(pids)
    # (root reads them: the secret is really there)
    assert any(b"SECRET=hunter2" in _read(f"/proc/{pid}/environ") for pid in pids)


def test_code_trees_are_readable_by_their_own_environments_only(lam: Any, server: Server) -> None:
    # Given a function not invoked yet, and another one with a warm environment
    victim = create_function(lam, {**APP, "secret.py": "KEY = 'k'\n"})
    other = create_function(lam, APP)
    _warm(lam, other)
    (attacker,) = _sandbox_roots(server, other)
    tree = _code_tree(server, lam, victim)
    attempts = (("ls", str(tree)), ("read", str(tree / "secret.py")))
    # Then before any environment mounts it, nobody and other sandboxes' uids get EACCES
    assert _as(NOBODY, *attempts) == [errno.EACCES, errno.EACCES]
    assert _as(attacker.uid, *attempts) == [errno.EACCES, errno.EACCES]
    # When the victim runs (its own environment reads its code fine)
    assert _warm(lam, victim)["uid"] == 993
    (own,) = _sandbox_roots(server, victim)
    # Then only the victim's environment uid may read it
    assert read_acl_users(str(tree)) == {own.uid: 0o5}
    assert _as(own.uid, *attempts) == [0, 0]
    assert _as(NOBODY, *attempts) == [errno.EACCES, errno.EACCES]
    assert _as(attacker.uid, *attempts) == [errno.EACCES, errno.EACCES]
    # And the runtime (public code, shared) stays readable by every sandbox uid
    runtime = server.sandbox_dir() / "runtimes" / "python" / "bootstrap.py"
    assert _as(attacker.uid, ("read", str(runtime))) == [0]


def test_command_lines_name_no_path_and_no_function(lam: Any, server: Server) -> None:
    # Given a warm environment
    name = create_function(lam, APP)
    out = _warm(lam, name)
    (root,) = _sandbox_roots(server, name)
    procs = _tree(root.pid)
    assert len(procs) >= 3
    sandbox_dir = str(server.sandbox_dir())
    # Then no process of it shows the sandbox dir, the code tree or the function in its cmdline
    for proc in procs:
        line = " ".join(proc.cmdline)
        assert sandbox_dir not in line, line
        assert name not in line, line
        assert "/code/" not in line, line
    # bwrap reads its options from a descriptor
    assert root.cmdline[root.cmdline.index("/usr/bin/bwrap") + 1] == "--args"
    # And the owner marker the orphan sweep matches on is not in the function's environment
    assert out["owner"] is None


def test_exhausted_uid_range_refuses_new_environments(fresh_server: Any) -> None:
    # Given a server whose range has a single uid, held by a warm environment
    srv = fresh_server(**_private_range(1))
    lam = srv.client()
    first = create_function(lam, APP)
    second = create_function(lam, APP)
    _warm(lam, first)
    # When another function needs an environment
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=second, Payload=b"{}")
    # Then it is throttled as AWS throttles, with a log line naming the cause
    err = caught.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Error"]["Message"] == "Rate Exceeded."
    assert err["Reason"] == "ConcurrentInvocationLimitExceeded"
    # while the warm environment keeps serving
    _warm(lam, first)


def test_uid_locks_and_grants_do_not_outlive_environments(fresh_server: Any) -> None:
    # Given a server with a range of its own and one warm environment
    env = _private_range(64)
    start = int(env["LAMBENT_SANDBOX_UID_RANGE_START"])
    ours = {str(u) for u in range(start, start + 64)}
    srv = fresh_server(**env, LAMBENT_WORKER_IDLE_TTL_S="0.5")
    lam = srv.client()
    name = create_function(lam, APP)
    _warm(lam, name)
    tree = _code_tree(srv, lam, name)
    held = ours & set(os.listdir(LOCK_DIR))
    assert len(held) == 1 and set(map(str, read_acl_users(str(tree)))) == held
    # When its environment is reaped (idle TTL), the lock file and the grant go with it
    deadline = time.monotonic() + 15
    while ours & set(os.listdir(LOCK_DIR)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ours & set(os.listdir(LOCK_DIR))
    assert read_acl_users(str(tree)) == {}
    # And after a graceful stop with a live environment nothing is left either
    _warm(lam, name)
    assert ours & set(os.listdir(LOCK_DIR))
    srv.stop()
    assert not ours & set(os.listdir(LOCK_DIR))


def test_a_killed_servers_uids_are_released_with_their_grants(fresh_server: Any) -> None:
    # Given a server killed with SIGKILL while an environment held a uid and a code-tree grant
    env = _private_range(64)
    start = int(env["LAMBENT_SANDBOX_UID_RANGE_START"])
    ours = {str(u) for u in range(start, start + 64)}
    srv = fresh_server(**env)
    lam = srv.client()
    name = create_function(lam, APP)
    _warm(lam, name)
    tree = _code_tree(srv, lam, name)
    (held,) = ours & set(os.listdir(LOCK_DIR))
    assert srv.proc is not None
    srv.proc.kill()
    srv.proc.wait()
    # The lock file stays behind, recording the grant
    assert (LOCK_DIR / held).read_bytes() == b"#held\0" + os.fsencode(str(tree)) + b"\0"
    # and the killed server's reaper ends its sandboxes (within its 10 s promise); until then the
    # uid is rightly not handed out again, as processes still run as it
    deadline = time.monotonic() + 10
    while _runs_as(int(held)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _runs_as(int(held))
    # When any server starts on this host (here: another data dir)
    fresh_server()
    # Then the dead server's uid is free again and its grant revoked
    assert not (LOCK_DIR / held).exists()
    if tree.exists():  # the killed server's sandbox dir may have been swept with it
        assert read_acl_users(str(tree)) == {}


def test_a_function_cannot_pose_as_another_owner(lam: Any, server: Server) -> None:
    # Given a function that sets the owner marker's name itself, naming another server's dir
    fake = "/var/lib/lambent/lambent-000000000000/"
    name = create_function(lam, APP, Environment={"Variables": {"LAMBENT_SANDBOX_OWNER": fake}})
    # Then it sees its own value, as any variable it sets
    assert _warm(lam, name)["owner"] == fake
    # while its sandbox processes carry this server's marker only (the orphan sweep's match)
    (root,) = _sandbox_roots(server, name)
    environ = _read(f"/proc/{root.pid}/environ").split(b"\0")
    assert f"LAMBENT_SANDBOX_OWNER={fake}".encode() not in environ
    assert fake not in " ".join(root.cmdline)


async def test_a_failed_start_gives_its_uid_and_grant_back(tmp_path: Path) -> None:
    from harness import require_prerequisites

    from lambent.sandbox import CgroupManager, Limits, Mount, Sandbox, SandboxError, SandboxOptions, SandboxSpec
    from lambent.sandbox.uids import UidAllocator, UidRange

    require_prerequisites()
    # Given a private code tree and a spec bwrap cannot set up (a mount target under /usr,
    # which is read-only by then)
    top = Path(tempfile.mkdtemp(prefix="lambent-uids-st-", dir="/var/tmp"))
    os.chmod(top, 0o711)
    code = top / "code"
    code.mkdir(mode=0o755)
    lock_dir = tmp_path / "uids"
    r = UidRange(int(_private_range(4)["LAMBENT_SANDBOX_UID_RANGE_START"]), 4)
    options = SandboxOptions(uids=UidAllocator(r, str(lock_dir)), owner=f"{top}/")
    cgroups = CgroupManager(prefix=f"lambent-uids-st-{os.getpid()}")
    spec = SandboxSpec(
        sandbox_id="uids-failed-start", argv=("/bin/true",), env={"PATH": "/usr/bin"},
        mounts=(Mount(str(code), "/usr/share/lambent-nope/x", private=True),), tmp_size_mb=16,
        limits=Limits(memory_mb=64, cpu_millicores=500, pids_max=16), cwd="/",
    )
    try:
        # When the start fails. bwrap sets up the mounts while start() moves its init into the
        # cgroup, so the failure shows either in start() (bwrap exited before the init was
        # released) or, when the release wins that race (a loaded machine), as the sandbox's
        # exit right after it; the uid must come back either way.
        try:
            failed = await Sandbox.start(spec, cgroups, options)
        except SandboxError:
            pass
        else:
            try:
                status = await asyncio.wait_for(failed.wait(), 30)
                assert status.exit_code not in (None, 0)
            finally:
                await failed.destroy()
        # Then no uid is held, no lock file is left, and the tree is root-only again
        assert options.uids is not None and options.uids.in_use == 0
        assert [n for n in os.listdir(lock_dir) if n.isdigit()] == []
        assert read_acl_users(str(code)) == {}
        assert os.stat(code).st_mode & 0o077 == 0
        # And a good spec starts and runs as a uid of the range
        ok = dataclasses.replace(spec, sandbox_id="uids-good-start", mounts=(Mount(str(code), "/var/task", private=True),))
        sandbox = await Sandbox.start(ok, cgroups, options)
        try:
            init = _proc(sandbox.pid)
            assert init is not None and r.start <= init.uid <= r.end
            assert read_acl_users(str(code)) == {init.uid: 0o5}
        finally:
            await sandbox.destroy()
        assert read_acl_users(str(code)) == {}
        assert [n for n in os.listdir(lock_dir) if n.isdigit()] == []
    finally:
        cgroups.cleanup_stale()
        cgroups.remove_parents()
        shutil.rmtree(top, ignore_errors=True)


INOTIFY_HOG = {"app.py": """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
HELD = []  # kept while the environment lives (frozen between invocations)
def handler(event, context):
    if event.get("hog"):
        while len(HELD) < 1000:
            fd = libc.inotify_init1(0)
            if fd < 0:
                return {"held": len(HELD), "errno": ctypes.get_errno()}
            HELD.append(fd)
        return {"held": len(HELD), "errno": 0}
    fd = libc.inotify_init1(0)
    err = ctypes.get_errno() if fd < 0 else 0
    if fd >= 0:
        os.close(fd)
    return {"errno": err}
"""}


def test_one_functions_inotify_instances_do_not_exhaust_anothers(lam: Any) -> None:
    # Given a function that holds as many inotify instances as its uid may have
    # (fs.inotify.max_user_instances, counted per host uid)
    with open("/proc/sys/fs/inotify/max_user_instances") as f:
        limit = int(f.read())
    hog = create_function(lam, INOTIFY_HOG)
    other = create_function(lam, INOTIFY_HOG)
    out = _warm(lam, hog, hog=True)
    assert out == {"held": limit, "errno": errno.EMFILE}
    # Then another function still gets one (they shared uid 65534's quota before)
    assert _warm(lam, other) == {"errno": 0}
    # while the hog's own quota stays exhausted
    assert _warm(lam, hog) == {"errno": errno.EMFILE}
