"""The conservative trust policy reading used by AssumeRole: what it allows, and that whatever it
cannot evaluate never allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambent.iam.model import Principal, PrincipalKind
from lambent.iam.trust import trust_allows

ACCT = "111111111111"
USER = Principal(PrincipalKind.USER, ACCT, f"arn:aws:iam::{ACCT}:user/alice", "AIDA1", "alice", "AKIA1", "s")
OTHER_USER = Principal(PrincipalKind.USER, "222222222222", "arn:aws:iam::222222222222:user/alice", "AIDA2", "alice",
                       "AKIA2", "s")
ROOT = Principal(PrincipalKind.ROOT, ACCT, f"arn:aws:iam::{ACCT}:root", ACCT, "", "AKIA3", "s")
SESSION = Principal(PrincipalKind.ASSUMED_ROLE, ACCT, f"arn:aws:sts::{ACCT}:assumed-role/r/s", "AROA1:s", "r", "ASIA1",
                    "s", "digest", 2e9, f"arn:aws:iam::{ACCT}:role/r")


def _trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(principal: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


@pytest.mark.parametrize(("principal_element", "caller", "allowed"), [
    ({"AWS": USER.arn}, USER, True),
    ({"AWS": [OTHER_USER.arn, USER.arn]}, USER, True),
    ({"AWS": USER.arn}, OTHER_USER, False),  # same name, another account
    ({"AWS": "*"}, OTHER_USER, True),
    ("*", USER, True),
    ({"AWS": ACCT}, ROOT, True),
    ({"AWS": f"arn:aws:iam::{ACCT}:root"}, USER, False),  # needs the user's own policies: not evaluated here
    ({"AWS": SESSION.role_arn}, SESSION, True),  # role chaining
    ({"AWS": SESSION.arn}, SESSION, True),
    ({"AWS": SESSION.role_arn}, USER, False),
    ({"Service": "lambda.amazonaws.com"}, USER, False),
])
def test_principals(principal_element: Any, caller: Principal, allowed: bool) -> None:
    assert trust_allows(_trust(_allow(principal_element)), principal=caller) is allowed


def test_an_account_trust_counts_for_its_principals_when_their_policies_allow() -> None:
    trust = _trust(_allow({"AWS": f"arn:aws:iam::{ACCT}:root"}))
    assert trust_allows(trust, principal=USER, identity_allows=lambda: True)
    assert not trust_allows(trust, principal=OTHER_USER, identity_allows=lambda: True)


def test_services() -> None:
    trust = _trust(_allow({"Service": ["lambda.amazonaws.com", "scheduler.amazonaws.com"]}))
    assert trust_allows(trust, service="lambda.amazonaws.com")
    assert not trust_allows(trust, service="ec2.amazonaws.com")
    assert not trust_allows(_trust(_allow({"AWS": USER.arn})), service="lambda.amazonaws.com")


@pytest.mark.parametrize(("action", "allowed"), [
    ("sts:AssumeRole", True), ("STS:assumerole", True), ("sts:*", True), ("*", True), ("sts:Assume*", True),
    ("sts:AssumeRoleWithSAML", False), (["sts:TagSession", "sts:AssumeRole"], True), ("iam:*", False),
])
def test_actions(action: Any, allowed: bool) -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": USER.arn}, "Action": action}
    assert trust_allows(_trust(statement), principal=USER) is allowed


def test_deny_wins_and_unevaluable_statements_never_allow() -> None:
    allow = _allow({"AWS": USER.arn})
    assert not trust_allows(_trust(allow, {"Effect": "Deny", "Principal": "*", "Action": "sts:*"}), principal=USER)
    # a Deny with a condition counts (fail closed); an Allow with one does not
    assert not trust_allows(_trust(allow, {**allow, "Effect": "Deny", "Condition": {"Bool": {"x": "true"}}}), principal=USER)
    assert not trust_allows(_trust(_allow({"AWS": USER.arn}, Condition={"StringEquals": {"sts:ExternalId": "x"}})),
                            principal=USER)
    assert not trust_allows(_trust({"Effect": "Allow", "NotPrincipal": {"AWS": OTHER_USER.arn},
                                    "Action": "sts:AssumeRole"}), principal=USER)
    # Deny NotPrincipal: everyone not named is denied
    deny_others = {"Effect": "Deny", "NotPrincipal": {"AWS": USER.arn}, "Action": "sts:AssumeRole"}
    assert trust_allows(_trust(_allow("*"), deny_others), principal=USER)
    assert not trust_allows(_trust(_allow("*"), deny_others), principal=OTHER_USER)


@pytest.mark.parametrize("text", ["", "null", "[]", '{"Statement": "x"}', '{"Statement": [1, "a"]}'])
def test_garbage_allows_nothing(text: str) -> None:
    assert not trust_allows(text, principal=USER)
    assert not trust_allows(text, service="lambda.amazonaws.com")
