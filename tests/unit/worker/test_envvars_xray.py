"""The X-Ray daemon's variables, as Lambda sets them, only when the environment has a daemon."""

from __future__ import annotations

import dataclasses

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeLaunch
from lambent.worker.envvars import build_env

CFG = FunctionConfig(name="fn", runtime="python3.11", role="arn:aws:iam::123456789012:role/r", handler="app.handler",
                     code_hash_hex="00", code_sha256_b64="AA==", code_size=1, last_modified="2024-01-01T00:00:00.000+0000",
                     revision_id="r1")
LAUNCH = RuntimeLaunch(("/usr/bin/python3.11",), None, ())


def test_daemon_variables() -> None:
    env = build_env(CFG, LAUNCH, region="us-east-1", log_stream="s", xray_daemon="127.0.0.1:2000")
    assert env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"
    assert (env["_AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_PORT"]) == ("127.0.0.1", "2000")
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"


def test_the_function_may_choose_its_context_missing_strategy_not_the_daemon() -> None:
    cfg = dataclasses.replace(CFG, environment={"AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
                                                "AWS_XRAY_DAEMON_ADDRESS": "10.0.0.1:9"})
    env = build_env(cfg, LAUNCH, region="us-east-1", log_stream="s", xray_daemon="127.0.0.1:2000")
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "IGNORE_ERROR" and env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"


def test_no_daemon_no_variables() -> None:
    env = build_env(CFG, LAUNCH, region="us-east-1", log_stream="s")
    assert not {k for k in env if "XRAY" in k}
