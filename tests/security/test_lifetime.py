"""Nothing of a dead server keeps running, and its sandbox dir lives and dies with its data dir.

Threat: a server killed with SIGKILL (OOM killer, a crash, kill -9 of its process group) left
its frozen environments alive — cgroup v1 holds a SIGKILL pending while a task is frozen — until
a later start on the same data dir swept them (93 of them once); and every data dir's sandbox dir
(/var/lib/lambent/<id>, 126 MB after an hour) outlived its server and ``make clean``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Server, create_function, invoke_json, require_prerequisites
from lambent.platform import cgroup_prefix
from lambent.sandbox.orphans import find_sandbox_processes

QUICK = {"app.py": "def handler(e, c):\n    return 'ok'\n"}
SLEEPY = {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('s', 0))\n    return 'done'\n"}
GONE_WITHIN_S = 10.0


def stop_all(made: list[Server]) -> None:
    for srv in made:
        srv.stop(signal.SIGKILL) if srv.own_session else srv.stop()
        srv.cleanup()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    require_prerequisites()
    made: list[Server] = []
    yield made
    stop_all(made)


@pytest.fixture
def sandbox_root(servers: list[Server]) -> Iterator[Path]:
    """A private LAMBENT_SANDBOX_DIR_ROOT (world-traversable, as sandboxes need)."""
    root = Path(tempfile.mkdtemp(prefix="lambent-root-", dir="/var/tmp"))
    os.chmod(root, 0o711)
    yield root
    stop_all(servers)  # before the root goes (servers is torn down after this fixture)
    for d in root.iterdir():
        for pid in find_sandbox_processes(f"{d}/"):
            os.kill(pid, signal.SIGKILL)
    wait_until_gone(lambda: [r for srv in servers for r in reapers_of(srv.data_dir)])
    shutil.rmtree(root, ignore_errors=True)


def start(made: list[Server], data_dir: Path, root: Path | None = None, own_session: bool = False,
          **env: str) -> Server:
    if root is not None:
        # The default layout, <root>/lambent-<id>, instead of the harness's own temp dir.
        env.update(LAMBENT_SANDBOX_DIR_ROOT=str(root), LAMBENT_WORKER_SANDBOX_DIR="")
    srv = Server(data_dir, env_extra=env, own_session=own_session)
    made.append(srv)
    return srv.start()


def cgroup_dirs(data_dir: Path) -> list[str]:
    """Every cgroup directory (sandboxes and their parent) of the server owning ``data_dir``."""
    prefix = cgroup_prefix(data_dir)
    return [p for p in glob.glob(f"/sys/fs/cgroup/*/{prefix}") + glob.glob(f"/sys/fs/cgroup/*/{prefix}/*")
            + glob.glob(f"/sys/fs/cgroup/{prefix}") if os.path.isdir(p)]


def cgroup_tasks(data_dir: Path) -> set[int]:
    pids: set[int] = set()
    for d in cgroup_dirs(data_dir):
        try:
            pids |= {int(x) for x in Path(d, "cgroup.procs").read_text().split()}
        except OSError:
            continue
    return pids


def frozen_cgroups(data_dir: Path) -> int:
    prefix = cgroup_prefix(data_dir)
    return sum(Path(f).read_text().strip() == "FROZEN" for f in glob.glob(f"/sys/fs/cgroup/freezer/{prefix}/*/freezer.state"))


def start_time(pid: int) -> str | None:
    """A live process's start time (so a reused pid is not taken for it); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def reapers_of(data_dir: Path) -> list[int]:
    needle = f"--prefix\0{cgroup_prefix(data_dir)}\0".encode()
    found = []
    for cmd in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            data = Path(cmd).read_bytes()
        except OSError:
            continue
        if b"lambent.sandbox.reaper" in data and needle in data:
            found.append(int(cmd.split("/")[2]))
    return found


def working_in(directory: Path) -> list[int]:
    """Processes whose working directory is inside ``directory``."""
    found = []
    for cwd in glob.glob("/proc/[0-9]*/cwd"):
        try:
            if os.readlink(cwd).startswith(f"{directory}/"):
                found.append(int(cwd.split("/")[2]))
        except OSError:
            continue
    return found


def gone_after(pids: list[int]) -> Callable[[], list[Any]]:
    """For ``wait_until_gone``: which of ``pids`` still run. By pid, not command line: an exiting
    process's command line reads empty before its descriptors (and locks) are closed."""
    started = {pid: start_time(pid) for pid in pids}
    return lambda: [pid for pid, t in started.items() if t is not None and start_time(pid) == t]


