"""nodejs20.x: CommonJS and ESM handlers, async and callback styles, errors and logs."""

from __future__ import annotations

import base64
import shutil
import subprocess
from typing import Any

import pytest

from harness import create_function, invoke_json


def node_runtime() -> str:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout if shutil.which("node") else ""
    return f"nodejs{out.strip().lstrip('v').split('.')[0]}.x" if out else "nodejs20.x"


def test_commonjs_async_handler(lam: Any) -> None:
    name = create_function(lam, {"index.js": "let n = 0;\nexports.handler = async (event, context) => {\n  n += 1;\n  console.log('hi from node');\n  return { n, got: event, fn: context.functionName, left: context.getRemainingTimeInMillis() > 0 };\n};\n"},
                           runtime=node_runtime(), handler="index.handler")
    resp, body = invoke_json(lam, name, {"a": 1}, LogType="Tail")
    assert body == {"n": 1, "got": {"a": 1}, "fn": name, "left": True}
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "\tINFO\thi from node" in tail
    assert invoke_json(lam, name)[1]["n"] == 2


def test_esm_handler_mjs(lam: Any) -> None:
    name = create_function(lam, {"app.mjs": "export const handler = async (event) => ({ esm: true, v: event.v });\n"},
                           runtime=node_runtime(), handler="app.handler")
    assert invoke_json(lam, name, {"v": 3})[1] == {"esm": True, "v": 3}


def test_esm_via_package_type_module(lam: Any) -> None:
    name = create_function(lam, {"package.json": '{"type": "module"}', "src/index.js": "export async function handler() { return 'pkg-esm'; }\n"},
                           runtime=node_runtime(), handler="src/index.handler")
    assert invoke_json(lam, name)[1] == "pkg-esm"


def test_callback_handler(lam: Any) -> None:
    name = create_function(lam, {"index.js": "exports.handler = (event, context, callback) => {\n  setTimeout(() => callback(null, { cb: event.x * 2 }), 10);\n};\n"},
                           runtime=node_runtime(), handler="index.handler")
    assert invoke_json(lam, name, {"x": 21})[1] == {"cb": 42}


def test_callback_error_and_thrown_error(lam: Any) -> None:
    name = create_function(lam, {"index.js": "exports.handler = async (event) => { if (event.cb) throw new TypeError('typed'); throw new Error('boom'); };\n"},
                           runtime=node_runtime(), handler="index.handler")
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Error" and body["errorMessage"] == "boom" and isinstance(body["trace"], list)
    assert invoke_json(lam, name, {"cb": True})[1]["errorType"] == "TypeError"


@pytest.mark.parametrize(
    "files,handler,etype",
    [
        ({"index.js": "exports.x = 1;\n"}, "missing.handler", "Runtime.ImportModuleError"),
        ({"index.js": "exports.x = 1;\n"}, "index.handler", "Runtime.HandlerNotFound"),
        ({"index.js": "exports.handler = async () => {;\n"}, "index.handler", "Runtime.UserCodeSyntaxError"),
    ],
)
def test_node_init_errors(lam: Any, files: dict[str, str | bytes], handler: str, etype: str) -> None:
    name = create_function(lam, files, runtime=node_runtime(), handler=handler)
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled" and body["errorType"] == etype, body
