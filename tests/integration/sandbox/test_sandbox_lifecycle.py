"""Start, freeze/thaw, the listener handshake, exit, destroy, host death and start failures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lambent.sandbox import (
    CgroupManager,
    Mount,
    Sandbox,
    SandboxError,
    SandboxOptions,
)

if TYPE_CHECKING:
    from conftest import SandboxKit

HERE = Path(__file__).parent
COUNTER = (
    "import time\n"
    "i = 0\n"
    "while True:\n"
    "    print(i, flush=True)\n"
    "    i += 1\n"
    "    time.sleep(0.02)\n"
)


def _freezer_state(sandbox: Sandbox) -> str:
    assert sandbox.cgroup is not None
    freezer = next(p for p in sandbox.cgroup.paths if "/freezer/" in p)
    return Path(freezer, "freezer.state").read_text().strip()


def _last_number(text: str) -> int:
    return int(text.split()[-1])


async def test_freeze_stops_the_process_and_thaw_resumes_it(kit: SandboxKit) -> None:
    # Given a process printing a counter every 20 ms
    sandbox = await kit.python(COUNTER)
    before = _last_number(await kit.read_until(sandbox, "3\n"))
    # When it is frozen (the call itself only requests the freeze and returns at once)
    t0 = time.perf_counter()
    sandbox.freeze()
    freeze_call_s = time.perf_counter() - t0
    sandbox.freeze()  # idempotent
    async with asyncio.timeout(5):
        while _freezer_state(sandbox) != "FROZEN":
            await asyncio.sleep(0.005)
    # drain what was printed before the freeze completed
    drained = ""
    with pytest.raises(BlockingIOError):
        while True:
            drained += os.read(sandbox.output_fd, 65536).decode()
    last_before_freeze = _last_number(drained) if drained.strip() else before
    # Then nothing is printed while frozen
    await asyncio.sleep(0.3)
    with pytest.raises(BlockingIOError):
        os.read(sandbox.output_fd, 65536)
    assert freeze_call_s < 0.005
    # When it is thawed, the counter continues where it stopped
    sandbox.thaw()
    resumed = await kit.read_until(sandbox, "\n")
    assert int(resumed.split()[0]) == last_before_freeze + 1
    assert _freezer_state(sandbox) == "THAWED"


async def test_thaw_works_while_still_freezing(kit: SandboxKit) -> None:
    sandbox = await kit.python(COUNTER)
    await kit.read_until(sandbox, "1\n")
    sandbox.freeze()
    sandbox.thaw()  # immediately, possibly still FREEZING
    text = await kit.read_until(sandbox, "\n")
    assert text.strip()
    assert _freezer_state(sandbox) == "THAWED"


async def test_listener_in_the_sandbox_talks_to_the_host(kit: SandboxKit) -> None:
    # Given a sandbox whose code connects to 127.0.0.1:9001
    sandbox = await kit.python(
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 9001), timeout=5)\n"
        "s.sendall(b'ping')\n"
        "print(s.recv(16).decode(), flush=True)\n",
    )
    assert sandbox.listener is not None
    assert sandbox.listener.getsockname() == ("127.0.0.1", 9001)
    assert not sandbox.listener.getblocking()
    # When the host accepts on the listener from its event loop
    loop = asyncio.get_running_loop()
    conn, _ = await asyncio.wait_for(loop.sock_accept(sandbox.listener), 10)
    with conn:
        request = await asyncio.wait_for(loop.sock_recv(conn, 16), 5)
        await loop.sock_sendall(conn, b"pong")
    # Then bytes flowed both ways
    assert request == b"ping"
    # And every thread of the host process is back in the host's network namespace
    own = os.stat("/proc/self/ns/net").st_ino
    for task in os.listdir("/proc/self/task"):
        assert os.stat(f"/proc/self/task/{task}/ns/net").st_ino == own
    assert (await kit.output(sandbox)).strip() == "pong"
    assert (await sandbox.wait()).exit_code == 0


async def test_listener_is_not_reachable_from_the_host(kit: SandboxKit) -> None:
    sandbox = await kit.start(("/bin/sleep", "30"))
    assert sandbox.listener is not None
    probe = socket.socket()
    probe.settimeout(1)
    try:
        probe.connect(("127.0.0.1", 9001))
    except ConnectionRefusedError:
        pass  # nothing listens on the host's 127.0.0.1:9001
    else:
        # Something else on the host owns that port; it must not be our listener.
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.sock_accept(sandbox.listener), 0.3)
    finally:
        probe.close()


async def test_many_sandboxes_listen_on_the_same_port(kit: SandboxKit) -> None:
    # Three listening sockets on 127.0.0.1:9001 can only exist in three network namespaces.
    sandboxes = [await kit.start(("/bin/sleep", "30")) for _ in range(3)]
    assert all(s.listener is not None for s in sandboxes)
    namespaces = {os.stat(f"/proc/{s.pid}/ns/net").st_ino for s in sandboxes}
    assert len(namespaces) == 3
    assert os.stat("/proc/self/ns/net").st_ino not in namespaces


async def test_wait_is_shared_by_concurrent_callers(kit: SandboxKit) -> None:
    sandbox = await kit.start(("/bin/sh", "-c", "sleep 0.2; exit 7"))
    statuses = await asyncio.wait_for(asyncio.gather(*(sandbox.wait() for _ in range(5))), 10)
    assert {(s.exit_code, s.signal) for s in statuses} == {(7, None)}
    assert sandbox.exited
    assert (await sandbox.wait()).exit_code == 7


async def test_destroy_kills_everything_and_removes_the_cgroup(kit: SandboxKit) -> None:
    # Given a sandbox with a background process and a frozen cgroup
    sandbox = await kit.start(("/bin/sh", "-c", "sleep 1000 & echo ready; wait"))
    await kit.read_until(sandbox, "ready")
    assert sandbox.cgroup is not None
    async with asyncio.timeout(5):
        while len(sandbox.cgroup.pids()) < 3:
            await asyncio.sleep(0.01)
    members = sandbox.cgroup.pids()
    paths = sandbox.cgroup.paths
    listener = sandbox.listener
    sandbox.freeze()
    # When it is destroyed
    t0 = time.perf_counter()
    await sandbox.destroy()
    destroy_s = time.perf_counter() - t0
    # Then no process, no cgroup directory and no listener remain
    assert not [pid for pid in members if os.path.exists(f"/proc/{pid}")]
    assert not [p for p in paths if os.path.exists(p)]
    assert listener is not None and listener.fileno() == -1
    assert sandbox.exited
    assert (await sandbox.wait()).signal == signal.SIGKILL
    assert destroy_s < 2.0
    # And everything after destroy is harmless
    await sandbox.destroy()
    sandbox.freeze()
    sandbox.thaw()
    sandbox.reset_memory_peak()
    assert sandbox.memory_peak_bytes() == 0
    assert sandbox.memory_current_bytes() == 0


async def test_host_death_takes_the_sandbox_down(cgroups: CgroupManager) -> None:
    # Given a helper process that started a sandbox (with a background child)
    sandbox_id = f"orphan-{os.urandom(3).hex()}"
    helper = subprocess.Popen(
        [sys.executable, str(HERE / "sandbox_orphan_helper.py"), cgroups.prefix, sandbox_id],
        stdout=subprocess.PIPE,
    )
    try:
        assert helper.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(helper.stdout.readline), 20)
        info = json.loads(line)
        assert len(info["pids"]) >= 3
        # When the helper is SIGKILLed (no chance to clean up)
        helper.kill()
        helper.wait(timeout=5)
        # Then every sandbox process dies (--die-with-parent)
        async with asyncio.timeout(5):
            while alive := [p for p in info["pids"] if os.path.exists(f"/proc/{p}")]:
                await asyncio.sleep(0.02)
        assert not alive
        # And the leftover cgroup is swept by cleanup_stale
        assert all(os.path.exists(p) for p in info["paths"])
        assert sandbox_id in cgroups.stale_names()
        assert cgroups.cleanup_stale() >= 1
        assert not [p for p in info["paths"] if os.path.exists(p)]
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
        if helper.stdout is not None:
            helper.stdout.close()


async def test_start_fails_cleanly_for_a_missing_mount_source(
    kit: SandboxKit, cgroups: CgroupManager
) -> None:
    with pytest.raises(SandboxError, match="mount source does not exist") as info:
        await kit.start(("/bin/true",), mounts=(Mount("/nonexistent/code", "/var/task"),))
    assert info.value.path == "/nonexistent/code"
    assert not [n for n in cgroups.stale_names() if n.startswith("test-start-fails")]


async def test_start_refuses_to_run_without_cgroups(kit: SandboxKit, tmp_path: Path) -> None:
    spec = kit.spec(("/bin/true",))
    with pytest.raises(SandboxError, match="cgroups unavailable"):
        await Sandbox.start(spec, CgroupManager(root=str(tmp_path)))


async def test_start_reports_missing_bwrap(kit: SandboxKit) -> None:
    spec = kit.spec(("/bin/true",))
    with pytest.raises(SandboxError, match="/opt/nowhere/bwrap is missing"):
        await Sandbox.start(spec, kit.cgroups, SandboxOptions(bwrap_path="/opt/nowhere/bwrap"))


async def test_start_timeout_leaves_nothing_behind(kit: SandboxKit) -> None:
    # A unique hostname lets us find this sandbox's bwrap among everyone else's.
    hostname = f"timeout-{os.urandom(4).hex()}"
    spec = kit.spec(("/bin/sleep", "30"), hostname=hostname)
    with pytest.raises(SandboxError, match="timed out"):
        await Sandbox.start(spec, kit.cgroups, SandboxOptions(start_timeout_s=0.001))
    assert spec.sandbox_id not in kit.cgroups.stale_names()
    async with asyncio.timeout(5):
        while _bwrap_processes(hostname):
            await asyncio.sleep(0.02)


async def test_duplicate_sandbox_id_is_refused_while_the_first_runs(kit: SandboxKit) -> None:
    first = await kit.start(("/bin/sleep", "30"))
    spec = kit.spec(("/bin/true",), sandbox_id=first.sandbox_id)
    with pytest.raises(SandboxError, match="still has processes"):
        await Sandbox.start(spec, kit.cgroups)
    assert not first.exited
    assert first.cgroup is not None and first.cgroup.pids()


async def test_bwrap_setup_failure_surfaces_as_exit_and_output(kit: SandboxKit) -> None:
    out, status = await kit.run(("/bin/true",), cwd="/does/not/exist")
    assert status.exit_code == 1
    assert "Can't chdir to /does/not/exist" in out


async def test_sandbox_pid_is_the_init_holding_the_tree(kit: SandboxKit) -> None:
    sandbox = await kit.start(("/bin/sleep", "30"))
    assert sandbox.cgroup is not None
    assert sandbox.pid in sandbox.cgroup.pids()
    os.kill(sandbox.pid, signal.SIGKILL)  # the init's death ends the whole pid namespace
    status = await asyncio.wait_for(sandbox.wait(), 5)
    assert status.signal == signal.SIGKILL
    assert not status.oom_killed


def test_start_works_under_uvloop(kit: SandboxKit) -> None:
    # uvicorn runs on uvloop, which rejects create_subprocess_exec(user=...); run a whole
    # start/exit/destroy cycle there, in a separate interpreter.
    pytest.importorskip("uvloop")
    script = f"""
import asyncio, os, uvloop
from lambent.sandbox import CgroupManager, Limits, Sandbox, SandboxSpec
async def main():
    spec = SandboxSpec(sandbox_id="uvloop-{os.urandom(3).hex()}", argv=("/bin/echo", "hi"),
        env={{}}, mounts=(), tmp_size_mb=8, limits=Limits(64, 500, 8), cwd="/")
    sandbox = await Sandbox.start(spec, CgroupManager(prefix={kit.cgroups.prefix!r}))
    status = await asyncio.wait_for(sandbox.wait(), 10)
    out = os.read(sandbox.output_fd, 100)
    await sandbox.destroy()
    print(type(asyncio.get_running_loop()).__module__, status.exit_code, out.decode().strip())
uvloop.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["uvloop", "0", "hi"]


def _bwrap_processes(hostname: str) -> set[int]:
    """Live processes whose command line carries ``--hostname <hostname>``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"--hostname" in argv and hostname.encode() in argv:
                found.add(int(entry))
    return found
