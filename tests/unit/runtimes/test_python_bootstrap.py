"""lambent/runtimes/python/bootstrap.py run as a host process against a real endpoint.

Expected payloads and log lines are those of AWS's Python runtime (awslambdaric).
"""

from __future__ import annotations

import glob
import json
import os
import re

import pytest
from runtime_harness import FUNCTION_ARN, PYTHON_BOOTSTRAP, Harness

from lambent.runtime_api import RuntimeInitError

ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def as_json(body: bytes) -> dict[str, object]:
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    return parsed


async def init_failure(harness: Harness, handler: str) -> tuple[dict[str, object], str, int]:
    proc = await harness.start_python(handler)
    with pytest.raises(RuntimeInitError) as caught:
        await harness.ready(proc)
    code = await proc.wait_exit()
    return as_json(caught.value.init_error.body), proc.out, code


async def test_handler_result_is_json_serialised(harness: Harness) -> None:
    harness.write("app.py", "def handler(event, context):\n    return {'echo': event, 'n': [1, 2.5, None, True]}\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    result = await harness.invoke({"x": "y"})
    assert result.ok
    assert result.body == b'{"echo": {"x": "y"}, "n": [1, 2.5, null, true]}'


async def test_context_object_matches_aws(harness: Harness) -> None:
    harness.write(
        "app.py",
        "import time\n"
        "def handler(event, ctx):\n"
        "    before = ctx.get_remaining_time_in_millis()\n"
        "    time.sleep(0.05)\n"
        "    return {\n"
        "        'function_name': ctx.function_name, 'function_version': ctx.function_version,\n"
        "        'invoked_function_arn': ctx.invoked_function_arn,\n"
        "        'memory_limit_in_mb': ctx.memory_limit_in_mb, 'aws_request_id': ctx.aws_request_id,\n"
        "        'log_group_name': ctx.log_group_name, 'log_stream_name': ctx.log_stream_name,\n"
        "        'identity': [ctx.identity.cognito_identity_id, ctx.identity.cognito_identity_pool_id],\n"
        "        'client': ctx.client_context and [ctx.client_context.client.installation_id,\n"
        "                   ctx.client_context.client.app_title, ctx.client_context.custom,\n"
        "                   ctx.client_context.env],\n"
        "        'before': before, 'after': ctx.get_remaining_time_in_millis(),\n"
        "    }\n",
    )
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    result = await harness.invoke(
        {},
        request_id="11111111-2222-3333-4444-555555555555",
        timeout_s=10,
        client_context=json.dumps(
            {"client": {"installation_id": "inst", "app_title": "title"}, "custom": {"k": "v"}, "env": {"e": 1}}
        ),
        cognito_identity=json.dumps({"cognitoIdentityId": "cid", "cognitoIdentityPoolId": "pool"}),
    )
    got = as_json(result.body)
    assert got["function_name"] == "my-fn"
    assert got["function_version"] == "$LATEST"
    assert got["invoked_function_arn"] == FUNCTION_ARN
    assert got["memory_limit_in_mb"] == "256"  # a string, as in awslambdaric
    assert got["aws_request_id"] == "11111111-2222-3333-4444-555555555555"
    assert got["log_group_name"] == "/aws/lambda/my-fn"
    assert got["log_stream_name"] == "2024/01/01/[$LATEST]abcdef"
    assert got["identity"] == ["cid", "pool"]
    assert got["client"] == ["inst", "title", {"k": "v"}, {"e": 1}]
    before, after = got["before"], got["after"]
    assert isinstance(before, int) and isinstance(after, int)
    assert 8000 < before <= 10000 and 40 <= before - after < 2000


async def test_context_without_optional_headers(harness: Harness) -> None:
    harness.write(
        "app.py",
        "def handler(e, ctx):\n"
        "    return [ctx.client_context, ctx.identity.cognito_identity_id, repr(ctx).startswith('LambdaContext([')]\n",
    )
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    assert (await harness.invoke({})).body == b"[null, null, true]"


async def test_exception_payload_and_log_match_awslambdaric(harness: Harness) -> None:
    harness.write(
        "app.py",
        "def helper():\n    raise ValueError('bad input')\n\ndef handler(event, context):\n    helper()\n",
    )
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    result = await harness.invoke({}, request_id="req-err")
    assert not result.ok and result.error_type == "ValueError"
    path = harness.task_root / "app.py"
    assert as_json(result.body) == {
        "errorMessage": "bad input",
        "errorType": "ValueError",
        "requestId": "req-err",
        "stackTrace": [
            f'  File "{path}", line 5, in handler\n    helper()\n',
            f'  File "{path}", line 2, in helper\n    raise ValueError(\'bad input\')\n',
        ],
    }
    await proc.settle_output()
    nbsp = "\u00a0"
    assert (
        "[ERROR] ValueError: bad input\rTraceback (most recent call last):\r"
        f'{nbsp * 2}File "{path}", line 5, in handler\r{nbsp * 4}helper()\r'
        f'{nbsp * 2}File "{path}", line 2, in helper\r{nbsp * 4}raise ValueError(\'bad input\')\n'
    ) in proc.out


async def test_environment_keeps_serving_after_an_exception(harness: Harness) -> None:
    harness.write("app.py", "def handler(e, c):\n    if e['fail']:\n        raise KeyError('k')\n    return 'ok'\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    assert (await harness.invoke({"fail": True})).error_type == "KeyError"
    assert (await harness.invoke({"fail": False})).body == b'"ok"'


async def test_missing_module_is_import_module_error_at_init(harness: Harness) -> None:
    body, out, code = await init_failure(harness, "app.handler")
    assert body == {
        "errorMessage": "Unable to import module 'app': No module named 'app'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert code == 1
    assert re.search(rf"\[WARNING\]\t{ISO_MS}\t\tLAMBDA_WARNING: Unhandled exception\. ", out)
    assert (
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'app'\r"
        "Traceback (most recent call last):\n"
    ) in out


async def test_missing_function_is_handler_not_found(harness: Harness) -> None:
    harness.write("app.py", "def other(e, c):\n    pass\n")
    body, _, _ = await init_failure(harness, "app.nope")
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "Handler 'nope' missing on module 'app'"


async def test_syntax_error_is_user_code_syntax_error(harness: Harness) -> None:
    harness.write("app.py", "x = 1\ndef handler(e, c)\n    return 1\n")
    body, _, _ = await init_failure(harness, "app.handler")
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    message = body["errorMessage"]
    assert isinstance(message, str)
    assert message.startswith("Syntax error in module 'app': ")
    assert "line 2" in message
    (frame,) = body["stackTrace"]  # type: ignore[misc]
    assert frame.startswith(f'  File "{harness.task_root / "app.py"}" Line 2\n    def handler(e, c)')


async def test_handler_without_dot_is_malformed_handler_name(harness: Harness) -> None:
    body, _, _ = await init_failure(harness, "x")
    assert body["errorType"] == "Runtime.MalformedHandlerName"
    assert body["errorMessage"] == "Bad handler 'x': not enough values to unpack (expected 2, got 1)"


async def test_exception_at_import_is_reported_with_its_own_type(harness: Harness) -> None:
    harness.write("app.py", "CONFIG = 1 / 0\n")
    body, out, _ = await init_failure(harness, "app.handler")
    assert body["errorType"] == "ZeroDivisionError"
    assert body["errorMessage"] == "division by zero"
    assert any("app.py" in frame for frame in body["stackTrace"])  # type: ignore[union-attr]
    assert "[ERROR] ZeroDivisionError: division by zero\rTraceback (most recent call last):\r" in out


async def test_unserialisable_result_is_marshal_error(harness: Harness) -> None:
    harness.write("app.py", "import datetime\ndef handler(e, c):\n    return {'at': datetime.datetime(2024, 1, 1)}\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    result = await harness.invoke({}, request_id="req-m")
    assert as_json(result.body) == {
        "errorMessage": "Unable to marshal response: Object of type datetime is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "req-m",
        "stackTrace": [],
    }


async def test_decimals_and_bytes_results(harness: Harness) -> None:
    harness.write(
        "app.py",
        "from decimal import Decimal\n"
        "def handler(e, c):\n"
        "    if e == 'bytes':\n"
        "        return b'\\x00raw'\n"
        "    return [Decimal('10'), Decimal('2.5'), Decimal('NaN')]\n",
    )
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    assert (await harness.invoke("numbers")).body == b"[10, 2.5, NaN]"
    assert (await harness.invoke("bytes")).body == b"\x00raw"


async def test_invalid_event_json_is_unmarshal_error(harness: Harness) -> None:
    harness.write("app.py", "def handler(e, c):\n    return 1\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    result = await harness.invoke(payload=b"{not json")
    body = as_json(result.body)
    assert body["errorType"] == "Runtime.UnmarshalError"
    assert str(body["errorMessage"]).startswith("Unable to unmarshal input: Expecting property name")


async def test_print_and_logging_output_formats(harness: Harness) -> None:
    harness.write(
        "app.py",
        "import logging\n"
        "logger = logging.getLogger()\n"
        "def handler(event, context):\n"
        "    print('plain print', event)\n"
        "    logger.info('hidden: root logger is at WARNING')\n"
        "    logger.warning('careful %s', 1)\n"
        "    logger.setLevel(logging.INFO)\n"
        "    logging.getLogger('child').info('now visible')\n"
        "    logger.setLevel(logging.WARNING)\n"
        "    return None\n",
    )
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    assert (await harness.invoke({"a": 1}, request_id="req-log")).body == b"null"
    await proc.settle_output()
    assert "plain print {'a': 1}\n" in proc.out
    assert "hidden" not in proc.out
    assert re.search(rf"^\[WARNING\]\t{ISO_MS}\treq-log\tcareful 1\n", proc.out, re.M)
    assert re.search(rf"^\[INFO\]\t{ISO_MS}\treq-log\tnow visible\n", proc.out, re.M)
    assert proc.err == ""


async def test_log_level_from_environment(harness: Harness) -> None:
    harness.write(
        "app.py",
        "import logging\nlogging.debug('during init')\n"
        "def handler(e, c):\n    logging.getLogger('x').debug('debug line')\n",
    )
    proc = await harness.start_python("app.handler", {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    await harness.ready(proc)
    await harness.invoke({}, request_id="req-dbg")
    await proc.settle_output()
    assert re.search(rf"^\[DEBUG\]\t{ISO_MS}\t\tduring init\n", proc.out, re.M)
    assert re.search(rf"^\[DEBUG\]\t{ISO_MS}\treq-dbg\tdebug line\n", proc.out, re.M)


async def test_module_state_survives_between_invocations(harness: Harness) -> None:
    harness.write(
        "app.py",
        "import os\ncount = 0\ndef handler(e, c):\n    global count\n    count += 1\n    return [count, os.getpid()]\n",
    )
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    first = json.loads((await harness.invoke({})).body)
    second = json.loads((await harness.invoke({})).body)
    assert first[0] == 1 and second[0] == 2
    assert first[1] == second[1] == proc.proc.pid


async def test_trace_id_is_exported_per_invocation(harness: Harness) -> None:
    harness.write("app.py", "import os\ndef handler(e, c):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    traced = await harness.invoke({}, trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    assert json.loads(traced.body) == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    assert json.loads((await harness.invoke({})).body) is None


@pytest.mark.parametrize("handler", ["src/pkg/app.handler", "src.pkg.app.handler"])
async def test_handler_in_a_subdirectory(harness: Harness, handler: str) -> None:
    harness.write("src/pkg/app.py", "def handler(e, c):\n    return __name__\n")
    proc = await harness.start_python(handler)
    await harness.ready(proc)
    assert json.loads((await harness.invoke({})).body) == "src.pkg.app"


async def test_task_root_is_first_on_sys_path_and_cwd(harness: Harness) -> None:
    harness.write("app.py", "import os, sys\ndef handler(e, c):\n    return [sys.path[0], os.getcwd()]\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    assert json.loads((await harness.invoke({})).body) == [str(harness.task_root)] * 2


async def test_large_response_over_limit_is_refused_and_runtime_continues(harness: Harness) -> None:
    harness.write("app.py", "def handler(e, c):\n    return 'x' * e\n")
    proc = await harness.start_python("app.handler")
    await harness.ready(proc)
    big = await harness.invoke(7 * 1024 * 1024)
    assert not big.ok and big.error_type == "Function.ResponseSizeTooLarge"
    assert (await harness.invoke(3)).body == b'"xxx"'


def _interpreter(minor: int) -> str | None:
    """A CPython 3.<minor> on this machine, if any (system, /usr/local or pyenv)."""
    candidates = [f"/usr/bin/python3.{minor}", f"/usr/local/bin/python3.{minor}"]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


@pytest.mark.parametrize("minor", [9, 10, 11, 12, 13])
async def test_bootstrap_runs_on_supported_python_versions(harness: Harness, minor: int) -> None:
    python = _interpreter(minor)
    if python is None:
        pytest.skip(f"no python3.{minor} on this machine")
    harness.write(
        "app.py",
        "import logging, sys\n"
        "def handler(e, c):\n"
        "    logging.warning('w')\n"
        "    if e.get('fail'):\n"
        "        raise ValueError('v')\n"
        "    return list(sys.version_info[:2])\n",
    )
    proc = await harness.spawn([python, "-S", "-u", str(PYTHON_BOOTSTRAP)], "app.handler")
    await harness.ready(proc)
    assert json.loads((await harness.invoke({})).body) == [3, minor]
    failed = await harness.invoke({"fail": True})
    assert as_json(failed.body)["errorType"] == "ValueError"
