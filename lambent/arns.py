"""Function names, qualifiers and ARNs in AWS's formats.

AWS accepts a function as a bare name, a partial ARN (``123456789012:function:name``) or a full
ARN, each optionally followed by ``:qualifier``. See
https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html (FunctionName).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NewType

from lambent.errors import AccessDenied, InvalidParameterValue, ResourceNotFound, ValidationError

LATEST = "$LATEST"

_REGION = r"(?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})"
#: CreateFunction's FunctionName (no dots, no ``$LATEST.PUBLISHED``), as AWS reports it.
NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
#: The FunctionName path parameter of every other operation, as AWS reports it (recorded answers:
#: LocalStack's test_function_name_and_qualifier_validation snapshots, taken against AWS).
PATH_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
#: ``?Qualifier=`` as AWS validates it (stricter than the API reference's pattern).
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
QUALIFIER_MAX_LEN = 128
_NAME_RE = re.compile(
    rf"^(arn:(aws[a-zA-Z-]*)?:lambda:)?({_REGION}:)?((?P<account>\d{{12}}):)?(function:)?"
    r"(?P<name>[a-zA-Z0-9-_]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)
_PATH_NAME_RE = re.compile(
    rf"^(arn:(aws[a-zA-Z-]*)?:lambda:)?({_REGION}:)?((?P<account>\d{{12}}):)?(function:)?"
    r"(?P<name>[a-zA-Z0-9-_\.]+)(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?$"
)
_QUALIFIER_RE = re.compile(QUALIFIER_PATTERN)
_PLAIN_NAME_RE = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


@dataclass(frozen=True)
class FunctionRef:
    """A parsed reference to a function, with the qualifier if one was given."""

    name: str
    qualifier: str | None = None
    account_id: str | None = None
    region: str | None = None


def _violation(value: str, field: str, constraint: str) -> str:
    return f"Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"


def _raise_violations(errors: list[str]) -> None:
    if errors:
        n = len(errors)
        raise ValidationError(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors))


def parse_function_name(
    raw: str, *, field: str = "functionName", max_len: int = 140, create: bool = True, qualifier: str | None = None
) -> FunctionRef:
    """Parse any of AWS's accepted function name forms, with AWS's validation errors.

    ``create`` selects CreateFunction's rules (its stricter pattern; a name over 64 characters is
    InvalidParameterValueException); elsewhere the path pattern applies and an over-long name is
    simply not found, as on AWS. ``qualifier`` (``?Qualifier=``) is validated in the same pass:
    AWS reports every violation of a request at once, the qualifier's first.
    """
    errors: list[str] = []
    if qualifier is not None:
        if len(qualifier) > QUALIFIER_MAX_LEN:
            errors.append(_violation(qualifier, "qualifier",
                                     f"Member must have length less than or equal to {QUALIFIER_MAX_LEN}"))
        elif not qualifier or not _QUALIFIER_RE.fullmatch(qualifier):
            errors.append(_violation(qualifier, "qualifier",
                                     f"Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}"))
    pattern, regex = (NAME_PATTERN, _NAME_RE) if create else (PATH_NAME_PATTERN, _PATH_NAME_RE)
    m = regex.match(raw) if raw else None
    if not raw:
        errors.append(_violation(raw, field, "Member must have length greater than or equal to 1"))
    elif len(raw) > max_len:
        errors.append(_violation(raw, field, f"Member must have length less than or equal to {max_len}"))
    if raw and m is None:
        errors.append(_violation(raw, field, f"Member must satisfy regular expression pattern: {pattern}"))
    _raise_violations(errors)
    assert m is not None
    name = m.group("name")
    if create and len(name) > 64:
        raise InvalidParameterValue(
            "1 validation error detected: "
            + _violation(name, field, "Member must have length less than or equal to 64")
        )
    return FunctionRef(name, m.group("qualifier"), m.group("account"), m.group("region"))


def resolve_qualifier(ref: FunctionRef, qualifier: str | None) -> str | None:
    """Merge a qualifier from the name with one from ``?Qualifier=``; AWS refuses a mismatch."""
    if qualifier is not None and ref.qualifier is not None and qualifier != ref.qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return qualifier if qualifier is not None else ref.qualifier


#: The identity of a function: its account and its name, as AWS's partial ARN
#: ``ACCOUNT:function:NAME``. Every map and store row keyed by a function is keyed by this (two
#: accounts may each have a function ``f``); a bare name is never a key. Made by :func:`function_key`.
FunctionKey = NewType("FunctionKey", str)
_KEY_RE = re.compile(r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_\.]+)$")


def function_key(account_id: str, name: str) -> FunctionKey:
    return FunctionKey(f"{account_id}:function:{name}")


def parse_key(key: str) -> FunctionKey | None:
    """``key`` as a FunctionKey if it is one (a store row, a target), else None."""
    return FunctionKey(key) if _KEY_RE.match(key) else None


def arn_key(arn: str) -> FunctionKey | None:
    """The key of the function a function ARN (``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]``)
    names, or None if ``arn`` is not one."""
    parts = arn.split(":")
    return parse_key(":".join(parts[4:7])) if len(parts) >= 7 and parts[2] == "lambda" else None


def key_account(key: FunctionKey) -> str:
    return key.split(":", 1)[0]


def key_name(key: FunctionKey) -> str:
    return key.rsplit(":", 1)[1]


def key_arn(region: str, key: FunctionKey, qualifier: str | None = None) -> str:
    """The function ARN of ``key`` (with ``:qualifier`` if given)."""
    base = f"arn:aws:lambda:{region}:{key}"
    return f"{base}:{qualifier}" if qualifier else base


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def key_of(ref: FunctionRef, region: str, caller_account: str) -> FunctionKey:
    """The function ``ref`` names: in the ARN's account if it gives one, else in the caller's
    (a bare name is always the caller's own function). A foreign region is AWS's 404."""
    if ref.region and ref.region != region:
        raise ResourceNotFound(f"Functions from '{ref.region}' are not reachable in this region ('{region}')")
    return function_key(ref.account_id or caller_account, ref.name)


def check_account(ref: FunctionRef, region: str, account_id: str) -> None:
    """A reference to another account or region cannot be served here; AWS's answers: another
    account is 403 AccessDeniedException (no message), another region 404 "Functions from 'X' are
    not reachable in this region ('Y')"."""
    if ref.account_id and ref.account_id != account_id:
        raise AccessDenied("")
    if ref.region and ref.region != region:
        raise ResourceNotFound(f"Functions from '{ref.region}' are not reachable in this region ('{region}')")


def is_plain_name(raw: str) -> bool:
    return bool(_PLAIN_NAME_RE.match(raw))
