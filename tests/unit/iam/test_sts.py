"""AssumeRole and GetCallerIdentity in the domain: trust, durations, AWS's refusals."""

from __future__ import annotations

import json

import pytest
from iam_fixtures import ACCOUNT, Clock

from lambent.errors import AccessDenied, ExpiredToken, ValidationError
from lambent.iam.model import OwnerKind, Principal, PrincipalKind
from lambent.iam.service import IamService
from lambent.iam.sts import assume_role, assume_role_for_service, caller_identity


def _trust(aws: str | None = None, service: str | None = None) -> str:
    principal = {"AWS": aws} if aws else {"Service": service}
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


def _user(iam: IamService, name: str = "alice") -> Principal:
    iam.create_user(ACCOUNT, name)
    key = iam.create_access_key(ACCOUNT, name)
    found = iam.lookup(key.access_key_id)
    assert found is not None
    return found


def test_a_trusted_user_gets_temporary_credentials(iam: IamService, clock: Clock) -> None:
    alice = _user(iam)
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=alice.arn), max_session_s=7200)
    issued = assume_role(iam, alice, role.arn, "job-1", 7200)
    s = issued.session
    assert s.arn == "arn:aws:sts::000000000000:assumed-role/worker/job-1"
    assert s.assumed_role_id == f"{role.role_id}:job-1"
    assert s.expires_at == clock.now + 7200
    assert issued.session_token not in repr(issued)
    principal = iam.lookup(s.access_key_id)
    assert principal is not None and principal.token_matches(issued.session_token)
    assert caller_identity(principal) == {"UserId": f"{role.role_id}:job-1", "Account": ACCOUNT, "Arn": s.arn}
    clock.now += 7200
    with pytest.raises(ExpiredToken):
        iam.lookup(s.access_key_id)


def test_untrusted_and_missing_roles_answer_the_same_access_denied(iam: IamService) -> None:
    alice, bob = _user(iam, "alice"), _user(iam, "bob")
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=alice.arn))
    messages = []
    for arn in (role.arn, "arn:aws:iam::000000000000:role/missing", "arn:aws:iam::999999999999:role/worker"):
        with pytest.raises(AccessDenied) as caught:
            assume_role(iam, bob, arn, "s")
        messages.append(caught.value.message)
    assert messages[0] == f"User: {bob.arn} is not authorized to perform: sts:AssumeRole on resource: {role.arn}"
    assert all(m.startswith(f"User: {bob.arn} is not authorized") for m in messages)


def test_the_root_cannot_assume_roles(iam: IamService) -> None:
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=ACCOUNT))
    with pytest.raises(AccessDenied) as caught:
        assume_role(iam, iam.root_principal(), role.arn, "s")
    assert caught.value.message == "Roles may not be assumed by root accounts."


def test_durations(iam: IamService, clock: Clock) -> None:
    alice = _user(iam)
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=alice.arn))
    with pytest.raises(ValidationError) as too_long:
        assume_role(iam, alice, role.arn, "s", 3601)
    assert too_long.value.message == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    with pytest.raises(ValidationError):
        assume_role(iam, alice, role.arn, "s", 899)
    assert assume_role(iam, alice, role.arn, "s").session.expires_at - clock.now == 3600


def test_role_chaining_is_limited_to_one_hour(iam: IamService) -> None:
    alice = _user(iam)
    first = iam.create_role(ACCOUNT, "first", _trust(aws=alice.arn), max_session_s=43200)
    session = iam.lookup(assume_role(iam, alice, first.arn, "s").session.access_key_id)
    assert session is not None
    second = iam.create_role(ACCOUNT, "second", _trust(aws=first.arn), max_session_s=43200)
    with pytest.raises(ValidationError) as caught:
        assume_role(iam, session, second.arn, "s2", 7200)
    assert "role chaining" in caught.value.message
    assert assume_role(iam, session, second.arn, "s2").session.role_name == "second"


def test_a_role_arn_must_carry_the_roles_path(iam: IamService) -> None:
    alice = _user(iam)
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=alice.arn), path="/svc/")
    assert role.arn == "arn:aws:iam::000000000000:role/svc/worker"
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, "arn:aws:iam::000000000000:role/worker", "s")
    assert assume_role(iam, alice, role.arn, "s").session.role_arn == role.arn


def test_lambda_assumes_execution_roles_that_trust_it(iam: IamService) -> None:
    role = iam.create_role(ACCOUNT, "exec", _trust(service="lambda.amazonaws.com"))
    issued = assume_role_for_service(iam, "lambda.amazonaws.com", role.arn, "my-function")
    assert issued.session.arn == "arn:aws:sts::000000000000:assumed-role/exec/my-function"
    other = iam.create_role(ACCOUNT, "other", _trust(service="scheduler.amazonaws.com"))
    with pytest.raises(AccessDenied):
        assume_role_for_service(iam, "lambda.amazonaws.com", other.arn, "f")


def test_root_identity(iam: IamService) -> None:
    assert caller_identity(iam.root_principal()) == {
        "UserId": ACCOUNT, "Account": ACCOUNT, "Arn": "arn:aws:iam::000000000000:root"}
    assert iam.root_principal().kind is PrincipalKind.ROOT


def _allow_assume(resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resource}]})


def test_a_trust_naming_the_account_delegates_to_the_callers_policies(iam: IamService) -> None:
    alice = _user(iam)
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=f"arn:aws:iam::{ACCOUNT}:root"))
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, role.arn, "s")
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "assume", _allow_assume(role.arn))
    assert assume_role(iam, alice, role.arn, "s").session.role_name == "worker"


def test_identity_policies_alone_never_open_a_role_whose_trust_does_not_name_the_caller(iam: IamService) -> None:
    alice, bob = _user(iam, "alice"), _user(iam, "bob")
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=bob.arn))
    iam.attach_policy(ACCOUNT, OwnerKind.USER, "alice", "arn:aws:iam::aws:policy/AdministratorAccess")
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, role.arn, "s")
    assert assume_role(iam, bob, role.arn, "s").session.role_name == "worker"


def test_an_explicit_deny_wins(iam: IamService) -> None:
    alice = _user(iam)
    role = iam.create_role(ACCOUNT, "worker", _trust(aws=alice.arn))
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "no", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}]}))
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, role.arn, "s")


def test_across_accounts_both_the_trust_and_the_callers_policies_must_allow(iam: IamService) -> None:
    alice = _user(iam)
    other = iam.create_account("other")[0].account_id
    role = iam.create_role(other, "shared", _trust(aws=alice.arn))
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, role.arn, "s")  # alice's own account has not allowed it
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "assume", _allow_assume(role.arn))
    session = assume_role(iam, alice, role.arn, "s").session
    assert session.arn == f"arn:aws:sts::{other}:assumed-role/shared/s"
    stranger = iam.create_role(other, "private", _trust(aws=f"arn:aws:iam::{other}:root"))
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, stranger.arn, "s")


def test_trust_conditions_see_the_session_name(iam: IamService) -> None:
    alice = _user(iam)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "sts:AssumeRole",
        "Condition": {"StringLike": {"sts:RoleSessionName": "ci-*"}}}]})
    role = iam.create_role(ACCOUNT, "ci", trust)
    with pytest.raises(AccessDenied):
        assume_role(iam, alice, role.arn, "laptop")
    assert assume_role(iam, alice, role.arn, "ci-42").session.session_name == "ci-42"
