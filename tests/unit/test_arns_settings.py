from __future__ import annotations

from pathlib import Path

import pytest

from lambent import arns
from lambent.errors import AccessDenied, InvalidParameterValue, ResourceNotFound, ValidationError
from lambent.settings import Settings


@pytest.mark.parametrize(
    "raw,name,qualifier",
    [
        ("my-fn", "my-fn", None),
        ("my-fn:prod", "my-fn", "prod"),
        ("my-fn:$LATEST", "my-fn", "$LATEST"),
        ("123456789012:function:my-fn", "my-fn", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-fn:7", "my-fn", "7"),
    ],
)
def test_name_forms(raw: str, name: str, qualifier: str | None) -> None:
    ref = arns.parse_function_name(raw)
    assert (ref.name, ref.qualifier) == (name, qualifier)


def test_bad_name_is_validation_error_with_pattern() -> None:
    with pytest.raises(ValidationError, match="Member must satisfy regular expression pattern"):
        arns.parse_function_name("bad name!")


def test_name_longer_than_64() -> None:
    with pytest.raises(InvalidParameterValue):
        arns.parse_function_name("a" * 65)


def test_other_account_is_access_denied_and_other_region_not_reachable() -> None:
    # AWS: another account's function is 403 AccessDeniedException, another region's is 404 (issue 9)
    ref = arns.parse_function_name("arn:aws:lambda:us-east-1:111111111111:function:f")
    with pytest.raises(AccessDenied):
        arns.check_account(ref, "us-east-1", "000000000000")
    ref = arns.parse_function_name("arn:aws:lambda:eu-west-1:000000000000:function:f")
    with pytest.raises(ResourceNotFound, match=r"^Functions from 'eu-west-1' are not reachable in this region \('us-east-1'\)$"):
        arns.check_account(ref, "us-east-1", "000000000000")


def test_qualifier_mismatch() -> None:
    with pytest.raises(InvalidParameterValue):
        arns.resolve_qualifier(arns.FunctionRef("f", "1"), "2")


def test_settings_from_env_uses_documented_names(tmp_path: Path) -> None:
    env = {
        "LAMBENT_ACCOUNT_ID": "123456789012",
        "LAMBENT_REGION": "eu-west-1",
        "LAMBENT_ROOT_ACCESS_KEY_ID": "AK",
        "LAMBENT_ROOT_SECRET_ACCESS_KEY": "SK",
        "LAMBENT_LIMITS_ACCOUNT_CONCURRENCY": "50",
        "LAMBENT_WORKER_IDLE_TTL_S": "1.5",
    }
    s = Settings.from_env(env, data_dir=tmp_path)
    assert (s.account_id, s.region, s.root_access_key_id, s.root_secret_access_key) == ("123456789012", "eu-west-1", "AK", "SK")
    assert s.limits.account_concurrency == 50
    assert s.worker.idle_ttl_s == 1.5
    assert s.data_dir == tmp_path


def test_bad_setting_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="LAMBENT_PORT"):
        Settings.from_env({"LAMBENT_PORT": "abc"})


def test_a_function_arn_names_its_key_and_anything_else_none() -> None:
    from lambent.arns import arn_key

    assert arn_key("arn:aws:lambda:us-east-1:111122223333:function:f") == "111122223333:function:f"
    assert arn_key("arn:aws:lambda:us-east-1:111122223333:function:f:$LATEST") == "111122223333:function:f"
    assert arn_key("arn:aws:lambda:us-east-1:111122223333:function:f:live") == "111122223333:function:f"
    for other in ("", "f", "arn:aws:sqs:us-east-1:111122223333:function:f", "arn:aws:lambda:us-east-1:1:function:f",
                  "arn:aws:lambda:us-east-1:111122223333:layer:f"):
        assert arn_key(other) is None