def wait_until_gone(found: Callable[[], list[Any]], timeout_s: float = GONE_WITHIN_S) -> list[Any]:
    """Poll ``found`` until it returns nothing or ``timeout_s`` passed; returns its last answer."""
    deadline = time.monotonic() + timeout_s
    while (left := found()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def busy_invoke(lam: Any, name: str, seconds: float) -> threading.Thread:
    def run() -> None:
        try:
            invoke_json(lam, name, {"s": seconds})
        except Exception:  # noqa: BLE001 - the server is killed under it
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("kill", ["server", "process group"])
def test_sigkill_of_the_server_leaves_no_sandbox_running(servers: list[Server], tmp_path: Path, kill: str) -> None:
    # Given a server with idle, frozen environments of several functions and one in a long invoke
    srv = start(servers, tmp_path / "data", own_session=(kill == "process group"))
    lam = srv.client()
    quick = [create_function(lam, QUICK) for _ in range(3)]
    sleepy = create_function(lam, SLEEPY, Timeout=120)
    for name in quick:
        assert invoke_json(lam, name)[1] == "ok"
    invoke_json(lam, sleepy)  # a cold start first, so the long invoke below is running at once
    caller = busy_invoke(srv.client(), sleepy, 60)
    deadline = time.monotonic() + 10
    while frozen_cgroups(srv.data_dir) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert frozen_cgroups(srv.data_dir) >= 3, "the idle environments should be frozen"
    marker = f"{srv.sandbox_dir()}/"
    tasks = cgroup_tasks(srv.data_dir) | set(find_sandbox_processes(marker))
    assert len(tasks) >= 8, tasks  # an init and a runtime per environment, bwrap outside
    alive = {pid: start_time(pid) for pid in tasks}
    reapers = reapers_of(srv.data_dir)
    assert len(reapers) == 1, "a reaper should watch the server"
    reaping = gone_after(reapers)

    # When the server (or its whole process group) is SIGKILLed, and no server starts again
    assert srv.proc is not None
    if kill == "server":
        srv.proc.kill()
    else:
        os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    killed_at = time.monotonic()

    # Then within 10 s no process of its sandboxes is left, by cgroup or by marker, and its
    # cgroups (and the reaper) are gone
    def leftovers() -> list[Any]:
        still = [pid for pid, t in alive.items() if t is not None and start_time(pid) == t]
        return still + find_sandbox_processes(marker) + cgroup_dirs(srv.data_dir) + reaping()

    assert wait_until_gone(leftovers, GONE_WITHIN_S - (time.monotonic() - killed_at)) == []
    caller.join(timeout=10)
    assert "owner gone: killed" in srv.log()  # the reaper, not a successor, did it


def test_orderly_stop_leaves_nothing_under_the_sandbox_root(servers: list[Server], tmp_path: Path,
                                                            sandbox_root: Path) -> None:
    # Given a server using the default layout under a sandbox root, with code unpacked there
    srv = start(servers, tmp_path / "data", root=sandbox_root)
    lam = srv.client()
    name = create_function(lam, QUICK)
    assert invoke_json(lam, name)[1] == "ok"
    home = sandbox_root / cgroup_prefix(srv.data_dir)
    assert (home / "code").is_dir() and (home / "runtimes").is_dir()
    assert (srv.data_dir / "sandbox-dir").read_text().strip() == str(home)

    # When it stops in order
    assert srv.stop() in (0, -signal.SIGTERM)
    # Then its dir is renamed away at once, nothing of it works in there any more (its runtime
    # byte-compile helper is killed), and the dir is deleted (by its reaper, which then exits) soon
    assert not home.exists()
    assert working_in(sandbox_root) == []
    assert wait_until_gone(lambda: os.listdir(sandbox_root) + reapers_of(srv.data_dir)) == []

    # and the next start rebuilds the caches from the data dir: the function still runs
    srv.start()
    assert invoke_json(srv.client(), name)[1] == "ok"
    srv.stop()
    assert wait_until_gone(lambda: os.listdir(sandbox_root) + reapers_of(srv.data_dir)) == []


def test_a_deleted_data_dir_s_sandbox_dir_is_removed_at_any_server_s_next_start(
        servers: list[Server], tmp_path: Path, sandbox_root: Path) -> None:
    # Given a server that was killed (its sandbox dir stays, as a crash leaves it) and whose data
    # dir was then deleted
    old = start(servers, tmp_path / "old", root=sandbox_root)
    assert invoke_json(old.client(), create_function(old.client(), QUICK))[1] == "ok"
    orphan = sandbox_root / cgroup_prefix(old.data_dir)
    assert old.proc is not None
    reapers = reapers_of(old.data_dir)
    assert reapers
    old.proc.kill()
    old.proc.wait()
    assert wait_until_gone(gone_after(reapers)) == []  # it holds the dir until its sweep is over
    wait_until_gone(lambda: working_in(orphan))  # the byte-compile helper (see test_clean_… below)
    assert (orphan / "code").is_dir()
    shutil.rmtree(old.data_dir)
    # When a server of another data dir starts on the same root
    new = start(servers, tmp_path / "new", root=sandbox_root)
    # Then the orphan is gone and only the new server's own dir is there
    assert not orphan.exists()
    assert os.listdir(sandbox_root) == [cgroup_prefix(new.data_dir)]
    assert f"removed sandbox dir {orphan}: its data dir no longer exists" in new.log()


def test_a_live_server_s_sandbox_dir_is_never_removed_by_another(servers: list[Server], tmp_path: Path,
                                                                  sandbox_root: Path) -> None:
    # Given a running server whose data dir path no longer exists (moved away under it)
    live = start(servers, tmp_path / "live", root=sandbox_root)
    lam = live.client()
    name = create_function(lam, QUICK)
    assert invoke_json(lam, name)[1] == "ok"
    home = sandbox_root / cgroup_prefix(live.data_dir)
    moved = tmp_path / "moved"
    live.data_dir.rename(moved)
    try:
        # When another server starts on the same root
        other = start(servers, tmp_path / "other", root=sandbox_root)
        # Then the live server's dir is left alone and it keeps serving from it
        assert (home / "code").is_dir()
        assert "removed sandbox dir" not in other.log()
        assert invoke_json(lam, name)[1] == "ok"
    finally:
        moved.rename(live.data_dir)


def test_two_data_dirs_cannot_share_one_sandbox_dir(servers: list[Server], tmp_path: Path) -> None:
    # Given a running server
    first = start(servers, tmp_path / "first")
    # When a server of another data dir is pointed at the same sandbox dir
    second = Server(tmp_path / "second", env_extra={"LAMBENT_WORKER_SANDBOX_DIR": str(first.sandbox_dir())})
    servers.append(second)
    # Then it refuses to start, naming the owner, and the first one's dir is untouched
    with pytest.raises(RuntimeError, match="server exited early"):
        second.start(timeout_s=20)
    assert f"sandbox dir belongs to data dir {first.data_dir.resolve()}" in second.log()
    assert (first.sandbox_dir() / "runtimes").is_dir()


def test_clean_removes_a_stopped_data_dir_s_sandbox_dir_and_refuses_a_running_one(
        servers: list[Server], tmp_path: Path, sandbox_root: Path) -> None:
    clean = [sys.executable, "-m", "lambent.sandbox.sandbox_dir", "remove"]
    srv = start(servers, tmp_path / "data", root=sandbox_root)
    home = sandbox_root / cgroup_prefix(srv.data_dir)
    # While the server runs, its dir is in use: refused, exit 1
    out = subprocess.run([*clean, str(srv.data_dir)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert f"sandbox dir is in use: stop its server first; path={home}" in out.stderr
    assert home.is_dir()
    # After a SIGKILL (the dir stays for the next start), once the reaper is done: removed
    assert srv.proc is not None
    reapers = reapers_of(srv.data_dir)
    assert reapers
    srv.proc.kill()
    srv.proc.wait()
    assert wait_until_gone(gone_after(reapers)) == []
    # The server's background byte-compile of its Python runtime (control/runtimes.py) outlives
    # it by a few seconds and writes into the dir meanwhile: not a sandbox, not the reaper's.
    wait_until_gone(lambda: working_in(home))
    out = subprocess.run([*clean, str(srv.data_dir)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"removed {home}"
    assert os.listdir(sandbox_root) == []


def test_make_clean_removes_the_sandbox_dir_through_the_data_dir_record() -> None:
    # `make clean` must not hard-code the path: it asks the data dir (dry run only: the real
    # target deletes the virtualenv)
    out = subprocess.run(["make", "-n", "clean"], capture_output=True, text=True, timeout=30,
                         cwd=Path(__file__).resolve().parents[2])
    assert "-m lambent.sandbox.sandbox_dir remove .lambent" in out.stdout
    assert "/var/lib/lambent" not in out.stdout
