"""AWS_LAMBDA_EXEC_WRAPPER and the JSON log format with log-level filtering, in both runtime clients
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html#runtime-wrapper,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime_harness import Harness, RuntimeProcess

WRAPPER = '#!/bin/sh\necho "wrapper got: $*"\nexport WRAPPED_BY=wrapper\nexec "$@"\n'
JSON_ENV = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}

PY_REPORT = "import os\ndef handler(e, c):\n    return [os.environ.get('WRAPPED_BY'), 'AWS_LAMBDA_EXEC_WRAPPER' in os.environ]\n"
NODE_REPORT = ("exports.handler = async () => [process.env.WRAPPED_BY ?? null, "
               "'AWS_LAMBDA_EXEC_WRAPPER' in process.env];\n")

Starter = Callable[[Harness, str, dict[str, str]], Awaitable[RuntimeProcess]]


def _python(h: Harness, handler: str, env: dict[str, str]) -> Awaitable[RuntimeProcess]:
    return h.start_python(handler, env)


def _node(h: Harness, handler: str, env: dict[str, str]) -> Awaitable[RuntimeProcess]:
    return h.start_node(handler, env)


def _write_wrapper(harness: Harness, mode: int = 0o755) -> str:
    harness.write("wrapper.sh", WRAPPER)
    path = harness.task_root / "wrapper.sh"
    os.chmod(path, mode)
    return str(path)


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("start", "file", "code", "argv0"), [
    (_python, "app.py", PY_REPORT, "/usr/bin/python3.11 -S -u "),
    (_node, "app.js", NODE_REPORT, "node"),
])
async def test_the_wrapper_starts_the_runtime_with_its_command_line(
    harness: Harness, start: Starter, file: str, code: str, argv0: str
) -> None:
    # Given a function whose AWS_LAMBDA_EXEC_WRAPPER is an executable script in its code
    harness.write(file, code)
    wrapper = _write_wrapper(harness)
    # When the runtime starts and is invoked
    proc = await start(harness, "app.handler", {"AWS_LAMBDA_EXEC_WRAPPER": wrapper})
    await harness.ready(proc)
    result = await harness.invoke({})
    await proc.settle_output()
    # Then the wrapper ran with the interpreter and its arguments, and the function runs under it,
    # no longer seeing the variable
    try:
        assert json.loads(result.body) == ["wrapper", False]
        line = next(x for x in proc.out.splitlines() if x.startswith("wrapper got: "))
        assert argv0 in line and "bootstrap" in line
    finally:
        _kill_children(proc.proc.pid)


def _kill_children(pid: int) -> None:
    """Node cannot exec: its bootstrap waits for the wrapper's runtime, which outlives a killed
    parent here (in a sandbox the whole cgroup is killed)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)


@pytest.mark.parametrize("start", [_python, _node])
@pytest.mark.parametrize(("mode", "exit_code", "words"), [(None, 127, "does not exist"), (0o644, 126, "is not an executable")])
async def test_a_missing_or_non_executable_wrapper_ends_init(
    harness: Harness, start: Starter, mode: int | None, exit_code: int, words: str
) -> None:
    harness.write("app.py", PY_REPORT)
    harness.write("app.js", NODE_REPORT)
    wrapper = _write_wrapper(harness, mode) if mode is not None else str(harness.task_root / "nope.sh")
    proc = await start(harness, "app.handler", {"AWS_LAMBDA_EXEC_WRAPPER": wrapper})
    assert await proc.wait_exit() == exit_code
    assert f"{wrapper}: {words}" in proc.out


async def test_python_json_logs_are_objects_filtered_by_level(harness: Harness) -> None:
    # Given a Python function logging at several levels, in JSON format at level WARN
    harness.write("app.py", (
        "import logging\nlog = logging.getLogger('orders')\n"
        "def handler(e, c):\n"
        "    log.info('dropped')\n    log.warning('kept %s', 1, extra={'order': 7})\n"
        "    log.error({'structured': True})\n    print('plain text')\n"
        "    try:\n        raise KeyError('k')\n    except KeyError:\n        log.exception('failed')\n"
    ))
    proc = await harness.start_python("app.handler", JSON_ENV)
    await harness.ready(proc)
    await harness.invoke({}, request_id="req-json")
    await proc.settle_output()
    records = _json_lines(proc.out)
    # Then INFO is dropped; WARNING and ERROR are JSON records with AWS's keys
    assert [r["message"] for r in records] == ["kept 1", {"structured": True}, "failed"]
    kept = records[0]
    assert kept["level"] == "WARNING" and kept["logger"] == "orders" and kept["requestId"] == "req-json"
    assert kept["order"] == 7 and kept["timestamp"].endswith("Z") and "location" not in kept
    assert records[2]["errorType"] == "KeyError" and records[2]["stackTrace"]
    assert records[2]["location"].endswith("app.py:handler:11")  # only records with an exception (awslambdaric)
    # And print() stays plain text, as on AWS
    assert "plain text\n" in proc.out and "dropped" not in proc.out


async def test_python_handler_errors_are_logged_as_json(harness: Harness) -> None:
    harness.write("app.py", "def handler(e, c):\n    raise ValueError('bad input')\n")
    proc = await harness.start_python("app.handler", JSON_ENV)
    await harness.ready(proc)
    await harness.invoke({}, request_id="req-err")
    await proc.settle_output()
    (record,) = [r for r in _json_lines(proc.out) if r["level"] == "ERROR"]
    # awslambdaric's shape: the error result's keys at the top level, no "message"
    assert list(record) == ["timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert record["errorType"] == "ValueError" and record["errorMessage"] == "bad input"
    assert record["requestId"] == "req-err"


async def test_node_json_logs_are_objects_filtered_by_level(harness: Harness) -> None:
    harness.write("app.js", (
        "exports.handler = async () => {\n"
        "  console.info('dropped'); console.log('dropped too'); console.warn('kept %d', 1);\n"
        "  console.error('failed', new TypeError('t'));\n};\n"
    ))
    proc = await harness.start_node("app.handler", JSON_ENV)
    await harness.ready(proc)
    await harness.invoke({}, request_id="req-node")
    await proc.settle_output()
    records = _json_lines(proc.out)
    assert [r["level"] for r in records] == ["WARN", "ERROR"]
    assert records[0]["message"] == "kept 1" and records[0]["requestId"] == "req-node"
    assert records[1]["errorType"] == "TypeError" and records[1]["errorMessage"] == "t"
    assert records[1]["stackTrace"][0].startswith("TypeError: t")
    assert "dropped" not in proc.out
