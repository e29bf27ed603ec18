from __future__ import annotations

import pytest

from lambent.control.validation import Checker, check_environment
from lambent.errors import InvalidParameterValue, ValidationError


def test_range_violation_message_matches_aws() -> None:
    c = Checker()
    c.int_range("memorySize", 20000, 128, 10240)
    with pytest.raises(ValidationError) as exc:
        c.raise_if_any()
    assert exc.value.message == (
        "1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: "
        "Member must have value less than or equal to 10240"
    )


def test_several_violations_are_reported_together() -> None:
    c = Checker()
    c.int_range("timeout", 0, 1, 900)
    c.string("handler", "a b", max_len=128, pattern=r"[^\s]+")
    with pytest.raises(ValidationError, match=r"^2 validation errors detected: .*timeout.*; .*handler"):
        c.raise_if_any()


def test_enum_violation() -> None:
    c = Checker()
    c.enum("runtime", "cobol", ["python3.11", "nodejs20.x"])
    with pytest.raises(ValidationError, match=r"Member must satisfy enum value set: \[python3.11, nodejs20.x\]"):
        c.raise_if_any()


def test_environment_over_4kb() -> None:
    with pytest.raises(InvalidParameterValue, match="exceeded the 4KB limit"):
        check_environment({"BIG": "x" * 5000}, 4096)


def test_reserved_environment_keys() -> None:
    with pytest.raises(InvalidParameterValue, match="Reserved keys used in this request: AWS_REGION"):
        check_environment({"AWS_REGION": "eu-west-1"}, 4096)


def test_bad_environment_key() -> None:
    with pytest.raises(ValidationError):
        check_environment({"1BAD": "x"}, 4096)


def test_good_environment() -> None:
    assert check_environment({"STAGE": "prod"}, 4096) == {"STAGE": "prod"}


RESERVED_MESSAGE = (
    "Lambda was unable to configure your environment variables because the environment variables you have provided "
    "contains reserved keys that are currently not supported for modification. Reserved keys used in this request: "
)


@pytest.mark.parametrize("key", [
    "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
])
def test_every_reserved_key_is_refused_with_awss_text(key: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        check_environment({"STAGE": "prod", key: "x"}, 4096)
    assert exc.value.message == RESERVED_MESSAGE + key


@pytest.mark.parametrize("key", ["_HANDLER", "_X_AMZN_TRACE_ID"])
def test_reserved_keys_outside_the_key_pattern_fail_the_model_check_first(key: str) -> None:
    # the model's key pattern [a-zA-Z]([a-zA-Z0-9_])+ already refuses a leading underscore
    with pytest.raises(ValidationError, match=r"Map keys must satisfy constraint"):
        check_environment({key: "x"}, 4096)


def test_several_reserved_keys_are_named_in_the_requests_order() -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        check_environment({"AWS_SESSION_TOKEN": "t", "OK": "1", "AWS_ACCESS_KEY_ID": "k", "AWS_REGION": "r"}, 4096)
    assert exc.value.message == RESERVED_MESSAGE + "AWS_SESSION_TOKEN, AWS_ACCESS_KEY_ID, AWS_REGION"


@pytest.mark.parametrize("key", ["TZ", "LANG", "PATH", "LD_LIBRARY_PATH", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_EXEC_WRAPPER",
                                 "AWS_ENDPOINT_URL", "aws_region", "AWS_REGION_NAME"])
def test_unreserved_keys_and_near_misses_are_accepted(key: str) -> None:
    assert check_environment({key: "v"}, 4096) == {key: "v"}
