"""Function logs as Lambda writes them, through boto3 against the real server: the JSON log format's
platform records (GetLogEvents, ``lambent logs``), SystemLogLevel and ApplicationLogLevel (Python
and Node), a failed init's log tail (Text and JSON), REPORT after a timeout and an OOM kill (the
memory actually used), and INIT billed in the REPORT line exactly as the usage records bill it.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest

from harness import Server, create_function

JSON_FORMAT = {"LogFormat": "JSON"}

LOGGER = {"app.py": """
import logging
def handler(event, context):
    logging.getLogger().info('info from root')
    logging.getLogger('orders').warning('warn from orders')
    logging.getLogger('orders').error('error from orders')
    print('plain print')
    return {'ok': True}
"""}

INIT_FAILS = {"app.py": "print('importing')\nraise RuntimeError('init boom')\n"}

_REPORT = re.compile(r"^REPORT RequestId: (\S+)\tDuration: ([0-9.]+) ms\tBilled Duration: ([0-9]+) ms\t"
                     r"Memory Size: ([0-9]+) MB\tMax Memory Used: ([0-9]+) MB\t(?:Init Duration: ([0-9.]+) ms\t)?(.*)$")


def _tail(resp: dict[str, Any]) -> list[str]:
    return base64.b64decode(resp["LogResult"]).decode().splitlines()


def _invoke(lam: Any, name: str, event: Any = None) -> dict[str, Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail")
    resp["Body"] = resp["Payload"].read()
    return resp  # type: ignore[no-any-return]


def _records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in lines if x.startswith("{")]


def _platform(lines: list[str]) -> list[dict[str, Any]]:
    return [r for r in _records(lines) if str(r.get("type", "")).startswith("platform.")]


def _stream_messages(server: Server, name: str, want: int, timeout_s: float = 15.0) -> list[str]:
    """Every event of the function's log group, once ``want`` platform.report records are there."""
    logs = server.client("logs")
    deadline = time.monotonic() + timeout_s
    while True:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        messages = [e["message"].rstrip("\n") for e in events]
        if sum('"type":"platform.report"' in m for m in messages) >= want or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def test_json_platform_records_in_the_log_group_and_lambent_logs(server: Server, lam: Any) -> None:
    # Given a Python function in the JSON log format (SystemLogLevel and ApplicationLogLevel INFO)
    name = create_function(lam, LOGGER, LoggingConfig=JSON_FORMAT)
    cold = _invoke(lam, name)
    warm = _invoke(lam, name)
    # Then the tail holds Lambda's records: platform.start, the function's JSON logs, platform.report
    tail = _tail(warm)
    types = [r.get("type") for r in _platform(tail)]
    assert types == ["platform.start", "platform.report"], tail
    start, report = _platform(tail)
    assert start["record"] == {"requestId": warm["ResponseMetadata"]["RequestId"], "version": "$LATEST"}
    metrics = report["record"]["metrics"]
    assert report["record"]["status"] == "success" and report["record"]["requestId"] == start["record"]["requestId"]
    assert set(metrics) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"}
    assert metrics["memorySizeMB"] == 128 and 0 < metrics["maxMemoryUsedMB"] <= 128
    # durationMs is rounded to the Text line's two decimals; the bill is the exact duration's ceiling
    assert metrics["billedDurationMs"] in {max(1, math.ceil(metrics["durationMs"] + d)) for d in (-0.005, 0, 0.005)}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", report["time"])
    # The cold start's report carries the init, billed with it (INIT billing, August 2025)
    cold_metrics = _platform(_tail(cold))[-1]["record"]["metrics"]
    init_ms = cold_metrics["initDurationMs"]
    assert cold_metrics["billedDurationMs"] >= math.ceil(cold_metrics["durationMs"] + init_ms - 0.01)
    assert cold_metrics["billedDurationMs"] <= math.ceil(cold_metrics["durationMs"] + init_ms + 0.01)
    # The application logs: AWS's fields, the root logger named root; print() stays text
    app = [r for r in _records(tail) if "level" in r]
    assert [(r["level"], r["logger"], r["message"]) for r in app] == [
        ("INFO", "root", "info from root"), ("WARNING", "orders", "warn from orders"),
        ("ERROR", "orders", "error from orders")]
    assert all(r["requestId"] == start["record"]["requestId"] for r in app)
    assert "plain print" in tail

    # And GetLogEvents shows the records too, platform.initStart first
    messages = _stream_messages(server, name, want=2)
    platform = [json.loads(m)["type"] for m in messages if m.startswith('{"time"')]
    assert platform == ["platform.initStart", "platform.start", "platform.report", "platform.start", "platform.report"]
    # And `lambent logs` reads them, a JSON filter pattern selecting the reports
    out = subprocess.run([sys.executable, "-m", "lambent.cli.main", "logs", name, "--data-dir", str(server.data_dir),
                          "--filter", '{ $.type = "platform.report" }'], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    shown = [line for line in out.stdout.splitlines() if '"platform.report"' in line]
    assert len(shown) == 2 and all(json.loads(line.split(" ", 1)[1])["record"]["metrics"] for line in shown)


def test_system_log_level_debug_adds_and_warn_drops_platform_records(lam: Any) -> None:
    debug = create_function(lam, LOGGER, LoggingConfig={**JSON_FORMAT, "SystemLogLevel": "DEBUG"})
    warn = create_function(lam, LOGGER, LoggingConfig={**JSON_FORMAT, "SystemLogLevel": "WARN",
                                                       "ApplicationLogLevel": "ERROR"})
    _invoke(lam, debug)
    # DEBUG: platform.runtimeDone (Text's END) with its metrics, between start and report
    tail = _tail(_invoke(lam, debug))
    assert [r["type"] for r in _platform(tail)] == ["platform.start", "platform.runtimeDone", "platform.report"]
    done = _platform(tail)[1]["record"]
    assert done["status"] == "success" and done["metrics"]["producedBytes"] == len(b'{"ok": true}')
    # WARN: no start/report; ApplicationLogLevel ERROR keeps only the error record
    tail = _tail(_invoke(lam, warn))
    assert _platform(tail) == []
    assert [(r["level"], r["message"]) for r in _records(tail)] == [("ERROR", "error from orders")]


def _node_runtime() -> str:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout if shutil.which("node") else ""
    return f"nodejs{out.strip().lstrip('v').split('.')[0]}.x" if out else "nodejs20.x"


def test_node_application_log_level(lam: Any) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is a prerequisite of the integration suite (make install)")
    code = {"index.js": (
        "exports.handler = async () => {\n"
        "  console.debug('d'); console.info('i'); console.log('l'); console.warn('w'); console.error('e');\n"
        "  return 1;\n};\n")}
    name = create_function(lam, code, runtime=_node_runtime(), handler="index.handler",
                           LoggingConfig={**JSON_FORMAT, "ApplicationLogLevel": "WARN"})
    resp = _invoke(lam, name)
    records = [r for r in _records(_tail(resp)) if "level" in r]
    assert [(r["level"], r["message"]) for r in records] == [("WARN", "w"), ("ERROR", "e")]
    assert all(r["requestId"] == resp["ResponseMetadata"]["RequestId"] for r in records)


def test_a_failed_init_shows_in_the_tail_in_text(lam: Any) -> None:
    name = create_function(lam, INIT_FAILS)
    resp = _invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    lines = _tail(resp)
    rid = resp["ResponseMetadata"]["RequestId"]
    # the init's output and error lines, INIT_REPORT, then this invocation's START/END/REPORT
    assert lines[0] == "importing", lines
    assert any(x.startswith("[ERROR] RuntimeError: init boom") for x in lines)
    (init_report,) = [x for x in lines if x.startswith("INIT_REPORT ")]
    assert re.fullmatch(r"INIT_REPORT Init Duration: [0-9.]+ ms\tPhase: init\tStatus: error\tError Type: RuntimeError",
                        init_report)
    after = lines[lines.index(init_report) + 1:]
    assert after[:2] == [f"START RequestId: {rid} Version: $LATEST", f"END RequestId: {rid}"], lines
    m = _REPORT.match(after[2])
    assert m is not None and m.group(1) == rid, after
    assert m.group(7) == "Status: error\tError Type: RuntimeError\t"
    init_ms = float(m.group(6))
    assert int(m.group(3)) in {math.ceil(float(m.group(2)) + init_ms + d) for d in (-0.01, 0, 0.01)}
    assert int(m.group(5)) > 0  # the runtime's memory, read from its cgroup
    assert len(after) == 3


def test_a_failed_init_shows_in_the_tail_in_json(lam: Any) -> None:
    name = create_function(lam, INIT_FAILS, LoggingConfig=JSON_FORMAT)
    resp = _invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    lines = _tail(resp)
    rid = resp["ResponseMetadata"]["RequestId"]
    records = _records(lines)
    assert [r.get("type", r.get("level")) for r in records] == [
        "platform.initStart", "ERROR", "platform.initReport", "platform.start", "platform.report"], lines
    error, init_report, start, report = records[1:]
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("RuntimeError", "init boom", "")
    assert init_report["record"]["status"] == "error" and init_report["record"]["errorType"] == "RuntimeError"
    assert init_report["record"]["phase"] == "init" and init_report["record"]["metrics"]["durationMs"] > 0
    assert start["record"]["requestId"] == rid
    assert (report["record"]["status"], report["record"]["errorType"]) == ("error", "RuntimeError")
    assert report["record"]["metrics"]["initDurationMs"] == init_report["record"]["metrics"]["durationMs"]


def test_report_after_a_timeout_shows_the_memory_used(lam: Any) -> None:
    name = create_function(lam, {"app.py": (
        "import time\nKEEP = []\n"
        "def handler(e, c):\n"
        "    KEEP.append(bytearray(e['mb'] * 1024 * 1024))\n"
        "    time.sleep(30)\n")}, MemorySize=512, Timeout=1)
    resp = _invoke(lam, name, {"mb": 60})
    assert resp["FunctionError"] == "Unhandled"
    (report,) = [x for x in _tail(resp) if x.startswith("REPORT ")]
    m = _REPORT.match(report)
    assert m is not None, report
    assert 60 <= int(m.group(5)) < 512, report  # what it used, not the 512 MB limit
    assert m.group(7) == "Status: timeout\t"


def test_report_after_an_oom_kill_names_runtime_out_of_memory(lam: Any) -> None:
    name = create_function(lam, {"app.py": (
        "def handler(e, c):\n"
        "    blocks = []\n"
        "    for _ in range(e['mb']):\n"
        "        blocks.append(bytearray(1024 * 1024))\n"
        "    return len(blocks)\n")}, MemorySize=128, Timeout=60)
    resp = _invoke(lam, name, {"mb": 400})
    assert resp["FunctionError"] == "Unhandled"
    (report,) = [x for x in _tail(resp) if x.startswith("REPORT ")]
    m = _REPORT.match(report)
    assert m is not None, report
    assert 100 <= int(m.group(5)) <= 128, report  # the peak the cgroup saw: up to its limit
    assert m.group(7) == "Status: error\tError Type: Runtime.OutOfMemory\t"
