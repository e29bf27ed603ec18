"""The IAM domain: entities, AWS's conflicts and messages, persistence, account isolation and the
SigV4 key lookup."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from iam_fixtures import ACCOUNT, ROOT_KEYS, Clock

from lambent.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredToken,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ServiceError,
    TooManyRequests,
)
from lambent.iam.managed import AWS_MANAGED
from lambent.iam.model import KeyStatus, OwnerKind, PrincipalKind
from lambent.iam.policy import PolicyKind, parse_policy
from lambent.iam.service import IamService

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]})
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def test_users_are_unique_per_account_case_insensitively(iam: IamService) -> None:
    user = iam.create_user(ACCOUNT, "Alice", "/team/")
    assert user.arn == "arn:aws:iam::000000000000:user/team/Alice"
    assert user.user_id.startswith("AIDA") and len(user.user_id) == 21
    with pytest.raises(EntityAlreadyExists) as caught:
        iam.create_user(ACCOUNT, "alice")
    assert caught.value.message == "User with name alice already exists."
    assert iam.get_user(ACCOUNT, "ALICE") == user
    other = iam.create_account("other")[0].account_id
    assert iam.create_user(other, "alice").account_id == other  # another account, another namespace
    with pytest.raises(NoSuchEntity) as missing:
        iam.get_user(other, "bob")
    assert missing.value.message == "The user with name bob cannot be found."
    assert [u.name for u in iam.list_users(ACCOUNT)] == ["Alice"]
    assert iam.list_users(ACCOUNT, "/other/") == []


def test_access_keys_in_aws_formats_two_per_user_and_looked_up(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    key = iam.create_access_key(ACCOUNT, "alice")
    assert key.access_key_id.startswith("AKIA") and len(key.access_key_id) == 20
    assert len(key.secret_access_key) == 40
    assert key.secret_access_key not in repr(key)
    iam.create_access_key(ACCOUNT, "alice")
    with pytest.raises(LimitExceeded) as caught:
        iam.create_access_key(ACCOUNT, "alice")
    assert caught.value.message == "Cannot exceed quota for AccessKeysPerUser: 2"

    principal = iam.lookup(key.access_key_id)
    assert principal is not None
    assert (principal.kind, principal.arn, principal.secret_access_key) == (
        PrincipalKind.USER, "arn:aws:iam::000000000000:user/alice", key.secret_access_key)
    assert principal.token_matches(None) and not principal.token_matches("a-token")

    iam.update_access_key(ACCOUNT, "alice", key.access_key_id, KeyStatus.INACTIVE)
    assert iam.lookup(key.access_key_id) is None
    iam.update_access_key(ACCOUNT, "alice", key.access_key_id, KeyStatus.ACTIVE)
    assert iam.lookup(key.access_key_id) is not None
    iam.delete_access_key(ACCOUNT, "alice", key.access_key_id)
    assert iam.lookup(key.access_key_id) is None
    with pytest.raises(NoSuchEntity) as gone:
        iam.delete_access_key(ACCOUNT, "alice", key.access_key_id)
    assert gone.value.message == f"The Access Key with id {key.access_key_id} cannot be found."


def test_a_key_is_managed_only_through_its_own_user_and_account(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    iam.create_user(ACCOUNT, "bob")
    key = iam.create_access_key(ACCOUNT, "alice")
    other = iam.create_account("other")[0].account_id
    iam.create_user(other, "alice")
    for account, user in ((ACCOUNT, "bob"), (ACCOUNT, None), (other, "alice")):
        with pytest.raises(NoSuchEntity):
            iam.delete_access_key(account, user, key.access_key_id)
    assert iam.lookup(key.access_key_id) is not None


def test_root_keys_resolve_to_the_account_root(iam: IamService) -> None:
    root = iam.lookup(ROOT_KEYS[0])
    assert root is not None
    assert (root.kind, root.arn, root.user_id, root.secret_access_key) == (
        PrincipalKind.ROOT, "arn:aws:iam::000000000000:root", ACCOUNT, ROOT_KEYS[1])
    account, key = iam.create_account("tenant")
    assert len(account.account_id) == 12 and account.account_id.isdigit()
    tenant_root = iam.lookup(key.access_key_id)
    assert tenant_root is not None and tenant_root.arn == f"arn:aws:iam::{account.account_id}:root"
    assert iam.lookup("AKIANOSUCHKEY0000000") is None
    with pytest.raises(EntityAlreadyExists):
        iam.create_account("TENANT")


def test_deleting_a_user_needs_its_keys_and_policies_gone_first(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    key = iam.create_access_key(ACCOUNT, "alice")
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "p", DOC)
    iam.attach_policy(ACCOUNT, OwnerKind.USER, "alice", BASIC)
    for message in ("Cannot delete entity, must delete access keys first.",
                    "Cannot delete entity, must delete policies first.",
                    "Cannot delete entity, must detach all policies first."):
        with pytest.raises(DeleteConflict) as caught:
            iam.delete_user(ACCOUNT, "alice")
        assert caught.value.message == message
        if "access keys" in message:
            iam.delete_access_key(ACCOUNT, "alice", key.access_key_id)
        elif "delete policies" in message:
            iam.delete_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "p")
    iam.detach_policy(ACCOUNT, OwnerKind.USER, "alice", BASIC)
    iam.delete_user(ACCOUNT, "alice")
    with pytest.raises(NoSuchEntity):
        iam.get_user(ACCOUNT, "alice")


def test_roles_policies_and_attachments(iam: IamService) -> None:
    role = iam.create_role(ACCOUNT, "exec", TRUST, description="d", max_session_s=7200)
    assert role.arn == "arn:aws:iam::000000000000:role/exec" and role.role_id.startswith("AROA")
    with pytest.raises(EntityAlreadyExists) as dup:
        iam.create_role(ACCOUNT, "EXEC", TRUST)
    assert dup.value.message == "Role with name EXEC already exists."
    with pytest.raises(NoSuchEntity) as missing:
        iam.get_role(ACCOUNT, "nope")
    assert missing.value.message == "The role with name nope cannot be found."

    iam.put_inline_policy(ACCOUNT, OwnerKind.ROLE, "exec", "inline", DOC)
    assert iam.get_inline_policy(ACCOUNT, OwnerKind.ROLE, "exec", "inline") == DOC
    with pytest.raises(NoSuchEntity) as no_policy:
        iam.get_inline_policy(ACCOUNT, OwnerKind.ROLE, "exec", "other")
    assert no_policy.value.message == "The role policy with name other cannot be found."

    mine = iam.create_policy(ACCOUNT, "mine", DOC, path="/app/")
    assert mine.arn == "arn:aws:iam::000000000000:policy/app/mine" and mine.default_version == "v1"
    with pytest.raises(EntityAlreadyExists) as dup_policy:
        iam.create_policy(ACCOUNT, "MINE", DOC)
    assert dup_policy.value.message == "A policy called MINE already exists. Duplicate names are not allowed."
    iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "exec", mine.arn)
    iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "exec", BASIC)
    iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "exec", BASIC)  # idempotent, as on AWS
    assert [p.name for p in iam.attached_policies(ACCOUNT, OwnerKind.ROLE, "exec")] == ["AWSLambdaBasicExecutionRole", "mine"]
    assert iam.attachment_count(ACCOUNT, BASIC) == 1
    with pytest.raises(NoSuchEntity) as not_attachable:
        iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "exec", "arn:aws:iam::aws:policy/NoSuchPolicy")
    assert not_attachable.value.message == "Policy arn:aws:iam::aws:policy/NoSuchPolicy does not exist or is not attachable."

    with pytest.raises(DeleteConflict) as attached:
        iam.delete_policy(ACCOUNT, mine.arn)
    assert attached.value.message == "Cannot delete a policy attached to entities."
    with pytest.raises(DeleteConflict) as inline_left:
        iam.delete_role(ACCOUNT, "exec")
    assert inline_left.value.message == "Cannot delete entity, must delete policies first."
    iam.delete_inline_policy(ACCOUNT, OwnerKind.ROLE, "exec", "inline")
    with pytest.raises(DeleteConflict) as managed_left:
        iam.delete_role(ACCOUNT, "exec")
    assert managed_left.value.message == "Cannot delete entity, must detach all policies first."
    iam.detach_policy(ACCOUNT, OwnerKind.ROLE, "exec", mine.arn)
    iam.detach_policy(ACCOUNT, OwnerKind.ROLE, "exec", BASIC)
    with pytest.raises(NoSuchEntity) as not_attached:
        iam.detach_policy(ACCOUNT, OwnerKind.ROLE, "exec", BASIC)
    assert not_attached.value.message == f"Policy {BASIC} was not found."
    iam.delete_role(ACCOUNT, "exec")
    iam.delete_policy(ACCOUNT, mine.arn)
    assert iam.list_roles(ACCOUNT) == [] and iam.list_policies(ACCOUNT, "Local") == []


def test_policy_versions_default_and_limit(iam: IamService) -> None:
    arn = iam.create_policy(ACCOUNT, "p", DOC).arn
    v2 = iam.create_policy_version(ACCOUNT, arn, DOC.replace("lambda:*", "logs:*"), set_default=True)
    assert v2.version_id == "v2" and iam.get_policy(ACCOUNT, arn).default_version == "v2"
    assert "logs:*" in iam.get_policy(ACCOUNT, arn).document
    for _ in range(3):
        iam.create_policy_version(ACCOUNT, arn, DOC)
    with pytest.raises(LimitExceeded):
        iam.create_policy_version(ACCOUNT, arn, DOC)
    with pytest.raises(NoSuchEntity) as caught:
        iam.get_policy_version(ACCOUNT, arn, "v9")
    assert caught.value.message == f"Policy {arn} version v9 does not exist or is not attachable."
    with pytest.raises(DeleteConflict):
        iam.delete_policy(ACCOUNT, arn)  # more than one version


def test_aws_managed_policies_are_visible_in_every_account_and_immutable(iam: IamService) -> None:
    names = [p.name for p in iam.list_policies(ACCOUNT, "AWS")]
    assert names == ["AdministratorAccess", "AWSLambdaBasicExecutionRole", "AWSLambdaRole",
                     "AWSLambdaSQSQueueExecutionRole", "AWSLambdaVPCAccessExecutionRole", "ReadOnlyAccess"]
    basic = iam.get_policy(ACCOUNT, BASIC)
    assert json.loads(basic.document)["Statement"][0]["Action"] == [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    with pytest.raises(NoSuchEntity):
        iam.delete_policy(ACCOUNT, BASIC)
    with pytest.raises(NoSuchEntity):
        iam.create_policy_version(ACCOUNT, BASIC, DOC)


def test_another_accounts_policy_is_invisible(iam: IamService) -> None:
    other = iam.create_account("other")[0].account_id
    theirs = iam.create_policy(other, "theirs", DOC)
    iam.create_role(ACCOUNT, "r", TRUST)
    with pytest.raises(NoSuchEntity):
        iam.get_policy(ACCOUNT, theirs.arn)
    with pytest.raises(NoSuchEntity):
        iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "r", theirs.arn)


@pytest.mark.parametrize(("doc", "error", "message"), [
    ("{not json", MalformedPolicyDocument, "This policy contains invalid Json"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}] * 2, "Extra": 1}),
     MalformedPolicyDocument, "Syntax errors in policy."),
    ("[]", MalformedPolicyDocument, "This policy contains invalid Json"),
    ("[" * 6000, MalformedPolicyDocument, "This policy contains invalid Json"),  # deep nesting
    (json.dumps({"Version": "2012-10-17"}), MalformedPolicyDocument, "Syntax errors in policy."),
    (json.dumps({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}), MalformedPolicyDocument,
     "Invalid effect: Maybe"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Resource": "*"}]}), MalformedPolicyDocument,
     "Policy statement must contain actions."),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "*"}]}), MalformedPolicyDocument,
     "Policy statement must contain resources."),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:" + "x" * 50] * 200, "Resource": "*"}]}),
     LimitExceeded, "Cannot exceed quota for PolicySize: 6144"),
])
def test_malformed_documents_are_refused_with_aws_messages(
    iam: IamService, doc: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        iam.create_policy(ACCOUNT, "p", doc)
    assert str(caught.value) == message
    assert iam.list_policies(ACCOUNT, "Local") == []


def test_a_trust_policy_names_a_principal_and_no_resource(iam: IamService) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        iam.create_role(ACCOUNT, "r", DOC)
    assert caught.value.message == "Has prohibited field Resource"
    no_principal = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]})
    with pytest.raises(MalformedPolicyDocument) as missing:
        iam.create_role(ACCOUNT, "r", no_principal)
    assert missing.value.message == "Missing required field Principal"
    assert iam.list_roles(ACCOUNT) == []


def test_every_aws_managed_document_is_valid_policy_grammar() -> None:
    for policy in AWS_MANAGED:
        parse_policy(policy.document, PolicyKind.IDENTITY)
        assert policy.arn.startswith("arn:aws:iam::aws:policy/")


def test_everything_survives_a_restart_and_secrets_are_sealed_on_disk(tmp_path: Path, clock: Clock) -> None:
    iam = IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS, clock=clock)
    iam.create_user(ACCOUNT, "alice")
    key = iam.create_access_key(ACCOUNT, "alice")
    role = iam.create_role(ACCOUNT, "r", TRUST)
    iam.put_inline_policy(ACCOUNT, OwnerKind.ROLE, "r", "i", DOC)
    iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "r", BASIC)
    session, token = iam.issue_session(role, "s", 900)
    iam.close()

    raw = (tmp_path / "iam.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("iam.db-*"))
    assert key.secret_access_key.encode() not in raw
    assert session.secret_access_key.encode() not in raw and token.encode() not in raw

    again = IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS, clock=clock)
    try:
        found = again.lookup(key.access_key_id)
        assert found is not None and found.secret_access_key == key.secret_access_key
        assumed = again.lookup(session.access_key_id)
        assert assumed is not None and assumed.token_matches(token) and not assumed.token_matches(token + "x")
        assert again.get_role(ACCOUNT, "r") == role
        assert again.identity_policies(assumed) == [DOC, again.get_policy(ACCOUNT, BASIC).document]
    finally:
        again.close()


def test_sessions_expire_with_expired_token_and_end_with_their_role(iam: IamService, clock: Clock) -> None:
    role = iam.create_role(ACCOUNT, "r", TRUST)
    session, _ = iam.issue_session(role, "s", 900)
    principal = iam.lookup(session.access_key_id)
    assert principal is not None
    assert principal.arn == "arn:aws:sts::000000000000:assumed-role/r/s"
    assert principal.user_id == f"{role.role_id}:s"
    assert session.access_key_id.startswith("ASIA") and len(session.access_key_id) == 20
    clock.now += 900
    with pytest.raises(ExpiredToken):
        iam.lookup(session.access_key_id)
    clock.now -= 900
    iam.delete_role(ACCOUNT, "r")
    assert iam.lookup(session.access_key_id) is None


def test_a_replaced_key_file_is_refused_not_used(tmp_path: Path, clock: Clock) -> None:
    iam = IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS, clock=clock)
    iam.create_account("tenant")
    iam.close()
    (tmp_path / "iam.key").unlink()
    with pytest.raises(ServiceError) as caught:
        IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS, clock=clock)
    assert "iam.key" in caught.value.message


def test_secrets_are_stored_as_nonce_ciphertext_and_tag(tmp_path: Path, iam: IamService) -> None:
    iam.create_account("tenant")
    db = sqlite3.connect(tmp_path / "iam.db")
    try:
        sealed = [r[0] for r in db.execute("SELECT secret_sealed FROM access_keys")]
    finally:
        db.close()
    assert sealed and all(isinstance(s, bytes) and len(s) == 12 + 40 + 16 for s in sealed)


def test_an_account_created_by_another_process_works_at_once(tmp_path: Path, clock: Clock) -> None:
    server = IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS, clock=clock)
    operator = IamService.open_in(tmp_path, ACCOUNT, None, clock=clock)  # `lambent accounts create`
    try:
        clock.now += 5
        _, key = operator.create_account("tenant")
        found = server.lookup(key.access_key_id)
        assert found is not None and found.secret_access_key == key.secret_access_key
        # unknown keys re-check the file at most once a second
        calls = []
        stamp = server.store.stamp
        server.store.stamp = lambda: calls.append(1) or stamp()  # type: ignore[method-assign,func-returns-value]
        for _ in range(100):
            assert server.lookup("AKIAUNKNOWNUNKNOWN00") is None
        assert len(calls) <= 1
    finally:
        operator.close()
        server.close()


def test_the_policy_version_moves_with_every_policy_change(iam: IamService) -> None:
    iam.create_role(ACCOUNT, "r", TRUST)
    seen = [iam.policy_generation]
    arn = iam.create_policy(ACCOUNT, "p", DOC).arn
    for change in (
        lambda: iam.put_inline_policy(ACCOUNT, OwnerKind.ROLE, "r", "i", DOC),
        lambda: iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "r", arn),
        lambda: iam.create_policy_version(ACCOUNT, arn, DOC, set_default=True),
        lambda: iam.detach_policy(ACCOUNT, OwnerKind.ROLE, "r", arn),
        lambda: iam.delete_inline_policy(ACCOUNT, OwnerKind.ROLE, "r", "i"),
    ):
        change()
        assert iam.policy_generation > seen[-1]
        seen.append(iam.policy_generation)


def test_account_quotas_bound_what_a_caller_can_create(iam: IamService, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambent.iam import service

    monkeypatch.setattr(service, "USERS_PER_ACCOUNT", 2)
    monkeypatch.setattr(service, "ROLES_PER_ACCOUNT", 1)
    monkeypatch.setattr(service, "LIVE_SESSIONS_PER_ACCOUNT", 2)
    iam.create_user(ACCOUNT, "a")
    iam.create_user(ACCOUNT, "b")
    with pytest.raises(LimitExceeded) as users:
        iam.create_user(ACCOUNT, "c")
    assert users.value.message == "Cannot exceed quota for UsersPerAccount: 2"
    other = iam.create_account("other")[0].account_id
    iam.create_user(other, "c")  # per account
    role = iam.create_role(ACCOUNT, "r", TRUST)
    with pytest.raises(LimitExceeded):
        iam.create_role(ACCOUNT, "r2", TRUST)
    iam.issue_session(role, "s1", 900)
    iam.issue_session(role, "s2", 900)
    with pytest.raises(TooManyRequests):
        iam.issue_session(role, "s3", 900)


def test_the_inline_quota_counts_all_of_an_owners_inline_policies(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": [f"lambda:Get{'x' * 40}{i}" for i in range(20)], "Resource": "*"}]})
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "one", big)
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "one", big)  # replacing itself is not counted twice
    with pytest.raises(LimitExceeded) as caught:
        iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "two", big)
    assert caught.value.message == "Maximum policy size of 2048 bytes exceeded for user alice"
    assert iam.list_inline_policies(ACCOUNT, OwnerKind.USER, "alice") == ["one"]


def test_the_servers_iam_knows_the_root_credentials_of_its_settings(tmp_path: Path) -> None:
    from lambent.credentials import read_root_credentials
    from lambent.settings import Settings

    settings = Settings.from_env({}, data_dir=tmp_path, account_id="123456789012")
    iam = IamService.for_server(settings)
    try:
        root = read_root_credentials(settings)
        assert root is not None
        found = iam.lookup(root.access_key_id)
        assert found is not None
        assert (found.kind, found.account_id, found.secret_access_key) == (
            PrincipalKind.ROOT, "123456789012", root.secret_access_key)
        assert iam.account("123456789012") is not None
    finally:
        iam.close()
