"""Authorizer: identity policies of users and role sessions through the engine, compiled once
per policy version, denials in AWS's words."""

from __future__ import annotations

import json

import pytest
from iam_fixtures import ACCOUNT

from lambent.errors import AccessDenied
from lambent.iam.authorize import Authorizer
from lambent.iam.model import OwnerKind, Principal
from lambent.iam.service import IamService

FN = "arn:aws:lambda:us-east-1:000000000000:function:f"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _doc(effect: str, action: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]})


def _user(iam: IamService, name: str = "alice") -> Principal:
    iam.create_user(ACCOUNT, name)
    found = iam.lookup(iam.create_access_key(ACCOUNT, name).access_key_id)
    assert found is not None
    return found


def test_a_user_without_policies_is_denied_with_awss_message(iam: IamService) -> None:
    alice = _user(iam)
    with pytest.raises(AccessDenied) as caught:
        Authorizer(iam).check(alice, "lambda:InvokeFunction", FN)
    assert caught.value.message == (
        f"User: {alice.arn} is not authorized to perform: lambda:InvokeFunction on resource: {FN}"
        " because no identity-based policy allows the lambda:InvokeFunction action")


def test_policies_allow_and_an_explicit_deny_wins(iam: IamService) -> None:
    alice = _user(iam)
    auth = Authorizer(iam)
    iam.attach_policy(ACCOUNT, OwnerKind.USER, "alice", "arn:aws:iam::aws:policy/service-role/AWSLambdaRole")
    auth.check(alice, "lambda:InvokeFunction", FN)
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "no", _doc("Deny", "lambda:Invoke*", FN))
    with pytest.raises(AccessDenied) as caught:
        auth.check(alice, "lambda:InvokeFunction", FN)
    assert caught.value.message.endswith("with an explicit deny in an identity-based policy")


def test_the_root_may_do_anything_in_its_account(iam: IamService) -> None:
    Authorizer(iam).check(iam.root_principal(), "iam:DeleteRole", f"arn:aws:iam::{ACCOUNT}:role/r")


def test_a_role_session_acts_with_its_roles_policies(iam: IamService) -> None:
    role = iam.create_role(ACCOUNT, "exec", TRUST)
    iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "exec", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    session, _ = iam.issue_session(role, "f", 900)
    principal = iam.lookup(session.access_key_id)
    assert principal is not None
    auth = Authorizer(iam)
    auth.check(principal, "logs:PutLogEvents", "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*")
    with pytest.raises(AccessDenied):
        auth.check(principal, "lambda:DeleteFunction", FN)


def test_policies_compile_once_per_version(iam: IamService) -> None:
    alice = _user(iam)
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "p", _doc("Allow", "lambda:Get*"))
    auth = Authorizer(iam)
    for _ in range(5):
        auth.check(alice, "lambda:GetFunction", FN)
    assert (auth.cache.misses, auth.cache.hits) == (1, 4)
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "p", _doc("Allow", "lambda:List*"))
    with pytest.raises(AccessDenied):
        auth.check(alice, "lambda:GetFunction", FN)
    assert auth.cache.misses == 2


def test_a_policy_change_applies_at_the_next_call_despite_the_memos(iam: IamService) -> None:
    # The Caller memo and the per-second clock never hold a decision: removing the Allow denies
    # the very next call (the issue's bound is 1 s; lambent's is 0).
    alice = _user(iam)
    auth = Authorizer(iam)
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "inv", _doc("Allow", "lambda:InvokeFunction", FN))
    for _ in range(3):
        auth.check(alice, "lambda:InvokeFunction", FN)
    iam.delete_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "inv")
    with pytest.raises(AccessDenied):
        auth.check(alice, "lambda:InvokeFunction", FN)


def test_the_caller_memo_keeps_two_sessions_of_one_role_apart(iam: IamService) -> None:
    role = iam.create_role(ACCOUNT, "exec", TRUST)
    auth = Authorizer(iam)
    one, _ = iam.issue_session(role, "one", 900)
    two, _ = iam.issue_session(role, "two", 900)
    p1, p2 = iam.lookup(one.access_key_id), iam.lookup(two.access_key_id)
    assert p1 is not None and p2 is not None
    c1, c2 = auth._caller(p1), auth._caller(p2)
    assert c1.arn.endswith("/one") and c2.arn.endswith("/two")
    assert c1.context_keys["aws:userid"] != c2.context_keys["aws:userid"]
    assert auth._caller(p1) is c1
