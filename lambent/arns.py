"""Function names, qualifiers and ARNs in AWS's formats.

AWS accepts a function as a bare name, a partial ARN (``123456789012:function:name``) or a full
ARN, each optionally followed by ``:qualifier``. See
https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html (FunctionName).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambent.errors import InvalidParameterValue, ResourceNotFound, ValidationError

LATEST = "$LATEST"

_NAME_RE = re.compile(
    r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?((?P<region>[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"((?P<account>\d{12}):)?(function:)?(?P<name>[a-zA-Z0-9-_]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)
_PLAIN_NAME_RE = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)


@dataclass(frozen=True)
class FunctionRef:
    """A parsed reference to a function, with the qualifier if one was given."""

    name: str
    qualifier: str | None = None
    account_id: str | None = None
    region: str | None = None


def parse_function_name(raw: str, *, field: str = "functionName", max_len: int = 140) -> FunctionRef:
    """Parse any of AWS's accepted function name forms, with AWS's validation errors."""
    if not raw or len(raw) > max_len:
        raise ValidationError(
            f"1 validation error detected: Value '{raw}' at '{field}' failed to satisfy constraint: "
            f"Member must have length {'greater than or equal to 1' if not raw else f'less than or equal to {max_len}'}"
        )
    m = _NAME_RE.match(raw)
    if m is None:
        raise ValidationError(
            f"1 validation error detected: Value '{raw}' at '{field}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
        )
    name = m.group("name")
    if len(name) > 64:
        raise InvalidParameterValue(f"Function name '{name}' is longer than 64 characters.")
    return FunctionRef(name, m.group("qualifier"), m.group("account"), m.group("region"))


def resolve_qualifier(ref: FunctionRef, qualifier: str | None) -> str | None:
    """Merge a qualifier from the name with one from ``?Qualifier=``; AWS refuses a mismatch."""
    if qualifier is not None and ref.qualifier is not None and qualifier != ref.qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return qualifier if qualifier is not None else ref.qualifier


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def check_account(ref: FunctionRef, region: str, account_id: str) -> None:
    """A reference to another account or region cannot exist here."""
    if (ref.account_id and ref.account_id != account_id) or (ref.region and ref.region != region):
        raise ResourceNotFound(
            f"Function not found: {function_arn(ref.region or region, ref.account_id or account_id, ref.name)}"
        )


def is_plain_name(raw: str) -> bool:
    return bool(_PLAIN_NAME_RE.match(raw))
