"""Parsing and validation: what IAM accepts, and IAM's MalformedPolicyDocument text for what it
refuses. Each case names the AWS documentation page whose rule it checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambent.errors import LambentError, MalformedPolicyDocument
from lambent.iam.policy import Effect, MalformedPolicy, PolicyKind, compile_policy, parse_policy

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    d: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        d["Version"] = version
    return d


def test_a_statement_may_be_one_object_or_a_list() -> None:
    # IAM JSON policy elements: Statement ("a single statement or an array of statements")
    single = parse_policy({"Version": "2012-10-17", "Statement": ALLOW_ALL}, PolicyKind.IDENTITY)
    listed = parse_policy(doc(ALLOW_ALL, {**ALLOW_ALL, "Effect": "Deny"}), PolicyKind.IDENTITY)
    assert len(single.statements) == 1 and single.statements[0].effect is Effect.ALLOW
    assert [s.effect for s in listed.statements] == [Effect.ALLOW, Effect.DENY]


def test_a_missing_version_is_2008_and_takes_no_variables() -> None:
    # IAM JSON policy elements: Version ("If you do not include a Version element, the value
    # defaults to 2008-10-17 ... policy variables ... are treated as literal strings")
    old = parse_policy(doc(ALLOW_ALL, version=None), PolicyKind.IDENTITY)
    new = parse_policy(doc(ALLOW_ALL), PolicyKind.IDENTITY)
    assert (old.version, old.variables) == ("2008-10-17", False)
    assert (new.version, new.variables) == ("2012-10-17", True)


def test_json_text_and_bytes_are_accepted() -> None:
    text = json.dumps(doc(ALLOW_ALL))
    assert parse_policy(text, PolicyKind.IDENTITY) == parse_policy(text.encode(), PolicyKind.IDENTITY)


def test_condition_values_are_read_as_strings() -> None:
    # IAM JSON policy elements: Condition operators (Bool and Numeric values may be JSON literals)
    d = parse_policy(doc({**ALLOW_ALL, "Condition": {"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"s3:max-keys": 10}}}),
                     PolicyKind.IDENTITY)
    assert d.statements[0].condition == {"Bool": {"aws:SecureTransport": ("false",)}, "NumericLessThan": {"s3:max-keys": ("10",)}}


def test_principals_are_read_into_accounts_arns_and_services() -> None:
    # IAM JSON policy elements: Principal ("AWS account principals", "IAM role principals",
    # "Role session principals", "IAM user principals", "AWS service principals")
    d = parse_policy(doc({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*", "Principal": {
        "AWS": ["123456789012", "arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/service-role/R",
                "arn:aws:sts::111122223333:assumed-role/R/session", "arn:aws:iam::111122223333:user/path/Bob"],
        "Service": "Scheduler.amazonaws.com"}}), PolicyKind.RESOURCE)
    p = d.statements[0].principals
    assert p is not None
    assert p.accounts == {"123456789012", "111122223333"}
    assert p.arns == {"arn:aws:iam::111122223333:role/service-role/R", "arn:aws:sts::111122223333:assumed-role/R/session",
                      "arn:aws:iam::111122223333:user/path/Bob"}
    assert p.services == {"scheduler.amazonaws.com"} and not p.everyone


def test_the_error_is_lambents_malformed_policy_document() -> None:
    with pytest.raises(MalformedPolicy) as info:
        parse_policy("{", PolicyKind.IDENTITY)
    assert isinstance(info.value, MalformedPolicyDocument) and isinstance(info.value, LambentError)
    assert info.value.message == "Syntax errors in policy."


MALFORMED: list[tuple[str, Any, PolicyKind, str]] = [
    # (case, document, kind, IAM's message)
    ("not JSON", "{not json", PolicyKind.IDENTITY, "Syntax errors in policy."),
    ("not an object", "[]", PolicyKind.IDENTITY, "Syntax errors in policy."),
    ("no Statement", {"Version": "2012-10-17"}, PolicyKind.IDENTITY, "Syntax errors in policy."),
    ("empty Statement", doc(), PolicyKind.IDENTITY, "Syntax errors in policy."),
    ("unknown top-level field", {**doc(ALLOW_ALL), "Extra": 1}, PolicyKind.IDENTITY, "Syntax errors in policy."),
    # IAM JSON policy elements: Version: only the two published versions
    ("bad version", doc(ALLOW_ALL, version="2020-01-01"), PolicyKind.IDENTITY, "The policy failed legacy parsing"),
    ("unknown statement field", doc({**ALLOW_ALL, "Actions": "s3:*"}), PolicyKind.IDENTITY, "Unknown field Actions"),
    ("no Effect", doc({"Action": "*", "Resource": "*"}), PolicyKind.IDENTITY, "Missing required field Effect"),
    ("bad Effect", doc({**ALLOW_ALL, "Effect": "allow"}), PolicyKind.IDENTITY, "Invalid effect: allow"),
    # IAM JSON policy elements: Action / NotAction
    ("no Action", doc({"Effect": "Allow", "Resource": "*"}), PolicyKind.IDENTITY, "Policy statement must contain actions."),
    ("empty Action", doc({**ALLOW_ALL, "Action": []}), PolicyKind.IDENTITY, "Policy statement must contain actions."),
    ("Action and NotAction", doc({**ALLOW_ALL, "NotAction": "s3:*"}), PolicyKind.IDENTITY, "Syntax errors in policy."),
    ("action without vendor", doc({**ALLOW_ALL, "Action": "InvokeFunction"}), PolicyKind.IDENTITY,
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("wildcard vendor", doc({**ALLOW_ALL, "Action": "lam*:Invoke"}), PolicyKind.IDENTITY, "Action vendors must not contain wildcards."),
    ("Action not a string", doc({**ALLOW_ALL, "Action": 7}), PolicyKind.IDENTITY, "Syntax errors in policy."),
    # IAM JSON policy elements: Resource
    ("no Resource", doc({"Effect": "Allow", "Action": "*"}), PolicyKind.IDENTITY, "Policy statement must contain resources."),
    ("Resource not an ARN", doc({**ALLOW_ALL, "Resource": "my-function"}), PolicyKind.IDENTITY,
     'Resource my-function must be in ARN format or "*".'),
    ("Resource and NotResource", doc({**ALLOW_ALL, "NotResource": "*"}), PolicyKind.IDENTITY, "Syntax errors in policy."),
    # IAM JSON policy elements: Principal ("you cannot use Principal in identity-based policies")
    ("principal in identity policy", doc({**ALLOW_ALL, "Principal": "*"}), PolicyKind.IDENTITY,
     "Policy document should not specify a principal."),
    ("no principal in resource policy", doc(ALLOW_ALL), PolicyKind.RESOURCE, "Missing required field Principal"),
    ("Resource in a trust policy", doc({**ALLOW_ALL, "Principal": {"Service": "lambda.amazonaws.com"}}), PolicyKind.TRUST,
     "Has prohibited field Resource"),
    # IAM JSON policy elements: Principal ("You cannot use a wildcard to match part of a principal name or ARN")
    ("partial wildcard principal", doc({**ALLOW_ALL, "Principal": {"AWS": "arn:aws:iam::123456789012:user/*"}}), PolicyKind.RESOURCE,
     'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/*"'),
    ("account id of 11 digits", doc({**ALLOW_ALL, "Principal": {"AWS": "12345678901"}}), PolicyKind.RESOURCE,
     'Invalid principal in policy: "AWS":"12345678901"'),
    ("unknown principal type", doc({**ALLOW_ALL, "Principal": {"Group": "x"}}), PolicyKind.RESOURCE,
     'Invalid principal in policy: "Group":"x"'),
    # IAM JSON policy elements: Sid
    ("duplicate Sid", doc({**ALLOW_ALL, "Sid": "A"}, {**ALLOW_ALL, "Sid": "A"}), PolicyKind.IDENTITY,
     "Statement IDs (SID) in a single policy must be unique."),
    ("Sid not alphanumeric", doc({**ALLOW_ALL, "Sid": "my-sid"}), PolicyKind.IDENTITY,
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"),
    # IAM JSON policy elements: Condition operators
    ("unknown condition operator", doc({**ALLOW_ALL, "Condition": {"StringEqualz": {"aws:username": "a"}}}), PolicyKind.IDENTITY,
     "Invalid Condition type : StringEqualz."),
    ("NullIfExists", doc({**ALLOW_ALL, "Condition": {"NullIfExists": {"aws:username": "true"}}}), PolicyKind.IDENTITY,
     "Invalid Condition type : NullIfExists."),
    ("condition key without vendor", doc({**ALLOW_ALL, "Condition": {"StringEquals": {"username": "a"}}}), PolicyKind.IDENTITY,
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("condition value an object", doc({**ALLOW_ALL, "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}), PolicyKind.IDENTITY,
     "Syntax errors in policy."),
]


@pytest.mark.parametrize(("case", "document", "kind", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_documents_are_refused_with_iams_message(case: str, document: Any, kind: PolicyKind, message: str) -> None:
    source = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(MalformedPolicy) as info:
        compile_policy(source, kind)
    assert info.value.message == message


def test_a_resource_policy_sid_may_hold_dashes() -> None:
    # Lambda's AddPermission StatementId pattern is ([a-zA-Z0-9-_]+): resource policies keep it.
    d = parse_policy(doc({**ALLOW_ALL, "Sid": "allow-scheduler_1", "Principal": {"Service": "scheduler.amazonaws.com"}}),
                     PolicyKind.RESOURCE)
    assert d.statements[0].sid == "allow-scheduler_1"


# --- hostile documents ----------------------------------------------------------------------


def test_a_repeated_key_is_refused_so_no_two_readers_disagree() -> None:
    # {"Effect": "Deny", "Effect": "Allow"}: some parsers keep the first, Python the last.
    text = '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}}'
    with pytest.raises(MalformedPolicy) as info:
        parse_policy(text, PolicyKind.IDENTITY)
    assert info.value.message == "Syntax errors in policy."


def test_deep_nesting_is_a_malformed_policy_not_a_crash() -> None:
    text = '{"Version": "2012-10-17", "Statement": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(MalformedPolicy):
        parse_policy(text, PolicyKind.IDENTITY)


def test_invalid_utf8_is_a_malformed_policy() -> None:
    with pytest.raises(MalformedPolicy):
        parse_policy(b'{"Statement": "\xff"}', PolicyKind.IDENTITY)
