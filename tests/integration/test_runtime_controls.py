"""What a function changes about its own runtime, through boto3 as on AWS: a wrapper script
(AWS_LAMBDA_EXEC_WRAPPER, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html), the
JSON log format with log-level filtering (LoggingConfig,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html), and the
environment the managed runtimes set (no PYTHONDONTWRITEBYTECODE)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from harness import create_function, invoke_json
from test_node_runtime import node_runtime

WRAPPER = '#!/bin/sh\necho "wrapper got: $*"\nexport WRAPPED_BY=wrapper\nexec "$@"\n'
PY_REPORT = (
    "import os, sys\n"
    "def handler(e, c):\n"
    "    return {'wrapped_by': os.environ.get('WRAPPED_BY'), 'variable': 'AWS_LAMBDA_EXEC_WRAPPER' in os.environ,\n"
    "            'argv': sys.orig_argv}\n"
)
NODE_REPORT = (
    "exports.handler = async () => ({ wrapped_by: process.env.WRAPPED_BY ?? null,\n"
    "  variable: 'AWS_LAMBDA_EXEC_WRAPPER' in process.env, argv: process.argv });\n"
)


def _tail(resp: dict[str, Any]) -> str:
    return base64.b64decode(resp["LogResult"]).decode()


def _json_records(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("runtime", "files", "handler"), [
    ("python3.11", {"app.py": PY_REPORT}, "app.handler"),
    (None, {"index.js": NODE_REPORT}, "index.handler"),
])
def test_a_wrapper_script_starts_the_runtime(lam: Any, runtime: str | None, files: dict[str, str], handler: str) -> None:
    # Given a function whose AWS_LAMBDA_EXEC_WRAPPER names an executable script in its code
    name = create_function(
        lam, {**files, "wrapper.sh": WRAPPER}, runtime=runtime or node_runtime(), handler=handler,
        modes={"wrapper.sh": 0o755}, Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}},
    )
    # When it is invoked
    resp, out = invoke_json(lam, name, {}, LogType="Tail")
    # Then the runtime ran under the wrapper, which got the interpreter and its arguments
    # (what it printed belongs to the init phase, not to this invocation's log tail)
    assert out["wrapped_by"] == "wrapper" and out["variable"] is False
    assert out["argv"][0].rsplit("/", 1)[-1] in ("python3.11", "node")
    assert "bootstrap" in " ".join(out["argv"])
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp


def test_a_wrapper_that_is_not_executable_fails_init(lam: Any) -> None:
    name = create_function(
        lam, {"app.py": PY_REPORT, "wrapper.sh": WRAPPER}, modes={"wrapper.sh": 0o644},
        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}},
    )
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    error = json.loads(resp["Payload"].read())
    # Then init fails as on AWS: the runtime exits with the shell's status for "not executable"
    assert resp.get("FunctionError") == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError" and "126" in error["errorMessage"], error


PY_LOGS = (
    "import json, logging, os\nlog = logging.getLogger('orders')\n"
    "def handler(e, c):\n"
    "    log.info('info line'); log.warning('warn line'); log.error('error line')\n"
    "    print('printed line')\n"
    "    return {k: os.environ.get(k) for k in ('AWS_LAMBDA_LOG_FORMAT', 'AWS_LAMBDA_LOG_LEVEL')}\n"
)
NODE_LOGS = (
    "exports.handler = async () => {\n"
    "  console.debug('debug line'); console.info('info line'); console.warn('warn line'); console.error('error line');\n"
    "  return { format: process.env.AWS_LAMBDA_LOG_FORMAT, level: process.env.AWS_LAMBDA_LOG_LEVEL };\n};\n"
)


def test_python_json_logs_are_filtered_at_the_application_log_level(lam: Any) -> None:
    # Given a Python function with LogFormat JSON and ApplicationLogLevel WARN
    name = create_function(lam, {"app.py": PY_LOGS},
                           LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    # When it logs at INFO, WARNING and ERROR
    resp, out = invoke_json(lam, name, {}, LogType="Tail")
    # Then the runtime saw AWS's variables, and only WARNING and ERROR came out, as JSON records
    assert out == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    log = _tail(resp)
    records = [r for r in _json_records(log) if r.get("logger") == "orders"]
    assert [(r["level"], r["message"]) for r in records] == [("WARNING", "warn line"), ("ERROR", "error line")]
    assert all(r["requestId"] == resp["ResponseMetadata"]["RequestId"] for r in records)
    assert "info line" not in log and "printed line" in log


def test_node_json_logs_are_filtered_at_the_application_log_level(lam: Any) -> None:
    name = create_function(lam, {"index.js": NODE_LOGS}, runtime=node_runtime(), handler="index.handler",
                           LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    resp, out = invoke_json(lam, name, {}, LogType="Tail")
    assert out == {"format": "JSON", "level": "WARN"}
    log = _tail(resp)
    records = _json_records(log)
    assert [(r["level"], r["message"]) for r in records if "line" in str(r.get("message"))] == [
        ("WARN", "warn line"), ("ERROR", "error line")]
    assert "debug line" not in log and "info line" not in log


def test_json_format_defaults_to_info_and_text_format_sets_no_level(lam: Any) -> None:
    json_fn = create_function(lam, {"app.py": PY_LOGS}, LoggingConfig={"LogFormat": "JSON"})
    resp, out = invoke_json(lam, json_fn, {}, LogType="Tail")
    assert out == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    assert [r["message"] for r in _json_records(_tail(resp)) if r.get("logger") == "orders"] == [
        "info line", "warn line", "error line"]
    text_fn = create_function(lam, {"app.py": PY_LOGS})
    _, out = invoke_json(lam, text_fn, {})
    assert out == {"AWS_LAMBDA_LOG_FORMAT": None, "AWS_LAMBDA_LOG_LEVEL": None}


def test_python_functions_may_write_bytecode_as_on_aws(lam: Any) -> None:
    name = create_function(lam, {"app.py": (
        "import os, sys\ndef handler(e, c):\n"
        "    return ['PYTHONDONTWRITEBYTECODE' in os.environ, sys.dont_write_bytecode]\n")})
    _, out = invoke_json(lam, name, {})
    assert out == [False, False]
