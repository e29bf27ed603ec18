"""Lambda function policies (lambent/iam/function_policies.py): statements as AWS builds them (AWS's
recorded AddPermission/GetPolicy answers), conflicts, RevisionIds, the 20 KB limit, durability in
iam.db, and that a policy never outlives its function, version or alias."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from lambent.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound, StorageFull
from lambent.iam.function_policies import (
    POLICY_LIMIT_BYTES,
    FunctionPolicies,
    Permission,
    PolicyLengthExceeded,
    build_statement,
    principal_element,
)
from lambent.iam.policy import Caller, PolicyKind, PrincipalType, Request, compile_policy, evaluate
from lambent.store.iam import IamStore
from lambent.store.iam_function_policies import FunctionPolicyStore

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


ACCOUNT = "000000000000"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"


class Registry:
    """The function registry as FunctionPolicies sees it: keys -> versions and aliases."""

    def __init__(self) -> None:
        self.functions: dict[str, set[str]] = {K("fn"): {"$LATEST", "1", "live"}}

    def exists(self, name: str, qualifier: str | None) -> bool:
        quals = self.functions.get(name)
        return quals is not None and (qualifier is None or qualifier in quals)


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def iam_store(tmp_path: Path) -> Iterator[IamStore]:
    store = IamStore.open_in(tmp_path)
    yield store
    store.close()


def make(iam_store: IamStore, registry: Registry) -> FunctionPolicies:
    p = FunctionPolicies(FunctionPolicyStore(iam_store.engine), region="us-east-1",
                         exists=registry.exists)
    p.load_now()
    return p


@pytest.fixture
def policies(iam_store: IamStore, registry: Registry) -> FunctionPolicies:
    return make(iam_store, registry)


def perm(sid: str = "s3", principal: str = "s3.amazonaws.com", **kw: str) -> Permission:
    return Permission(statement_id=sid, action=kw.pop("action", "lambda:InvokeFunction"), principal=principal, **kw)


# -- statement shapes ------------------------------------------------------------------------------
@pytest.mark.parametrize(("principal", "element"), [
    ("*", "*"),
    ("123456789012", {"AWS": "arn:aws:iam::123456789012:root"}),
    ("arn:aws:iam::123456789012:user/alice", {"AWS": "arn:aws:iam::123456789012:user/alice"}),
    ("arn:aws:iam::123456789012:role/app", {"AWS": "arn:aws:iam::123456789012:role/app"}),
    ("s3.amazonaws.com", {"Service": "s3.amazonaws.com"}),
    ("events.amazonaws.com", {"Service": "events.amazonaws.com"}),
    ("alexa-appkit.amazon.com", {"Service": "alexa-appkit.amazon.com"}),
])
def test_each_principal_kind_becomes_awss_principal_element(principal: str, element: object) -> None:
    assert principal_element(principal) == element


@pytest.mark.parametrize("principal", [
    "1234", "12345678901x", "bob", "s3.amazonaws.com.evil.example", "arn:aws:s3:::bucket", ".amazonaws.com",
    "arn:aws:iam::123:root", "**", "evil.com", "arn:aws:iam::123456789012:user/*", "arn:aws:iam::*:root",
    "arn:aws:iam::123456789012:role/a?c", "arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::123456789012:group/g",
])
def test_anything_else_is_refused_with_awss_text(principal: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        principal_element(principal)
    assert caught.value.message == "The provided principal was invalid. Please check the principal and try again."


def test_a_statement_without_conditions_has_no_condition_element() -> None:
    got = build_statement(perm(), f"{ARN}fn")
    assert got == {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                   "Action": "lambda:InvokeFunction", "Resource": f"{ARN}fn"}
    assert list(got) == ["Sid", "Effect", "Principal", "Action", "Resource"]


def test_every_condition_member_lands_where_aws_puts_it() -> None:
    # AWS's recorded answer for SourceAccount + FunctionUrlAuthType + PrincipalOrgID + SourceArn
    got = build_statement(perm("url", "*", action="lambda:InvokeFunctionUrl", source_account="111111111111",
                               function_url_auth_type="NONE", principal_org_id="o-1234567890",
                               source_arn="arn:aws:s3:::bucket"), f"{ARN}fn")
    assert got["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": "111111111111", "lambda:FunctionUrlAuthType": "NONE",
                         "aws:PrincipalOrgID": "o-1234567890"},
        "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
    }
    assert list(got["Condition"]) == ["StringEquals", "ArnLike"]
    assert list(got["Condition"]["StringEquals"]) == ["AWS:SourceAccount", "lambda:FunctionUrlAuthType",
                                                      "aws:PrincipalOrgID"]
    token = build_statement(perm("alexa", "*", event_source_token="amzn1.ask.skill.x"), f"{ARN}fn")
    assert token["Condition"] == {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.x"}}


# -- add / get / remove ----------------------------------------------------------------------------
async def test_add_returns_the_statement_text_and_get_the_whole_policy(policies: FunctionPolicies) -> None:
    text = await policies.add(K("fn"), None, perm(source_arn="arn:aws:s3:::b"), revision_id=None, target_revision_id="r0")
    assert json.loads(text) == {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": "lambda:InvokeFunction", "Resource": f"{ARN}fn",
                                "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}
    await policies.add(K("fn"), None, perm("sqs", "sqs.amazonaws.com"), revision_id=None, target_revision_id="r0")
    got = policies.get(K("fn"), None)
    doc = json.loads(got.document)
    assert (doc["Version"], doc["Id"]) == ("2012-10-17", "default")
    assert [s["Sid"] for s in doc["Statement"]] == ["s3", "sqs"]
    assert list(doc) == ["Version", "Id", "Statement"]
    assert policies.get(K("fn"), "$LATEST") is got  # $LATEST is the unqualified function's policy


async def test_a_repeated_statement_id_is_a_conflict_per_qualifier(policies: FunctionPolicies) -> None:
    await policies.add(K("fn"), None, perm(), revision_id=None, target_revision_id="r0")
    with pytest.raises(ResourceConflict) as caught:
        await policies.add(K("fn"), None, perm(principal="*"), revision_id=None, target_revision_id="r0")
    assert caught.value.message == ("The statement id (s3) provided already exists. Please provide a new statement "
                                    "id, or remove the existing statement.")
    # the same id is free on a version and on an alias, each with its own qualified Resource
    v1 = json.loads(await policies.add(K("fn"), "1", perm(), revision_id=None, target_revision_id="r1"))
    live = json.loads(await policies.add(K("fn"), "live", perm(), revision_id=None, target_revision_id="ra"))
    assert (v1["Resource"], live["Resource"]) == (f"{ARN}fn:1", f"{ARN}fn:live")
    assert len(json.loads(policies.get(K("fn"), None).document)["Statement"]) == 1


async def test_the_revision_id_guarded_is_the_resources_and_the_change_sets_the_new_one(policies: FunctionPolicies) -> None:
    # The precondition is always the function version's/alias's RevisionId (AWS: the policy has none of its own)
    with pytest.raises(PreconditionFailed) as caught:
        await policies.add(K("fn"), None, perm(), revision_id="wrong", target_revision_id="r0")
    assert caught.value.message == ("The Revision Id provided does not match the latest Revision Id. Call the "
                                    "GetPolicy API to retrieve the latest Revision Id")
    await policies.add(K("fn"), None, perm(), revision_id="r0", target_revision_id="r0", new_revision_id="r1")
    assert policies.get(K("fn"), None).revision_id == "r1"
    # Then the resource's new RevisionId, which the caller passes as the target
    with pytest.raises(PreconditionFailed):
        await policies.add(K("fn"), None, perm("b"), revision_id="r0", target_revision_id="r1")
    await policies.add(K("fn"), None, perm("b"), revision_id="r1", target_revision_id="r1", new_revision_id="r2")
    with pytest.raises(PreconditionFailed) as removing:
        await policies.remove(K("fn"), None, "b", revision_id="r1", target_revision_id="r2")
    assert removing.value.message.endswith("Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    await policies.remove(K("fn"), None, "b", revision_id="r2", target_revision_id="r2", new_revision_id="r3")
    assert policies.get(K("fn"), None).revision_id == "r3"
    assert policies.get(K("fn"), None).sids() == {"s3"}
    # Without a target, a given RevisionId is checked against the one the policy was written with
    with pytest.raises(PreconditionFailed):
        await policies.remove(K("fn"), None, "s3", revision_id="r2")


async def test_remove_answers_as_aws_and_the_last_statement_takes_the_policy(policies: FunctionPolicies) -> None:
    with pytest.raises(ResourceNotFound) as none:
        await policies.remove(K("fn"), None, "s3", revision_id=None)
    assert none.value.message == "No policy is associated with the given resource."
    await policies.add(K("fn"), None, perm(), revision_id=None, target_revision_id="r0")
    with pytest.raises(ResourceNotFound) as missing:
        await policies.remove(K("fn"), None, "non-existent", revision_id=None)
    assert missing.value.message == "Statement non-existent is not found in resource policy."
    await policies.remove(K("fn"), None, "s3", revision_id=None)
    with pytest.raises(ResourceNotFound) as gone:
        policies.get(K("fn"), None)
    assert gone.value.message == "The resource you requested does not exist."
    assert policies.compiled(ACCOUNT, "fn", None) is None


async def test_a_policy_over_20_kb_is_refused_and_nothing_changes(policies: FunctionPolicies) -> None:
    arn = "arn:aws:s3:::" + "b" * 900
    n = 0
    with pytest.raises(PolicyLengthExceeded) as caught:
        while n < 100:
            await policies.add(K("fn"), None, perm(f"s{n}", source_arn=arn), revision_id=None, target_revision_id="r0")
            n += 1
    before = policies.get(K("fn"), None)
    assert len(before.document.encode()) <= POLICY_LIMIT_BYTES
    size = int(caught.value.message.split("(")[1].split(")")[0])
    assert size > POLICY_LIMIT_BYTES
    assert caught.value.message == f"The final policy size ({size}) is bigger than the limit (20480)."
    assert len(json.loads(before.document)["Statement"]) == n


# -- durability and lifetime -----------------------------------------------------------------------
async def test_policies_survive_a_restart(iam_store: IamStore, registry: Registry,
                                          policies: FunctionPolicies) -> None:
    await policies.add(K("fn"), "live", perm(), revision_id=None, target_revision_id="ra")
    before = policies.get(K("fn"), "live")
    again = make(iam_store, registry)
    after = again.get(K("fn"), "live")
    assert (after.document, after.revision_id) == (before.document, before.revision_id)


async def test_a_deleted_function_loses_its_policies_and_a_namesake_starts_empty(
        iam_store: IamStore, registry: Registry, policies: FunctionPolicies) -> None:
    await policies.add(K("fn"), None, perm(principal="*"), revision_id=None, target_revision_id="r0")
    await policies.add(K("fn"), "1", perm(principal="*"), revision_id=None, target_revision_id="r1")
    # When the function is deleted (the registry's change hook runs) and re-created
    del registry.functions[K("fn")]
    policies.function_changed(K("fn"))
    registry.functions[K("fn")] = {"$LATEST", "1"}
    # Then neither it nor a restarted server has any policy for it
    for p in (policies, make(iam_store, registry)):
        assert p.compiled(ACCOUNT, "fn", None) is None and p.compiled(ACCOUNT, "fn", "1") is None
        with pytest.raises(ResourceNotFound):
            p.get(K("fn"), None)


async def test_a_policy_never_applies_without_its_alias_even_before_the_hook(
        iam_store: IamStore, registry: Registry, policies: FunctionPolicies) -> None:
    await policies.add(K("fn"), "live", perm(principal="*"), revision_id=None, target_revision_id="ra")
    registry.functions[K("fn")].discard("live")  # the alias is deleted; no change hook has run
    assert policies.compiled(ACCOUNT, "fn", "live") is None
    registry.functions[K("fn")].add("live")  # a new alias of that name: still nothing once the hook ran
    registry.functions[K("fn")].discard("live")
    policies.function_changed(K("fn"))
    registry.functions[K("fn")].add("live")
    assert policies.compiled(ACCOUNT, "fn", "live") is None
    # and a server that restarts after a crash between the delete and the hook drops the row
    await policies.add(K("fn"), "live", perm(principal="*"), revision_id=None, target_revision_id="ra")
    registry.functions[K("fn")].discard("live")
    make(iam_store, registry)
    registry.functions[K("fn")].add("live")
    assert make(iam_store, registry).compiled(ACCOUNT, "fn", "live") is None


# -- the authoriser's view -------------------------------------------------------------------------
async def test_compiled_policy_allows_exactly_what_it_says(policies: FunctionPolicies) -> None:
    await policies.add(K("fn"), None, perm("acct", "123456789012"), revision_id=None, target_revision_id="r0")
    await policies.add(K("fn"), None, perm("svc", "s3.amazonaws.com", source_arn="arn:aws:s3:::mine"),
                       revision_id=None, target_revision_id="r0")
    compiled = policies.compiled(ACCOUNT, "fn", None)
    assert compiled is not None and policies.for_arn(f"{ARN}fn") is compiled
    assert policies.compiled("999999999999", "fn", None) is None  # another account's function
    assert policies.for_arn("arn:aws:lambda:eu-west-1:000000000000:function:fn") is None
    assert policies.compiled(ACCOUNT, "fn", "1") is None  # a version has its own (none)

    # another account's users need their own identity policy too (cross-account: both sides allow)
    theirs = compile_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}, PolicyKind.IDENTITY)

    def allowed(caller: Caller, action: str = "lambda:InvokeFunction", **ctx: str) -> bool:
        req = Request.build(caller, action, f"{ARN}fn", resource_account=ACCOUNT, context=dict(ctx))
        return evaluate(req, [] if caller.type is PrincipalType.SERVICE else [theirs], compiled).allowed

    other_user = Caller.user("123456789012", "bob", "AIDAEXAMPLEEXAMPLE01")
    assert allowed(other_user)
    assert not allowed(other_user, "lambda:GetFunction")
    assert not allowed(Caller.user("222222222222", "eve", "AIDAEXAMPLEEXAMPLE02"))
    s3 = Caller.service("s3.amazonaws.com")
    assert allowed(s3, **{"aws:SourceArn": "arn:aws:s3:::mine"})
    assert not allowed(s3, **{"aws:SourceArn": "arn:aws:s3:::theirs"})
    assert not allowed(s3)


async def test_concurrent_adds_of_one_statement_id_leave_exactly_one(policies: FunctionPolicies) -> None:
    results = await asyncio.gather(
        *(policies.add(K("fn"), None, perm(principal=f"{n:012d}"), revision_id=None, target_revision_id="r0")
          for n in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, str) for r in results) == 1
    assert sum(isinstance(r, ResourceConflict) for r in results) == 4
    assert len(json.loads(policies.get(K("fn"), None).document)["Statement"]) == 1


class FailingStore(FunctionPolicyStore):
    def put(self, row: Mapping[str, Any]) -> None:
        raise StorageFull("the data directory is full")


async def test_a_write_the_store_refuses_changes_nothing(iam_store: IamStore, registry: Registry,
                                                        policies: FunctionPolicies) -> None:
    await policies.add(K("fn"), None, perm(), revision_id=None, target_revision_id="r0")
    before = policies.get(K("fn"), None)
    policies.store = FailingStore(iam_store.engine)
    with pytest.raises(StorageFull):
        await policies.add(K("fn"), None, perm("other"), revision_id=None, target_revision_id="r0")
    assert policies.get(K("fn"), None) is before
    assert make(iam_store, registry).get(K("fn"), None).document == before.document
