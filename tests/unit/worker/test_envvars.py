"""The environment a function sees: AWS's variables, the logging controls, nothing AWS does not set."""

from __future__ import annotations

import dataclasses

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeLaunch
from lambent.worker.envvars import build_env

CFG = FunctionConfig(name="fn", runtime="python3.11", role="arn:aws:iam::123456789012:role/r", handler="app.handler",
                     code_hash_hex="00", code_sha256_b64="AA==", code_size=1, last_modified="2024-01-01T00:00:00.000+0000",
                     revision_id="r1")
LAUNCH = RuntimeLaunch(("/usr/bin/python3.11",), None, (("PYTHONPATH", "/var/runtime"),))


def _env(cfg: FunctionConfig) -> dict[str, str]:
    return build_env(cfg, LAUNCH, region="us-east-1", log_stream="2024/01/01/[$LATEST]x")


def test_json_format_sets_the_format_and_the_application_level() -> None:
    env = _env(dataclasses.replace(CFG, log_format="JSON", application_log_level="WARN", system_log_level="INFO"))
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON" and env["AWS_LAMBDA_LOG_LEVEL"] == "WARN"


def test_the_configured_level_wins_over_the_functions_own_variable_in_json_format() -> None:
    cfg = dataclasses.replace(CFG, log_format="JSON", application_log_level="ERROR",
                              environment={"AWS_LAMBDA_LOG_LEVEL": "TRACE", "AWS_LAMBDA_LOG_FORMAT": "Text"})
    env = _env(cfg)
    assert env["AWS_LAMBDA_LOG_LEVEL"] == "ERROR" and env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"


def test_text_format_sets_no_logging_variables_and_keeps_the_functions_own() -> None:
    assert "AWS_LAMBDA_LOG_FORMAT" not in _env(CFG) and "AWS_LAMBDA_LOG_LEVEL" not in _env(CFG)
    own = _env(dataclasses.replace(CFG, environment={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}))
    assert own["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"


def test_no_variable_aws_does_not_set() -> None:
    env = _env(CFG)
    assert not {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "HOME"} & set(env)
    assert env["PATH"].startswith("/var/lang/bin:") and env["PYTHONPATH"] == "/var/runtime"


CREDS = {"AWS_ACCESS_KEY_ID": "ASIAROLE", "AWS_SECRET_ACCESS_KEY": "role-secret", "AWS_SESSION_TOKEN": "role-token"}


def test_the_roles_credentials_and_the_endpoint_win_over_the_functions_own_variables() -> None:
    # Given a function whose configuration names other credentials and another endpoint (the
    # control plane refuses the reserved keys; a configuration from elsewhere must still lose)
    cfg = dataclasses.replace(CFG, environment={"AWS_ACCESS_KEY_ID": "AKIAMINE", "AWS_SESSION_TOKEN": "mine",
                                                "AWS_ENDPOINT_URL": "http://attacker.invalid", "MINE": "kept"})
    env = build_env(cfg, LAUNCH, region="us-east-1", log_stream="s", credentials=CREDS,
                    endpoint_url="http://127.0.0.1:9002")
    assert {k: env[k] for k in CREDS} == CREDS
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9002" and env["MINE"] == "kept"


def test_without_credentials_or_endpoint_none_is_invented() -> None:
    env = _env(CFG)
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} & set(env)


def test_the_reserved_variables_win_over_the_functions_own() -> None:
    cfg = dataclasses.replace(CFG, environment={"AWS_REGION": "eu-west-1", "_HANDLER": "evil.handler",
                                                "AWS_DEFAULT_REGION": "eu-west-1"})
    env = _env(cfg)
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"], env["_HANDLER"]) == ("us-east-1", "us-east-1", "app.handler")
