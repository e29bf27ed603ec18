"""JSON log format (LoggingConfig.LogFormat=JSON): lambent's Python runtime client writes exactly
the records AWS's own client (awslambdaric, from PyPI) writes for the same function — the same
keys in the same order, the same levels (a custom level as the standard one below it), ``root``
for the root logger, an empty requestId during init — and ApplicationLogLevel filters the same.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from runtime_harness import Harness, RuntimeProcess

pytest.importorskip("awslambdaric", reason="awslambdaric (PyPI) is not installed")

APP = (
    "import logging\n"
    "logging.addLevelName(25, 'NOTICE')\n"
    "log = logging.getLogger('orders')\n"
    "logging.getLogger().info('at init')\n"
    "def handler(e, c):\n"
    "    logging.info('root info')\n"
    "    log.debug('debug %s', 1)\n"
    "    log.log(25, 'custom level')\n"
    "    log.warning('kept', extra={'order': 7, 'nothing': None})\n"
    "    log.error({'structured': True})\n"
    "    try:\n"
    "        raise KeyError('k')\n"
    "    except KeyError:\n"
    "        log.exception('failed')\n"
    "    print('plain text')\n"
    "    return 1\n"
)

#: What awslambdaric writes for APP at each AWS_LAMBDA_LOG_LEVEL (timestamps aside; stackTrace
#: and location as checked by _normalised).
ALL = [
    {"level": "INFO", "message": "at init", "logger": "root", "requestId": ""},
    {"level": "INFO", "message": "root info", "logger": "root", "requestId": "req-j"},
    {"level": "DEBUG", "message": "debug 1", "logger": "orders", "requestId": "req-j"},
    {"level": "INFO", "message": "custom level", "logger": "orders", "requestId": "req-j"},
    {"level": "WARNING", "message": "kept", "logger": "orders", "requestId": "req-j", "order": 7},
    {"level": "ERROR", "message": {"structured": True}, "logger": "orders", "requestId": "req-j"},
    {"level": "ERROR", "message": "failed", "logger": "orders", "stackTrace": 1, "errorType": "KeyError",
     "errorMessage": "'k'", "requestId": "req-j", "location": "app.py:handler:14"},
]
RANK = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


async def _start(harness: Harness, client: str, env: dict[str, str]) -> RuntimeProcess:
    if client == "awslambdaric":
        return await harness.spawn([sys.executable, "-m", "awslambdaric", "app.handler"], "app.handler", env)
    return await harness.start_python("app.handler", env)


def _normalised(out: str) -> list[dict[str, Any]]:
    records = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        stamp = record.pop("timestamp")
        assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T", stamp  # 2026-12-02T05:17:58Z
        if "stackTrace" in record:
            assert 'app.py", line 12, in handler' in record["stackTrace"][0]
            record["stackTrace"] = len(record["stackTrace"])
        if "location" in record:
            record["location"] = record["location"].rsplit("/", 1)[-1]
        records.append(record)
    return records


@pytest.mark.parametrize("client", ["lambent", "awslambdaric"])
@pytest.mark.parametrize("level", ["DEBUG", "WARN"])
async def test_json_records_are_awslambdarics(harness: Harness, client: str, level: str) -> None:
    # Given a function logging through the logging module at every level, in JSON format
    harness.write("app.py", APP)
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}
    proc = await _start(harness, client, env)
    await harness.ready(proc)
    # When it is invoked
    result = await harness.invoke({}, request_id="req-j")
    await proc.settle_output()
    assert result.ok
    # Then the records are AWS's, in order and key order, and those below the level are dropped
    minimum = RANK["WARNING" if level == "WARN" else level]
    expected = [r for r in ALL if RANK[str(r["level"])] >= minimum]
    got = _normalised(proc.out)
    assert [list(r.items()) for r in got] == [list(r.items()) for r in expected], proc.out
    # And print() stays plain text
    assert "plain text\n" in proc.out


@pytest.mark.parametrize("client", ["lambent", "awslambdaric"])
async def test_an_init_error_is_one_flat_json_record(harness: Harness, client: str) -> None:
    harness.write("app.py", "raise RuntimeError('init boom')\n")
    proc = await _start(harness, client, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    await proc.wait_exit()
    await proc.settle_output()
    errors = [r for r in _records(proc.out) if r.get("level") == "ERROR"]
    assert len(errors) == 1, proc.out
    (record,) = errors
    assert list(record) == ["timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert (record["errorType"], record["errorMessage"], record["requestId"]) == ("RuntimeError", "init boom", "")


def _records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


NODE_APP = (
    "class OrderError extends Error {}\n"
    "console.info('at init');\n"
    "exports.handler = async () => {\n"
    "  console.trace('dropped at DEBUG');\n"
    "  console.debug('debug %d', 1);\n"
    "  console.log({ structured: true });\n"
    "  console.warn('two', 'args');\n"
    "  console.error(new OrderError('single'));\n"
    "  console.error('with', new OrderError('second'));\n"
    "  console.fatal('always');\n"
    "  throw new TypeError('handler failed');\n"
    "};\n"
)


def _without_stacks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for record in records:
        stamp = record.pop("timestamp")
        assert stamp.endswith("Z") and len(stamp) == 24, stamp  # toISOString(): milliseconds
        for holder in (record, record.get("message")):
            if isinstance(holder, dict) and "stackTrace" in holder:
                # the stack's first line names error.name ("Error" for a subclass that sets none)
                assert holder["stackTrace"][0].endswith(f"Error: {holder['errorMessage']}"), holder
                holder["stackTrace"] = "..."
        out.append(record)
    return out


async def test_node_json_records_are_logpatchs(harness: Harness) -> None:
    # Given a Node function using every console method, in JSON format at level DEBUG
    harness.write("app.js", NODE_APP)
    proc = await harness.start_node("app.handler", {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    await harness.ready(proc)
    result = await harness.invoke({}, request_id="req-n")
    await proc.settle_output()
    assert not result.ok
    # Then each call is one record as the Node runtime client (LogPatch.js) writes it: console.log
    # is INFO, trace is below DEBUG, fatal is never filtered; a lone object or Error stays
    # structured (an Error's type is its constructor's name); requestId is absent during init
    got = _without_stacks(_records(proc.out))
    error = {"errorType": "OrderError", "errorMessage": "single", "stackTrace": "..."}
    expected = [
        {"level": "INFO", "message": "at init"},
        {"level": "DEBUG", "requestId": "req-n", "message": "debug 1"},
        {"level": "INFO", "requestId": "req-n", "message": {"structured": True}},
        {"level": "WARN", "requestId": "req-n", "message": "two args"},
        {"level": "ERROR", "requestId": "req-n", "message": error},
        {"level": "ERROR", "requestId": "req-n", "message": got[5]["message"], "errorType": "OrderError",
         "errorMessage": "second", "stackTrace": "..."},
        {"level": "FATAL", "requestId": "req-n", "message": "always"},
        {"level": "ERROR", "requestId": "req-n", "message": {"errorType": "TypeError", "errorMessage": "handler failed",
                                                             "stackTrace": "..."}},
    ]
    assert [list(r.items()) for r in got] == [list(r.items()) for r in expected], proc.out
    assert got[5]["message"].startswith("with OrderError: second")
    assert "dropped at DEBUG" not in proc.out
