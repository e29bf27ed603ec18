"""The README's commands run as written, the way a new user runs them: from the checkout (which
holds ``.venv`` and the server's ``.lambent``), with nothing on PATH but what the README puts there,
against a server started like ``make run`` does (only the port differs). Bounded: < 60 s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from typing import Any

from botocore.exceptions import ClientError

from harness import ROLE, Server, require_prerequisites, zip_of

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
TIMEOUT_S = 60


def walkthrough_script() -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README has no walkthrough block"
    return block.group(1)


def python_blocks() -> list[str]:
    """The README's Python snippets that talk to the server (boto3 and Scheduler)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return [b for b in blocks if "endpoint_url=" in b]


def user_env() -> dict[str, str]:
    """The environment of a fresh shell: no AWS_* settings, no venv on PATH (the README puts it there)."""
    venv_bin = str(REPO / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBENT_")) and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if p and Path(p).resolve() != Path(venv_bin).resolve())
    return env


def start_like_make_run(checkout: Path) -> Server:
    # A checkout: the real venv (as `make install` left it) and the server's data in ./.lambent
    checkout.mkdir()
    (checkout / ".venv").symlink_to(REPO / ".venv")
    srv = Server(checkout / ".lambent")
    env = srv.env()
    env.pop("LAMBENT_ROOT_ACCESS_KEY_ID")  # generated on first start, as with `make run`
    env.pop("LAMBENT_ROOT_SECRET_ACCESS_KEY")
    srv.env = lambda: env  # type: ignore[method-assign]
    return srv.start()


def test_readme_walkthrough(tmp_path: Path) -> None:
    require_prerequisites()
    checkout = tmp_path / "lambent"
    srv = start_like_make_run(checkout)
    try:
        script = "set -euo pipefail\n" + walkthrough_script().replace("127.0.0.1:9900", f"127.0.0.1:{srv.port}")
        env = user_env()
        # Given a shell whose PATH does not have the checkout's aws CLI
        found = shutil.which("aws", path=env["PATH"])
        assert found is None or not Path(found).resolve().is_relative_to(REPO.resolve())
        # When the walkthrough runs in the checkout
        result = subprocess.run(["bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True,
                                timeout=TIMEOUT_S)
        # Then every command succeeds and the outputs are what the README says
        assert result.returncode == 0, result.stdout + result.stderr
        assert '{"greeting": "Hello, lambent!"}' in result.stdout
        assert "START RequestId:" in result.stdout and "REPORT RequestId:" in result.stdout
        assert "invoked as hello" in result.stdout
        assert "256" in result.stdout
    finally:
        srv.stop()
        srv.cleanup()


def test_readme_python_snippets(tmp_path: Path) -> None:
    require_prerequisites()
    checkout = tmp_path / "lambent"
    srv = start_like_make_run(checkout)
    try:
        key, secret = (checkout / ".lambent" / "root-credentials").read_text().split()
        blocks = python_blocks()
        assert len(blocks) == 2 and "boto3.client(\"lambda\"" in blocks[0] and "boto3.client(\"scheduler\"" in blocks[1]
        # Each snippet passes credentials: the "..." placeholders are the only thing a user fills in
        for block in blocks:
            assert block.count('aws_access_key_id="..."') == 1 and block.count('aws_secret_access_key="..."') == 1, block
        code = "\n".join(blocks).replace("127.0.0.1:9900", f"127.0.0.1:{srv.port}")
        code = code.replace('aws_access_key_id="..."', f'aws_access_key_id="{key}"')
        code = code.replace('aws_secret_access_key="..."', f'aws_secret_access_key="{secret}"')
        code += "\nprint('schedule', sch.get_schedule(Name='nightly')['ScheduleExpression'])\n"
        # When they run with the checkout's interpreter
        result = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", code], cwd=checkout,
                                env=user_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
        # Then the function answers and the schedule exists
        assert result.returncode == 0, result.stdout + result.stderr
        assert "{'ok': True, 'event': {'hello': 'world'}}" in result.stdout
        assert "schedule cron(0 3 * * ? *)" in result.stdout
    finally:
        srv.stop()
        srv.cleanup()


def test_the_nodejs_runtime_served_is_the_hosts_major_and_others_are_refused(lam: Any) -> None:
    # Given the host's node (the README: "NN = the major version of the host's node")
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout
    major = re.match(r"v(\d+)\.", out)
    assert major, out
    served = f"nodejs{major.group(1)}.x"
    assert "`nodejsNN.x`, NN = the major version of the host's `node`" in README.read_text()
    code = zip_of({"index.js": "exports.handler = async () => 'ok';\n"})
    name = f"node-major-{major.group(1)}"
    # Then that runtime is served
    lam.create_function(FunctionName=name, Runtime=served, Role=ROLE, Handler="index.handler", Code={"ZipFile": code})
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        assert lam.invoke(FunctionName=name)["Payload"].read() == b'"ok"'
        # and any other nodejsNN.x is refused as AWS refuses a runtime it does not offer
        for other in {f"nodejs{n}.x" for n in (18, 20, 22)} - {served}:
            try:
                lam.create_function(FunctionName=f"{name}-other", Runtime=other, Role=ROLE, Handler="index.handler",
                                    Code={"ZipFile": code})
            except ClientError as exc:
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                assert exc.response["Error"]["Code"] == "InvalidParameterValueException"
                assert exc.response["Error"]["Message"].startswith(
                    f"The runtime parameter of {other} is not supported by this lambent server. Supported runtimes here: ")
                assert served in exc.response["Error"]["Message"]
            else:
                raise AssertionError(f"{other} was accepted on a host with node {out.strip()}")
    finally:
        lam.delete_function(FunctionName=name)
