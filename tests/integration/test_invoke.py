"""Invoke: results, every error kind, logs and warm reuse, through boto3 and real sandboxes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_function, invoke_json

CONTEXT_APP = {
    "app.py": """
import json, os, time
COUNTER = {"n": 0}
def handler(event, context):
    COUNTER["n"] += 1
    print("hello from print")
    return {
        "event": event,
        "n": COUNTER["n"],
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": str(context.memory_limit_in_mb),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                 "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "TZ", "AWS_LAMBDA_RUNTIME_API", "MY_VAR"]},
        "client_context": context.client_context.custom if context.client_context else None,
    }
"""
}


def test_success_context_and_environment(lam: Any) -> None:
    name = create_function(lam, CONTEXT_APP, Timeout=7, MemorySize=256, Environment={"Variables": {"MY_VAR": "mine"}})
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    resp, body = invoke_json(lam, name, {"x": [1, 2]}, ClientContext=cc)
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in resp
    assert body["event"] == {"x": [1, 2]}
    assert body["function_name"] == name and body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert body["memory_limit_in_mb"] == "256"
    assert body["aws_request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert 5000 < body["remaining"] <= 7000
    assert body["client_context"] == {"k": "v"}
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == "us-east-1" and env["_HANDLER"] == "app.handler" and env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["TZ"] == ":UTC" and env["MY_VAR"] == "mine" and env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["log_stream_name"]


def test_warm_reuse_keeps_module_state_and_only_cold_start_reports_init(lam: Any) -> None:
    name = create_function(lam, CONTEXT_APP)
    r1, b1 = invoke_json(lam, name, LogType="Tail")
    r2, b2 = invoke_json(lam, name, LogType="Tail")
    assert (b1["n"], b2["n"]) == (1, 2)
    assert b1["log_stream_name"] == b2["log_stream_name"]
    tail1 = base64.b64decode(r1["LogResult"]).decode()
    tail2 = base64.b64decode(r2["LogResult"]).decode()
    assert "Init Duration:" in tail1
    assert "Init Duration:" not in tail2
    for tail, resp in ((tail1, r1), (tail2, r2)):
        rid = resp["ResponseMetadata"]["RequestId"]
        assert f"START RequestId: {rid} Version: $LATEST" in tail
        assert "hello from print" in tail
        assert f"END RequestId: {rid}" in tail
        assert f"REPORT RequestId: {rid}\tDuration: " in tail
        assert "Billed Duration: " in tail and "Memory Size: 128 MB" in tail and "Max Memory Used: " in tail


def test_handler_exception(lam: Any) -> None:
    name = create_function(lam, {"app.py": "def handler(e, c):\n    raise ValueError('bad input: ' + str(e.get('x')))\n"})
    resp, body = invoke_json(lam, name, {"x": 42}, LogType="Tail")
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input: 42"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert "[ERROR] ValueError: bad input: 42" in base64.b64decode(resp["LogResult"]).decode()


@pytest.mark.parametrize(
    "files,handler,etype,fragment",
    [
        ({"app.py": "x = 1\n"}, "missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing'"),
        ({"app.py": "x = 1\n"}, "app.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        ({"app.py": "def handler(e, c)\n    return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
        ({"app.py": "raise RuntimeError('init boom')\n"}, "app.handler", "RuntimeError", "init boom"),
    ],
)
def test_init_errors(lam: Any, files: dict[str, str], handler: str, etype: str, fragment: str) -> None:
    name = create_function(lam, files, handler=handler)
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == etype, body
    assert fragment in body["errorMessage"]


def test_unserialisable_result(lam: Any) -> None:
    name = create_function(lam, {"app.py": "def handler(e, c):\n    return {1, 2}\n"})
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.MarshalError"


def test_timeout_destroys_environment(lam: Any) -> None:
    name = create_function(lam, {"app.py": "import time\nSTATE = {'n': 0}\ndef handler(e, c):\n    STATE['n'] += 1\n    if e.get('sleep'):\n        time.sleep(30)\n    return STATE['n']\n"}, Timeout=1)
    assert invoke_json(lam, name)[1] == 1
    t = time.monotonic()
    resp, body = invoke_json(lam, name, {"sleep": True}, LogType="Tail")
    assert time.monotonic() - t < 5
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: Task timed out after 1.00 seconds"
    assert "Task timed out after 1.00 seconds" in base64.b64decode(resp["LogResult"]).decode()
    # the timed-out environment is gone: a fresh one starts with fresh module state
    assert invoke_json(lam, name)[1] == 1


def test_process_exit_is_runtime_exit_error(lam: Any) -> None:
    name = create_function(lam, {"app.py": "import os\ndef handler(e, c):\n    os._exit(3)\n"})
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")


def test_dry_run(lam: Any) -> None:
    name = create_function(lam, {"app.py": "def handler(e, c):\n    raise Exception('must not run')\n"})
    resp = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert resp["StatusCode"] == 204


def test_large_response_over_6mb_is_an_error(lam: Any) -> None:
    name = create_function(lam, {"app.py": "def handler(e, c):\n    return 'x' * 7_000_000\n"}, MemorySize=512)
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_unknown_function_is_404(lam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="does-not-exist")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


SDK_APP = '''
import boto3, botocore, jmespath

def handler(event, context):
    sqs = boto3.session.Session(region_name="us-east-1").client(
        "sqs", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="y")
    return {"boto3": boto3.__version__, "botocore": botocore.__version__, "boto3_file": boto3.__file__,
            "client": type(sqs).__name__, "jmespath": getattr(jmespath, "__version__", "")}
'''


def test_python_runtime_includes_the_aws_sdk_after_the_function_own_packages(lam: Any) -> None:
    """As on AWS, ``import boto3`` works without bundling it (from /var/runtime), and a package the
    function bundles wins over the runtime's copy (/var/task comes first on sys.path)."""
    import boto3
    import botocore

    name = create_function(lam, {"app.py": SDK_APP}, MemorySize=256)
    _, out = invoke_json(lam, name)
    assert (out["boto3"], out["botocore"], out["client"]) == (boto3.__version__, botocore.__version__, "SQS")
    assert out["boto3_file"].startswith("/var/runtime/boto3/")
    bundled = create_function(lam, {"app.py": SDK_APP, "jmespath/__init__.py": "__version__ = 'bundled'\n"}, MemorySize=256)
    assert invoke_json(lam, bundled)[1]["jmespath"] == "bundled"
