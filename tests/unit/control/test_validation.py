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
