"""Execution environments: freezing between invocations, idle reaping, the memory budget, logs CLI."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from typing import Any

from harness import create_function, invoke_json

TICKER = {"app.py": """
import threading, time
TICKS = [0]
def _tick():
    while True:
        TICKS[0] += 1
        time.sleep(0.01)
threading.Thread(target=_tick, daemon=True).start()
def handler(e, c):
    return TICKS[0]
"""}


def test_background_threads_do_not_run_between_invocations(lam: Any) -> None:
    name = create_function(lam, TICKER, MemorySize=1769)
    first = invoke_json(lam, name)[1]
    time.sleep(1.5)
    second = invoke_json(lam, name)[1]
    # Given ~150 ticks would happen in 1.5 s if the environment ran, Then it was frozen meanwhile
    assert second - first < 30, (first, second)


def _init_reported(lam: Any, name: str) -> bool:
    resp, _ = invoke_json(lam, name, LogType="Tail")
    return "Init Duration" in base64.b64decode(resp["LogResult"]).decode()


def test_idle_environments_are_reaped_after_the_ttl(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_WORKER_IDLE_TTL_S="1")
    lam = srv.client()
    name = create_function(lam, {"app.py": "def handler(e, c):\n    return 1\n"})
    assert _init_reported(lam, name)
    assert not _init_reported(lam, name)  # warm
    time.sleep(2.5)
    assert _init_reported(lam, name)  # reaped, so cold again


def test_memory_budget_evicts_least_recently_used_idle_environment(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_WORKER_MEMORY_BUDGET_MB="256")
    lam = srv.client()
    a, b, c = (create_function(lam, {"app.py": "def handler(e, c):\n    return 1\n"}) for _ in range(3))
    assert _init_reported(lam, a)
    assert _init_reported(lam, b)
    assert not _init_reported(lam, a)  # a is now more recently used than b
    assert _init_reported(lam, c)  # needs room: evicts b (LRU), keeps a
    assert not _init_reported(lam, a)
    assert _init_reported(lam, b)


def test_memory_budget_exhausted_by_busy_environments_throttles(fresh_server: Any) -> None:
    import threading

    from botocore.exceptions import ClientError

    srv = fresh_server(LAMBENT_WORKER_MEMORY_BUDGET_MB="128")
    lam = srv.client()
    name = create_function(lam, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('s', 0))\n    return 1\n"})
    t = threading.Thread(target=lambda: invoke_json(lam, name, {"s": 2}))
    t.start()
    time.sleep(0.8)
    try:
        lam.invoke(FunctionName=name, Payload=b"{}")
        raised = None
    except ClientError as exc:
        raised = exc.response
    t.join()
    assert raised is not None and raised["Error"]["Code"] == "TooManyRequestsException"


def test_logs_cli_prints_and_follows(lam: Any, server: Any) -> None:
    name = create_function(lam, {"app.py": "def handler(e, c):\n    print('line-from-' + e['who'])\n    return 1\n"})
    invoke_json(lam, name, {"who": "first"})
    out = subprocess.run([sys.executable, "-m", "lambent.cli.main", "logs", name, "--data-dir", str(server.data_dir)],
                         capture_output=True, text=True, check=True).stdout
    assert "line-from-first" in out and "START RequestId:" in out and "REPORT RequestId:" in out
    follower = subprocess.Popen([sys.executable, "-m", "lambent.cli.main", "logs", name, "--follow", "--data-dir", str(server.data_dir)],
                                stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        invoke_json(lam, name, {"who": "second"})
        deadline = time.monotonic() + 10
        seen = ""
        assert follower.stdout is not None
        while time.monotonic() < deadline and "line-from-second" not in seen:
            seen += follower.stdout.readline()
        assert "line-from-second" in seen
    finally:
        follower.terminate()
        follower.wait()
        if follower.stdout:
            follower.stdout.close()
