"""lambent/runtimes/nodejs/bootstrap.mjs run as a host process (node) against a real endpoint.

Expected payloads and log lines are those of AWS's Node.js runtime interface client.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from runtime_harness import FUNCTION_ARN, NODE_BOOTSTRAP, Harness

from lambent.runtime_api import RuntimeInitError

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def as_json(body: bytes) -> dict[str, object]:
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    return parsed


async def started(harness: Harness, handler: str = "app.handler", env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    proc = await harness.start_node(handler, env)
    await harness.ready(proc)
    return proc


async def init_failure(harness: Harness, handler: str) -> tuple[dict[str, object], str, int]:
    proc = await harness.start_node(handler)
    with pytest.raises(RuntimeInitError) as caught:
        await harness.ready(proc)
    code = await proc.wait_exit()
    return as_json(caught.value.init_error.body), proc.out, code


async def test_commonjs_async_handler_keeps_module_state_between_invocations(harness: Harness) -> None:
    harness.write(
        "app.js",
        "let count = 0;\n"
        "exports.handler = async (event) => ({ count: ++count, pid: process.pid, event });\n",
    )
    proc = await started(harness)
    first = as_json((await harness.invoke({"a": 1})).body)
    second = as_json((await harness.invoke({"a": 2})).body)
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"] == proc.proc.pid
    assert second["event"] == {"a": 2}


async def test_esm_module_with_mjs_extension(harness: Harness) -> None:
    harness.write("app.mjs", "export const handler = async (event) => `esm ${event.name}`;\n")
    await started(harness)
    assert (await harness.invoke({"name": "ok"})).body == b'"esm ok"'


async def test_js_file_is_esm_when_package_json_says_module(harness: Harness) -> None:
    harness.write("package.json", '{"type": "module"}')
    harness.write("app.js", "export const handler = async () => typeof require;\n")
    await started(harness)
    assert (await harness.invoke({})).body == b'"undefined"'


async def test_cjs_extension_and_subdirectory_handler(harness: Harness) -> None:
    harness.write("src/lib/app.cjs", "module.exports.nested = { handler: async () => __filename };\n")
    await started(harness, "src/lib/app.nested.handler")
    assert json.loads((await harness.invoke({})).body) == str(harness.task_root / "src/lib/app.cjs")


async def test_context_fields_and_remaining_time(harness: Harness) -> None:
    harness.write(
        "app.js",
        "exports.handler = async (event, ctx) => {\n"
        "  const before = ctx.getRemainingTimeInMillis();\n"
        "  await new Promise((r) => setTimeout(r, 50));\n"
        "  return { functionName: ctx.functionName, functionVersion: ctx.functionVersion,\n"
        "    invokedFunctionArn: ctx.invokedFunctionArn, memoryLimitInMB: ctx.memoryLimitInMB,\n"
        "    awsRequestId: ctx.awsRequestId, logGroupName: ctx.logGroupName,\n"
        "    logStreamName: ctx.logStreamName, identity: ctx.identity, clientContext: ctx.clientContext,\n"
        "    waits: ctx.callbackWaitsForEmptyEventLoop, before, after: ctx.getRemainingTimeInMillis(),\n"
        "    trace: process.env._X_AMZN_TRACE_ID };\n"
        "};\n",
    )
    await started(harness)
    result = await harness.invoke(
        {},
        request_id="node-req-1",
        timeout_s=10,
        trace_id="Root=1-abc",
        client_context='{"custom": {"k": "v"}}',
        cognito_identity='{"cognitoIdentityId": "cid", "cognitoIdentityPoolId": "pool"}',
    )
    got = as_json(result.body)
    before, after = got.pop("before"), got.pop("after")
    assert got == {
        "functionName": "my-fn",
        "functionVersion": "$LATEST",
        "invokedFunctionArn": FUNCTION_ARN,
        "memoryLimitInMB": "256",
        "awsRequestId": "node-req-1",
        "logGroupName": "/aws/lambda/my-fn",
        "logStreamName": "2024/01/01/[$LATEST]abcdef",
        "identity": {"cognitoIdentityId": "cid", "cognitoIdentityPoolId": "pool"},
        "clientContext": {"custom": {"k": "v"}},
        "waits": True,
        "trace": "Root=1-abc",
    }
    assert isinstance(before, int) and isinstance(after, int)
    assert 8000 < before <= 10000 and 40 <= before - after < 2000


async def test_thrown_error_payload_and_log_line(harness: Harness) -> None:
    harness.write("app.mjs", "export const handler = async () => { throw new TypeError('boom'); };\n")
    proc = await started(harness)
    result = await harness.invoke({}, request_id="node-err")
    assert not result.ok and result.error_type == "TypeError"
    body = as_json(result.body)
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "boom"
    trace = body["trace"]
    assert isinstance(trace, list) and trace[0] == "TypeError: boom"
    assert str(harness.task_root / "app.mjs") in trace[1] and trace[1].startswith("    at ")
    await proc.settle_output()
    line = re.search(rf"^({ISO_MS})\tnode-err\tERROR\tInvoke Error \t(\{{.*\}})$", proc.out, re.M)
    assert line is not None
    logged = json.loads(line.group(2))
    assert (logged["errorType"], logged["errorMessage"], logged["stack"][0]) == ("TypeError", "boom", "TypeError: boom")


async def test_callback_result_waits_for_empty_event_loop_by_default(harness: Harness) -> None:
    harness.write(
        "app.js",
        "exports.handler = (event, context, callback) => {\n"
        "  setTimeout(() => console.log('timer fired'), 400);\n"
        "  callback(null, 'from callback');\n"
        "};\n",
    )
    proc = await started(harness)
    t0 = time.monotonic()
    result = await harness.invoke({}, request_id="cb-1")
    assert result.body == b'"from callback"'
    assert time.monotonic() - t0 >= 0.35  # held until the timer ran
    await proc.settle_output()
    assert re.search(rf"^{ISO_MS}\tcb-1\tINFO\ttimer fired$", proc.out, re.M)


async def test_callback_does_not_wait_when_told_not_to(harness: Harness) -> None:
    harness.write(
        "app.js",
        "exports.handler = (event, context, callback) => {\n"
        "  context.callbackWaitsForEmptyEventLoop = false;\n"
        "  setTimeout(() => {}, 3000);\n"
        "  callback(null, { fast: true });\n"
        "};\n",
    )
    await started(harness)
    t0 = time.monotonic()
    assert (await harness.invoke({})).body == b'{"fast":true}'
    assert time.monotonic() - t0 < 2.0


async def test_callback_error_and_legacy_context_methods(harness: Harness) -> None:
    harness.write(
        "app.js",
        "exports.handler = (event, context, callback) => {\n"
        "  if (event.mode === 'cb-error') return callback(new Error('cb failed'));\n"
        "  if (event.mode === 'succeed') return context.succeed({ via: 'succeed' });\n"
        "  if (event.mode === 'fail') return context.fail('plain string failure');\n"
        "  if (event.mode === 'done') return context.done(null, 'via done');\n"
        "};\n",
    )
    await started(harness)
    cb_error = as_json((await harness.invoke({"mode": "cb-error"})).body)
    assert (cb_error["errorType"], cb_error["errorMessage"]) == ("Error", "cb failed")
    assert (await harness.invoke({"mode": "succeed"})).body == b'{"via":"succeed"}'
    failed = await harness.invoke({"mode": "fail"})
    assert not failed.ok
    assert as_json(failed.body) == {"errorType": "string", "errorMessage": "plain string failure", "trace": []}
    assert (await harness.invoke({"mode": "done"})).body == b'"via done"'


async def test_sync_handler_that_never_answers_returns_null_when_loop_drains(harness: Harness) -> None:
    harness.write("app.js", "exports.handler = (event) => { setTimeout(() => {}, 100); };\n")
    await started(harness)
    result = await harness.invoke({})
    assert result.ok and result.body == b"null"


async def test_async_handler_whose_promise_never_settles_fails_with_nodejs_exit(harness: Harness) -> None:
    harness.write("app.mjs", "export const handler = async () => new Promise(() => {});\n")
    await started(harness)
    result = await harness.invoke({})
    assert not result.ok and result.error_type == "Runtime.NodeJsExit"


async def test_unserialisable_result_is_an_error(harness: Harness) -> None:
    harness.write("app.js", "exports.handler = async () => ({ big: 10n });\n")
    await started(harness)
    result = await harness.invoke({})
    body = as_json(result.body)
    assert (body["errorType"], body["errorMessage"]) == ("Error", "Unable to stringify response body")


async def test_console_is_patched_to_aws_format(harness: Harness) -> None:
    harness.write(
        "app.js",
        "console.log('loaded');\n"
        "exports.handler = async () => {\n"
        "  console.log('hello %s', 'world', { a: 1 });\n"
        "  console.info('info');\n  console.warn('warn');\n  console.error('error');\n"
        "  console.debug('debug');\n  console.log('multi\\nline');\n"
        "  return 1;\n"
        "};\n",
    )
    proc = await started(harness)
    await harness.invoke({}, request_id="log-1")
    await proc.settle_output()
    out = proc.out
    assert re.search(rf"^{ISO_MS}\tundefined\tINFO\tloaded$", out, re.M)
    for level, text in [
        ("INFO", "hello world { a: 1 }"),
        ("INFO", "info"),
        ("WARN", "warn"),
        ("ERROR", "error"),
        ("DEBUG", "debug"),
        ("INFO", "multi\rline"),
    ]:
        assert re.search(rf"^{ISO_MS}\tlog-1\t{level}\t{re.escape(text)}$", out, re.M), (level, text)
    assert proc.err == ""


async def test_missing_module_is_import_module_error(harness: Harness) -> None:
    body, out, code = await init_failure(harness, "index.handler")
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == f"Error: Cannot find module 'index'\nRequire stack:\n- {NODE_BOOTSTRAP}"
    trace = body["trace"]
    assert isinstance(trace, list) and trace[0] == "Runtime.ImportModuleError: Error: Cannot find module 'index'"
    assert code == 129
    assert re.search(rf"^{ISO_MS}\tundefined\tERROR\tUncaught Exception \t\{{\"errorType\":\"Runtime.ImportModuleError\"", out, re.M)


async def test_missing_export_is_handler_not_found(harness: Harness) -> None:
    harness.write("index.js", "exports.other = () => 1;\n")
    body, _, _ = await init_failure(harness, "index.handler")
    assert (body["errorType"], body["errorMessage"]) == (
        "Runtime.HandlerNotFound",
        "index.handler is undefined or not exported",
    )


async def test_syntax_error_is_user_code_syntax_error(harness: Harness) -> None:
    harness.write("app.mjs", "export const handler = async () => { return 1; }}\n")
    body, _, _ = await init_failure(harness, "app.handler")
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"] == "SyntaxError: Unexpected token '}'"


async def test_malformed_handler_name(harness: Harness) -> None:
    body, _, _ = await init_failure(harness, "nohandler")
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.MalformedHandlerName", "Bad handler")


async def test_unhandled_rejection_fails_the_invocation_and_exits(harness: Harness) -> None:
    harness.write(
        "app.mjs",
        "export const handler = async () => {\n"
        "  Promise.reject(new Error('forgotten'));\n"
        "  await new Promise((r) => setTimeout(r, 100));\n"
        "  return 'too late';\n"
        "};\n",
    )
    proc = await started(harness)
    result = await harness.invoke({})
    body = as_json(result.body)
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.UnhandledPromiseRejection", "Error: forgotten")
    assert await proc.wait_exit() == 128
    assert "\tERROR\tUnhandled Promise Rejection \t{" in proc.out


async def test_uncaught_exception_in_a_timer_fails_the_invocation_and_exits(harness: Harness) -> None:
    harness.write(
        "app.js",
        "exports.handler = (event, ctx, cb) => { setTimeout(() => { throw new RangeError('async boom'); }, 10); };\n",
    )
    proc = await started(harness)
    result = await harness.invoke({})
    assert (result.ok, result.error_type) == (False, "RangeError")
    assert await proc.wait_exit() == 129
