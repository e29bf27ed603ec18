"""Evaluation, table-driven from AWS's documented examples: which policy side allows, explicit
deny over allow over implicit deny, same-account vs cross-account, NotAction / NotResource /
NotPrincipal, and the access denied messages. Every case names its page in a comment; the
documents are written here after those pages' examples."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from lambent.iam.policy import (
    Caller,
    CompiledPolicy,
    Decision,
    PolicyKind,
    PolicySet,
    PolicyType,
    Request,
    access_denied_message,
    compile_policy,
    evaluate,
)

A = "123456789012"  # the function's account
B = "210987654321"  # another account
FN = f"arn:aws:lambda:us-east-2:{A}:function:my-function"

alice = Caller.user(A, "alice", "AIDAALICE")
bob_b = Caller.user(B, "bob", "AIDABOB")
role_session = Caller.role_session(A, "app-role", "s1", "AROAAPP", path="/service-role/")
root_a = Caller.root(A)
root_b = Caller.root(B)
sns = Caller.service("sns.amazonaws.com")
anyone = Caller.anonymous()


def identity(*statements: dict[str, Any]) -> CompiledPolicy:
    return compile_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), PolicyKind.IDENTITY)


def resource(*statements: dict[str, Any], kind: PolicyKind = PolicyKind.RESOURCE) -> CompiledPolicy:
    return compile_policy(json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}), kind)


INVOKE_ANY = identity({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"})
INVOKE_A_FUNCTIONS = identity({"Effect": "Allow", "Action": "lambda:Invoke*", "Resource": f"arn:aws:lambda:*:{A}:function:*"})
DENY_INVOKE = identity({"Sid": "NoInvoke", "Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": FN})

# Lambda: "Granting Lambda function access to AWS services" (add-permission --principal sns.amazonaws.com --source-arn)
SNS_POLICY = resource({"Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "lambda:InvokeFunction",
                       "Resource": FN, "Condition": {"ArnLike": {"AWS:SourceArn": f"arn:aws:sns:us-east-2:{A}:my-topic"}}})
# Lambda: "Granting function access to other accounts" (add-permission --principal 210987654321)
XACCOUNT_POLICY = resource({"Sid": "xaccount", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                            "Action": "lambda:InvokeFunction", "Resource": FN})
# Lambda: "Granting function access to an organization" (--principal * --principal-org-id)
ORG_POLICY = resource({"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": FN,
                       "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}})
# Lambda: "Control access to Lambda function URLs" (AuthType NONE: a public resource-based statement)
URL_POLICY = resource({"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
                       "Resource": FN, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}})
# IAM: "Policy evaluation for requests within a single account" (a resource-based policy naming the user)
NAMES_ALICE = resource({"Sid": "alice", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:user/alice"},
                        "Action": "lambda:InvokeFunction", "Resource": FN})
# IAM JSON policy elements: Principal ("AWS account principals": naming the account delegates to it)
NAMES_ACCOUNT_A = resource({"Sid": "acct", "Effect": "Allow", "Principal": {"AWS": A}, "Action": "lambda:InvokeFunction", "Resource": FN})
# IAM JSON policy elements: Principal ("IAM role principals" cover the role's sessions)
NAMES_ROLE = resource({"Sid": "role", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/service-role/app-role"},
                       "Action": "lambda:InvokeFunction", "Resource": FN})
NAMES_OTHER_SESSION = resource({"Sid": "s2", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:sts::{A}:assumed-role/app-role/s2"},
                                "Action": "lambda:InvokeFunction", "Resource": FN})
DENY_ALL_IN_RESOURCE = resource({"Sid": "lockdown", "Effect": "Deny", "Principal": "*", "Action": "lambda:*", "Resource": FN})

Case = tuple[str, Caller, str, str, dict[str, Any], list[CompiledPolicy], CompiledPolicy | None, Decision, PolicyType | None]

CASES: list[Case] = [
    # (case, caller, action, resource, Request.build extras, identity policies, resource policy, decision, deciding side)
    # --- "Policy evaluation for requests within a single account": either side allows
    ("no policy at all: implicit deny", alice, "lambda:InvokeFunction", FN, {}, [], None, Decision.IMPLICIT_DENY, PolicyType.IDENTITY),
    ("identity allow", alice, "lambda:InvokeFunction", FN, {}, [INVOKE_ANY], None, Decision.ALLOW, PolicyType.IDENTITY),
    ("identity allow, wildcard action and ARN", alice, "lambda:InvokeAsync", FN, {}, [INVOKE_A_FUNCTIONS], None, Decision.ALLOW,
     PolicyType.IDENTITY),
    ("resource allow naming the user, no identity policy", alice, "lambda:InvokeFunction", FN, {}, [], NAMES_ALICE, Decision.ALLOW,
     PolicyType.RESOURCE),
    ("resource policy names someone else", alice, "lambda:InvokeFunction", FN, {}, [], NAMES_OTHER_SESSION, Decision.IMPLICIT_DENY,
     PolicyType.IDENTITY),
    # --- "How AWS enforcement code logic evaluates requests": an explicit deny overrides any allow
    ("identity deny beats identity allow", alice, "lambda:InvokeFunction", FN, {}, [INVOKE_ANY, DENY_INVOKE], None,
     Decision.EXPLICIT_DENY, PolicyType.IDENTITY),
    ("identity deny beats resource allow", alice, "lambda:InvokeFunction", FN, {}, [DENY_INVOKE], NAMES_ALICE, Decision.EXPLICIT_DENY,
     PolicyType.IDENTITY),
    ("resource deny beats identity allow", alice, "lambda:InvokeFunction", FN, {}, [INVOKE_ANY], DENY_ALL_IN_RESOURCE,
     Decision.EXPLICIT_DENY, PolicyType.RESOURCE),
    # --- the account root user has full access to its own account, but not past a Deny
    ("root of the account", root_a, "lambda:DeleteFunction", FN, {}, [], None, Decision.ALLOW, None),
    ("root of the account and a resource deny", root_a, "lambda:InvokeFunction", FN, {}, [], DENY_ALL_IN_RESOURCE,
     Decision.EXPLICIT_DENY, PolicyType.RESOURCE),
    # --- IAM JSON policy elements: Principal: naming the account delegates; identity policy needed
    ("account principal alone grants nothing", alice, "lambda:InvokeFunction", FN, {}, [], NAMES_ACCOUNT_A, Decision.IMPLICIT_DENY,
     PolicyType.IDENTITY),
    ("account principal plus identity allow", alice, "lambda:InvokeFunction", FN, {}, [INVOKE_ANY], NAMES_ACCOUNT_A, Decision.ALLOW,
     PolicyType.IDENTITY),
    ("a role principal covers its session", role_session, "lambda:InvokeFunction", FN, {}, [], NAMES_ROLE, Decision.ALLOW,
     PolicyType.RESOURCE),
    ("a session principal covers only that session", role_session, "lambda:InvokeFunction", FN, {}, [], NAMES_OTHER_SESSION,
     Decision.IMPLICIT_DENY, PolicyType.IDENTITY),
    # --- "Cross-account policy evaluation logic": both sides must allow
    ("cross-account, resource side only", bob_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [], XACCOUNT_POLICY,
     Decision.IMPLICIT_DENY, PolicyType.IDENTITY),
    ("cross-account, identity side only", bob_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [INVOKE_ANY], None,
     Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("cross-account, both sides", bob_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [INVOKE_ANY], XACCOUNT_POLICY,
     Decision.ALLOW, PolicyType.RESOURCE),
    ("cross-account, resource names a third account", bob_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [INVOKE_ANY],
     NAMES_ACCOUNT_A, Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("cross-account root needs no identity policy", root_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [], XACCOUNT_POLICY,
     Decision.ALLOW, PolicyType.RESOURCE),
    ("cross-account root is not root of the other account", root_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [], None,
     Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    # --- Lambda: service principals and their source conditions
    ("service with its source ARN", sns, "lambda:InvokeFunction", FN, {"context": {"aws:SourceArn": f"arn:aws:sns:us-east-2:{A}:my-topic"}},
     [], SNS_POLICY, Decision.ALLOW, PolicyType.RESOURCE),
    ("service from another topic", sns, "lambda:InvokeFunction", FN, {"context": {"aws:SourceArn": f"arn:aws:sns:us-east-2:{B}:my-topic"}},
     [], SNS_POLICY, Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("service with no resource policy", sns, "lambda:InvokeFunction", FN, {}, [], None, Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("another service", Caller.service("events.amazonaws.com"), "lambda:InvokeFunction", FN,
     {"context": {"aws:SourceArn": f"arn:aws:sns:us-east-2:{A}:my-topic"}}, [], SNS_POLICY, Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("organization member", replace(Caller.user(B, "eve", "AIDAEVE"), org_id="o-a1b2c3d4e5"),
     "lambda:InvokeFunction", FN, {"resource_account": A}, [INVOKE_ANY], ORG_POLICY, Decision.ALLOW, PolicyType.RESOURCE),
    ("not an organization member", bob_b, "lambda:InvokeFunction", FN, {"resource_account": A}, [INVOKE_ANY], ORG_POLICY,
     Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("public function URL, anonymous caller", anyone, "lambda:InvokeFunctionUrl", FN, {"context": {"lambda:FunctionUrlAuthType": "NONE"}},
     [], URL_POLICY, Decision.ALLOW, PolicyType.RESOURCE),
    ("IAM-auth function URL, anonymous caller", anyone, "lambda:InvokeFunctionUrl", FN,
     {"context": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}, [], URL_POLICY, Decision.IMPLICIT_DENY, PolicyType.RESOURCE),
    ("anonymous callers have no identity side", anyone, "lambda:InvokeFunction", FN, {}, [INVOKE_ANY], None, Decision.IMPLICIT_DENY,
     PolicyType.RESOURCE),
]


@pytest.mark.parametrize(("case", "caller", "action", "arn", "extra", "ids", "res", "decision", "side"), CASES, ids=[c[0] for c in CASES])
def test_documented_evaluations(case: str, caller: Caller, action: str, arn: str, extra: dict[str, Any], ids: list[CompiledPolicy],
                                res: CompiledPolicy | None, decision: Decision, side: PolicyType | None) -> None:
    result = evaluate(Request.build(caller, action, arn, **extra), ids, res)
    assert (result.decision, result.policy_type) == (decision, side)


def test_the_deciding_statement_is_named() -> None:
    result = evaluate(Request.build(alice, "lambda:InvokeFunction", FN), [INVOKE_ANY, DENY_INVOKE])
    assert result.sid == "NoInvoke"
    assert evaluate(Request.build(sns, "lambda:InvokeFunction", FN, context={"aws:SourceArn": f"arn:aws:sns:us-east-2:{A}:my-topic"}),
                    resource=SNS_POLICY).sid == "sns"


# --- NotAction / NotResource / NotPrincipal ------------------------------------------------


def test_not_action_allows_everything_else() -> None:
    # IAM JSON policy elements: NotAction ("NotAction with Allow": every action except IAM's)
    policy = identity({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(Request.build(alice, "lambda:CreateFunction", FN), [policy]).allowed
    assert evaluate(Request.build(alice, "IAM:CreateUser", f"arn:aws:iam::{A}:user/x"), [policy]).decision is Decision.IMPLICIT_DENY


def test_not_action_with_deny_outside_the_listed_actions() -> None:
    # IAM JSON policy elements: NotAction ("NotAction with Deny": deny all but the listed ones
    # unless MFA is present)
    policy = identity(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "DenyAllUsersNotUsingMFA", "Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    )
    no_mfa = evaluate(Request.build(alice, "lambda:InvokeFunction", FN, context={"aws:MultiFactorAuthPresent": False}), [policy])
    with_mfa = evaluate(Request.build(alice, "lambda:InvokeFunction", FN, context={"aws:MultiFactorAuthPresent": True}), [policy])
    iam = evaluate(Request.build(alice, "iam:ListUsers", "*", context={"aws:MultiFactorAuthPresent": False}), [policy])
    assert (no_mfa.decision, no_mfa.sid) == (Decision.EXPLICIT_DENY, "DenyAllUsersNotUsingMFA")
    assert with_mfa.allowed and iam.allowed


def test_not_resource_allows_all_but_the_listed_resources() -> None:
    # IAM JSON policy elements: NotResource ("every resource except HRBucket/Payroll")
    policy = identity({"Effect": "Allow", "Action": "s3:*",
                       "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})
    assert evaluate(Request.build(alice, "s3:GetObject", "arn:aws:s3:::HRBucket/Handbook"), [policy]).allowed
    assert not evaluate(Request.build(alice, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2026.csv"), [policy]).allowed


def test_not_principal_with_deny_must_list_the_account_too() -> None:
    # IAM JSON policy elements: NotPrincipal ("Specifying NotPrincipal and Deny": list the user
    # AND its account, or the account's identity is denied and so is the user)
    allow_all = resource({"Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": FN})
    both = resource(
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": FN},
        {"Sid": "OnlyBob", "Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{B}:user/bob", f"arn:aws:iam::{B}:root"]},
         "Action": "lambda:*", "Resource": FN},
    )
    user_only = resource(
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": FN},
        {"Sid": "OnlyBob", "Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{B}:user/bob"}, "Action": "lambda:*", "Resource": FN},
    )
    req = Request.build(bob_b, "lambda:InvokeFunction", FN, resource_account=A)
    other = Request.build(Caller.user(B, "mallory", "AIDAM"), "lambda:InvokeFunction", FN, resource_account=A)
    assert evaluate(req, [INVOKE_ANY], allow_all).allowed
    assert evaluate(req, [INVOKE_ANY], both).allowed
    assert evaluate(other, [INVOKE_ANY], both).decision is Decision.EXPLICIT_DENY
    assert evaluate(req, [INVOKE_ANY], user_only).decision is Decision.EXPLICIT_DENY


# --- conditions in context -----------------------------------------------------------------


def test_a_time_window_on_aws_current_time() -> None:
    # IAM: "Example policies: AWS: Allows access within specific dates"
    policy = identity({"Effect": "Allow", "Action": "lambda:*", "Resource": "*", "Condition": {
        "DateGreaterThan": {"aws:CurrentTime": "2026-04-01T00:00:00Z"}, "DateLessThan": {"aws:CurrentTime": "2026-06-30T23:59:59Z"}}})
    inside = Request.build(alice, "lambda:GetFunction", FN, now=datetime(2026, 5, 1, tzinfo=timezone.utc))
    after = Request.build(alice, "lambda:GetFunction", FN, now=datetime(2026, 7, 1, tzinfo=timezone.utc))
    assert evaluate(inside, [policy]).allowed and not evaluate(after, [policy]).allowed


def test_deny_unless_secure_transport_and_source_ip() -> None:
    # IAM: "Example policies: AWS: Denies access to AWS based on the source IP"; S3-style
    # aws:SecureTransport deny
    policy = identity(
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}},
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    )
    ok = Request.build(alice, "lambda:GetFunction", FN, source_ip="192.0.2.10", secure_transport=True)
    far = Request.build(alice, "lambda:GetFunction", FN, source_ip="198.51.100.3", secure_transport=True)
    plain = Request.build(alice, "lambda:GetFunction", FN, source_ip="192.0.2.10", secure_transport=False)
    assert evaluate(ok, [policy]).allowed
    assert evaluate(far, [policy]).decision is Decision.EXPLICIT_DENY
    assert evaluate(plain, [policy]).decision is Decision.EXPLICIT_DENY


def test_principal_keys_and_variables_in_resources() -> None:
    # IAM policy elements: Variables and tags ("${aws:username}" in Resource; aws:userid of a role session)
    policy = identity(
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "arn:aws:lambda:*:${aws:PrincipalAccount}:function:${aws:username}-*"},
        {"Effect": "Allow", "Action": "logs:*", "Resource": "*", "Condition": {"StringLike": {"aws:userid": "AROAAPP:*"}}},
    )
    own = f"arn:aws:lambda:us-east-2:{A}:function:alice-api"
    theirs = f"arn:aws:lambda:us-east-2:{A}:function:bob-api"
    assert evaluate(Request.build(alice, "lambda:UpdateFunctionCode", own), [policy]).allowed
    assert not evaluate(Request.build(alice, "lambda:UpdateFunctionCode", theirs), [policy]).allowed
    # a role session has no aws:username: the variable does not resolve, nothing matches
    assert not evaluate(Request.build(role_session, "lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-2:{A}:function:-api"), [policy]).allowed
    assert evaluate(Request.build(role_session, "logs:PutLogEvents", "*"), [policy]).allowed
    assert not evaluate(Request.build(alice, "logs:PutLogEvents", "*"), [policy]).allowed


def test_a_trust_policy_is_evaluated_as_the_roles_resource_policy() -> None:
    # IAM: "Lambda execution role" trust policy; cross-account trust of an account
    trust = resource({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
                     {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "sts:AssumeRole"}, kind=PolicyKind.TRUST)
    role = f"arn:aws:iam::{A}:role/app-role"
    assume_any = identity({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    assert evaluate(Request.build(Caller.service("lambda.amazonaws.com"), "sts:AssumeRole", role), resource=trust).allowed
    assert evaluate(Request.build(bob_b, "sts:AssumeRole", role, resource_account=A), [assume_any], trust).allowed
    assert not evaluate(Request.build(bob_b, "sts:AssumeRole", role, resource_account=A), [], trust).allowed
    assert not evaluate(Request.build(Caller.service("ec2.amazonaws.com"), "sts:AssumeRole", role), resource=trust).allowed


# --- hostile callers -----------------------------------------------------------------------


def test_request_context_cannot_pose_as_the_caller() -> None:
    # A context value taken from a request must never replace the caller's identity keys.
    policy = identity({"Effect": "Allow", "Action": "*", "Resource": "*",
                       "Condition": {"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{A}:user/admin", "aws:username": "admin"}}})
    forged = Request.build(alice, "lambda:DeleteFunction", FN, context={"aws:PrincipalArn": f"arn:aws:iam::{A}:user/admin",
                                                                         "AWS:USERNAME": "admin", "aws:PrincipalAccount": B})
    assert forged.keys["aws:principalarn"] == (alice.arn,) and forged.keys["aws:principalaccount"] == (A,)
    assert not evaluate(forged, [policy]).allowed


def test_a_service_caller_cannot_use_identity_policies() -> None:
    assert not evaluate(Request.build(sns, "lambda:InvokeFunction", FN), [INVOKE_ANY]).allowed


def test_policy_kinds_are_not_interchangeable() -> None:
    with pytest.raises(ValueError):
        evaluate(Request.build(alice, "lambda:InvokeFunction", FN), [INVOKE_ANY], INVOKE_ANY)
    with pytest.raises(ValueError):
        PolicySet([SNS_POLICY])


# --- "Troubleshoot access denied error messages" -------------------------------------------


def test_access_denied_messages() -> None:
    implicit = evaluate(Request.build(alice, "lambda:InvokeFunction", FN), [])
    explicit = evaluate(Request.build(alice, "lambda:InvokeFunction", FN), [DENY_INVOKE])
    resource_deny = evaluate(Request.build(alice, "lambda:InvokeFunction", FN), [INVOKE_ANY], DENY_ALL_IN_RESOURCE)
    cross = evaluate(Request.build(bob_b, "lambda:InvokeFunction", FN, resource_account=A), [INVOKE_ANY])
    user = f"arn:aws:iam::{A}:user/alice"
    assert access_denied_message(user, "lambda:InvokeFunction", FN, implicit) == (
        f"User: {user} is not authorized to perform: lambda:InvokeFunction on resource: {FN} "
        "because no identity-based policy allows the lambda:InvokeFunction action")
    assert access_denied_message(user, "lambda:InvokeFunction", FN, explicit) == (
        f"User: {user} is not authorized to perform: lambda:InvokeFunction on resource: {FN} with an explicit deny in an identity-based policy")
    assert access_denied_message(user, "lambda:InvokeFunction", FN, resource_deny).endswith("with an explicit deny in a resource-based policy")
    assert access_denied_message(bob_b.arn, "lambda:InvokeFunction", FN, cross).endswith(
        "because no resource-based policy allows the lambda:InvokeFunction action")
    assert access_denied_message(user, "lambda:ListFunctions", None, implicit) == (
        f"User: {user} is not authorized to perform: lambda:ListFunctions because no identity-based policy allows the lambda:ListFunctions action")
    with pytest.raises(ValueError):
        access_denied_message(user, "lambda:InvokeFunction", FN, evaluate(Request.build(root_a, "lambda:InvokeFunction", FN)))


def test_an_unresolved_variable_in_not_resource_never_reads_as_another_resource() -> None:
    # IAM policy elements: Variables and tags ("If AWS cannot resolve a variable this might
    # cause the entire statement to be invalid"): a role session has no aws:username, so this
    # Allow must not grant every resource to it.
    policy = identity({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::private/${aws:username}/*"})
    assert not evaluate(Request.build(role_session, "s3:GetObject", "arn:aws:s3:::public/x"), [policy]).allowed
    assert evaluate(Request.build(alice, "s3:GetObject", "arn:aws:s3:::public/x"), [policy]).allowed
    assert not evaluate(Request.build(alice, "s3:GetObject", "arn:aws:s3:::private/alice/x"), [policy]).allowed


def test_request_times_are_utc() -> None:
    from datetime import timedelta

    r = Request.build(alice, "lambda:GetFunction", FN, now=datetime(2026, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))))
    assert r.keys["aws:currenttime"] == ("2026-01-01T07:30:00Z",)
    assert r.keys["aws:epochtime"] == (str(int(datetime(2026, 1, 1, 7, 30, tzinfo=timezone.utc).timestamp())),)


def test_caller_keys_follow_awss_global_keys() -> None:
    # AWS global condition context keys: aws:userid is "role-id:session" for a role session,
    # aws:PrincipalArn the role's ARN (with its path), no aws:username
    keys = Request.build(role_session, "lambda:GetFunction", FN).keys
    assert keys["aws:userid"] == ("AROAAPP:s1",)
    assert keys["aws:principalarn"] == (f"arn:aws:iam::{A}:role/service-role/app-role",)
    assert keys["aws:principaltype"] == ("AssumedRole",) and "aws:username" not in keys
    assert role_session.arn == f"arn:aws:sts::{A}:assumed-role/app-role/s1"
    assert Request.build(alice, "x:y", "*").keys["aws:username"] == ("alice",)
    assert "aws:principalarn" not in Request.build(sns, "x:y", "*").keys


def test_the_per_action_memo_is_bounded() -> None:
    policies = PolicySet([INVOKE_ANY])
    for i in range(3000):
        evaluate(Request.build(alice, f"svc:Action{i}", FN), policies)
    assert len(policies._by_action) <= 1024
    assert evaluate(Request.build(alice, "lambda:InvokeFunction", FN), policies).allowed


def test_the_resource_account_defaults_to_the_arns_account() -> None:
    # Hostile default: an API that forgets resource_account must not get the same-account rule
    # (either side allows) for another account's function.
    req = Request.build(bob_b, "lambda:InvokeFunction", FN)
    assert req.resource_account == A and req.cross_account
    assert evaluate(req, [], XACCOUNT_POLICY).decision is Decision.IMPLICIT_DENY
    assert not Request.build(alice, "lambda:ListFunctions", "*").cross_account
    assert Request.build(alice, "s3:GetObject", "arn:aws:s3:::bucket/key").resource_account is None
