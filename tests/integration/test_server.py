"""Server-level behaviour: throttling, restart persistence, graceful shutdown, logs CLI, health."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_function, invoke_json

SLEEPY = {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('s', 0))\n    return 'done'\n"}


def _invoke_in_thread(lam: Any, name: str, event: Any, results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(invoke_json(lam, name, event)[1])
        except ClientError as exc:
            results.append(exc.response)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_reserved_concurrency_throttles_with_reason(fresh_server: Any) -> None:
    srv = fresh_server()
    lam = srv.client()
    name = create_function(lam, SLEEPY)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    results: list[Any] = []
    t = _invoke_in_thread(lam, name, {"s": 2}, results)
    time.sleep(0.8)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    r = exc.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert r["Error"]["Code"] == "TooManyRequestsException"
    assert r["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    t.join()
    assert results == ["done"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert exc.value.response["Error"]["Code"] == "TooManyRequestsException"


def test_account_concurrency_limit(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_LIMITS_ACCOUNT_CONCURRENCY="2", LAMBENT_LIMITS_MIN_UNRESERVED_CONCURRENCY="1")
    lam = srv.client()
    name = create_function(lam, SLEEPY)
    assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 2
    results: list[Any] = []
    threads = [_invoke_in_thread(lam, name, {"s": 2}, results) for _ in range(2)]
    time.sleep(1.0)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert exc.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
    for t in threads:
        t.join()
    assert results == ["done", "done"]


def test_everything_survives_a_restart(fresh_server: Any, tmp_path: Path) -> None:
    srv = fresh_server()
    lam = srv.client()
    name = create_function(lam, {"app.py": "def handler(e, c):\n    return 'persisted'\n"}, Tags={"k": "v"},
                           Environment={"Variables": {"AA": "1"}})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    before = lam.get_function_configuration(FunctionName=name)
    invoke_json(lam, name)
    srv.stop()
    srv.start()
    lam = srv.client()
    after = lam.get_function_configuration(FunctionName=name)
    for key in ("CodeSha256", "RevisionId", "LastModified", "Environment", "MemorySize", "State"):
        assert after[key] == before[key], key
    assert lam.list_tags(Resource=after["FunctionArn"])["Tags"] == {"k": "v"}
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 3
    assert invoke_json(lam, name)[1] == "persisted"
    # logs of both runs are kept
    out = subprocess.run([sys.executable, "-m", "lambent.cli.main", "logs", name, "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("START RequestId:") == 2 and out.count("REPORT RequestId:") == 2


def _lambent_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "bwrap" in line or "/var/runtime/bootstrap" in line]


def _our_cgroups(data_dir: Path) -> list[str]:
    """Every sandbox cgroup directory of the server that owns ``data_dir``."""
    import glob

    from lambent.platform import cgroup_prefix

    prefix = cgroup_prefix(data_dir)
    found: list[str] = []
    for pattern in (f"/sys/fs/cgroup/memory/{prefix}/*", f"/sys/fs/cgroup/pids/{prefix}/*", f"/sys/fs/cgroup/{prefix}/*"):
        found.extend(p for p in glob.glob(pattern) if os.path.isdir(p))
    return found


def test_graceful_shutdown_finishes_in_flight_and_leaves_nothing(fresh_server: Any) -> None:
    srv = fresh_server()
    lam = srv.client()
    name = create_function(lam, SLEEPY)
    invoke_json(lam, name)  # a warm, frozen environment exists
    mine_before = _our_cgroups(srv.data_dir)
    assert mine_before, "expected at least one sandbox cgroup while the server runs"
    results: list[Any] = []
    t = _invoke_in_thread(lam, name, {"s": 1.5}, results)
    time.sleep(0.5)
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGTERM)
    t.join(timeout=30)
    assert results == ["done"]
    # uvicorn re-raises the signal it handled once shutdown is complete
    assert srv.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in srv.log()
    # no sandbox processes of this server, no cgroups of its sandboxes
    pid_hint = str(srv.data_dir)
    assert not [p for p in _lambent_processes() if pid_hint in p]
    left = set(_our_cgroups(srv.data_dir)) & set(mine_before)
    assert not left, left
    from lambent.platform import cgroup_prefix

    prefix = cgroup_prefix(srv.data_dir)
    assert not [c for c in ("memory", "pids", "freezer", "cpu") if os.path.exists(f"/sys/fs/cgroup/{c}/{prefix}")]


def test_kill_9_leaves_no_orphans_and_next_start_cleans_cgroups(fresh_server: Any) -> None:
    srv = fresh_server()
    lam = srv.client()
    name = create_function(lam, SLEEPY)
    invoke_json(lam, name)
    cgroups = set(_our_cgroups(srv.data_dir))
    assert srv.proc is not None
    srv.proc.kill()
    srv.proc.wait()
    # Frozen sandboxes cannot act on their parent-death signal until thawed; the next start of a
    # server on this data dir thaws and kills them, and removes their cgroups.
    srv.start()
    assert not [p for p in _lambent_processes() if str(srv.data_dir) in p]
    assert not (cgroups & set(_our_cgroups(srv.data_dir)))
    assert invoke_json(srv.client(), name)[1] == "done"


def _wait_unlocked(path: Path, timeout_s: float = 30.0) -> None:
    """Until nobody holds ``flock`` on ``path`` (taken and released at once)."""
    deadline = time.monotonic() + timeout_s
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{path} still locked after {timeout_s}s"
                time.sleep(0.02)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
    finally:
        os.close(fd)


def test_next_start_kills_sandbox_inits_a_kill_9_left_blocked(fresh_server: Any) -> None:
    """SIGKILL between bwrap's clone of an init and its setup leaves the init blocked for ever,
    outside any cgroup (lambent/sandbox/orphans.py). That window cannot be hit on demand, so a
    bwrap blocked the same way, mounting from the server's sandbox dir, stands in for it."""
    srv = fresh_server()
    assert srv.proc is not None
    srv.proc.kill()
    srv.proc.wait()
    # The dead server's reaper sweeps what carries its marker or mounts from its sandbox dir, and
    # holds the dir's lock until that sweep is over: a bwrap started before would be its victim.
    _wait_unlocked(srv.sandbox_dir() / ".lock")
    read_end, write_end = os.pipe()
    leftover = subprocess.Popen(
        ["/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--ro-bind", str(srv.sandbox_dir() / "runtimes" / "python"), "/var/runtime",
         "--block-fd", str(read_end), "--", "/usr/bin/true"],
        pass_fds=(read_end,),
    )
    os.close(read_end)
    try:
        time.sleep(0.2)
        assert leftover.poll() is None
        srv.start()
        assert leftover.wait(timeout=10) == -signal.SIGKILL
        assert re.search(r"killed [12] sandbox processes left by a previous run", srv.log())  # bwrap and its init
    finally:
        os.close(write_end)
        leftover.kill()
        leftover.wait(timeout=5)


def test_health(server: Any) -> None:
    with urllib.request.urlopen(server.url + "/health") as r:
        assert r.status == 200 and json.load(r)["status"] == "ok"


def test_generated_credentials_are_private_and_printed_once(tmp_path: Path) -> None:
    from harness import Server, require_prerequisites

    require_prerequisites()
    srv = Server(tmp_path / "d")
    env = srv.env()
    env.pop("LAMBENT_ROOT_ACCESS_KEY_ID")
    env.pop("LAMBENT_ROOT_SECRET_ACCESS_KEY")
    srv.env = lambda: env  # type: ignore[method-assign]
    srv.start()
    srv.stop()
    first = srv.log()
    creds = (tmp_path / "d" / "root-credentials")
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    key, secret = creds.read_text().split()
    assert key in first and secret in first
    srv.start()
    srv.stop()
    srv.cleanup()
    assert srv.log().count(secret) == 1
