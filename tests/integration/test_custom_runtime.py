"""provided.al2023: the package's own bootstrap, including AWS's awslambdaric, unmodified."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from typing import Any

import pytest

from harness import ROLE, create_function, invoke_json, unique


def test_shell_bootstrap_speaks_the_runtime_api(lam: Any) -> None:
    bootstrap = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(python3 -c "import urllib.request,sys; r=urllib.request.urlopen('$API/next'); open('$HEADERS','w').write(r.headers['Lambda-Runtime-Aws-Request-Id']); sys.stdout.write(r.read().decode())")
  ID=$(cat "$HEADERS")
  python3 -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('$API/$ID/response', data=sys.argv[1].encode(), method='POST'))" "{\\"echo\\": $EVENT}"
done
"""
    name = create_function(lam, {"bootstrap": bootstrap}, runtime="provided.al2023", handler="ignored", modes={"bootstrap": 0o755})
    assert invoke_json(lam, name, {"k": "v"})[1] == {"echo": {"k": "v"}}


def test_missing_bootstrap_is_invalid_entrypoint(lam: Any) -> None:
    name = create_function(lam, {"readme.txt": "no bootstrap"}, runtime="provided.al2023", handler="x")
    resp, body = invoke_json(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"


@pytest.fixture(scope="module")
def ric_package(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A zip with awslambdaric (from PyPI, for the sandbox's /usr/bin/python3) and a handler."""
    target = tmp_path_factory.mktemp("ric")
    pyver = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                           capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--only-binary=:all:", "--python-version", pyver,
         "--implementation", "cp", "--platform", "manylinux2014_x86_64", "--target", str(target), "awslambdaric"],
        check=True,
    )
    (target / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise KeyError('missing thing')\n"
        "    return {'ric': True, 'event': event, 'request_id': context.aws_request_id, 'fn': context.function_name}\n"
    )
    (target / "bootstrap").write_text("#!/bin/sh\nexport PYTHONPATH=/var/task\nexec /usr/bin/python3 -m awslambdaric \"$_HANDLER\"\n")
    os.chmod(target / "bootstrap", 0o755)
    out = target.parent / "ric.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(target.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(path.relative_to(target)))
                info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    shutil.rmtree(target)
    return out.read_bytes()


def test_awslambdaric_unmodified(lam: Any, ric_package: bytes) -> None:
    name = unique("ric")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": ric_package}, MemorySize=256, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    resp, body = invoke_json(lam, name, {"x": 1})
    assert "FunctionError" not in resp, body
    assert body == {"ric": True, "event": {"x": 1}, "request_id": resp["ResponseMetadata"]["RequestId"], "fn": name}
    resp, body = invoke_json(lam, name, {"fail": True})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "KeyError"
