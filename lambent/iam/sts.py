"""STS: temporary credentials for roles (AssumeRole), and who a caller is (GetCallerIdentity).

https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html: DurationSeconds from
900 s up to the role's MaxSessionDuration (default 3600 s), at most one hour when a role session
assumes a role (role chaining); the account root cannot assume roles; a role that does not exist
and a trust policy that does not allow the caller answer the same AccessDenied, so a caller
cannot probe another account for role names. The session's principal is
``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, its id ``ROLEID:SESSION``.

The decision is the policy engine's (:mod:`lambent.iam.policy`), with the role's trust policy
as the resource-based policy and the caller's identity policies, plus the rule that makes a
trust policy special: it must name the caller (its ARN, its role, or its account — the last
delegating to the caller's identity policies, which must then allow ``sts:AssumeRole`` on the
role); an identity policy alone never lets a principal into a role whose trust does not name it.
Across accounts both sides must allow. ``sts:ExternalId``, ``sts:RoleSessionName`` and
``aws:PrincipalServiceName`` are in the request context, so trust conditions on them hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lambent.errors import AccessDenied, ValidationError
from lambent.iam.authorize import caller_of
from lambent.iam.model import Principal, PrincipalKind, Role, Session
from lambent.iam.policy import Caller, ContextValue, PolicyKind, Request, compile_policy, evaluate
from lambent.iam.service import IamService

DEFAULT_DURATION_S = 3600
MIN_DURATION_S = 900
#: Role chaining: a role session assuming a role gets at most an hour.
CHAINED_MAX_S = 3600


@dataclass(frozen=True)
class IssuedCredentials:
    session: Session
    session_token: str = field(repr=False)


def assume_role(
    iam: IamService,
    caller: Principal,
    role_arn: str,
    session_name: str,
    duration_s: int | None = None,
    *,
    external_id: str | None = None,
) -> IssuedCredentials:
    """``caller`` assumes ``role_arn`` (``external_id``: AssumeRole's ExternalId, for the trust's
    ``sts:ExternalId`` condition)."""
    denied = AccessDenied(
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        caller=caller.arn,
    )
    if caller.kind is PrincipalKind.ROOT:
        raise AccessDenied("Roles may not be assumed by root accounts.", caller=caller.arn)
    role = iam.role_by_arn(role_arn)
    context: dict[str, ContextValue] = {"sts:RoleSessionName": session_name}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    if role is None or not _trusted(iam, role, caller_of(caller), caller, context):
        raise denied
    duration = DEFAULT_DURATION_S if duration_s is None else duration_s
    _check_duration(duration, role.max_session_s, chained=caller.kind is PrincipalKind.ASSUMED_ROLE)
    session, token = iam.issue_session(role, session_name, duration)
    return IssuedCredentials(session, token)


def service_may_assume(iam: IamService, service: str, role_arn: str, session_name: str) -> bool:
    """Whether the service principal ``service`` could assume ``role_arn`` (it exists and its
    trust policy allows it, for this session name) — what ``assume_role_for_service`` checks,
    without issuing a session."""
    role = iam.role_by_arn(role_arn)
    return role is not None and _trusted(iam, role, Caller.service(service), None, {"sts:RoleSessionName": session_name})


def assume_role_for_service(
    iam: IamService, service: str, role_arn: str, session_name: str, duration_s: int = DEFAULT_DURATION_S
) -> IssuedCredentials:
    """An AWS service principal (``lambda.amazonaws.com`` running a function with its execution
    role) assumes ``role_arn``, if the role's trust policy names that service."""
    role = iam.role_by_arn(role_arn)
    if role is None or not _trusted(iam, role, Caller.service(service), None, {"sts:RoleSessionName": session_name}):
        raise AccessDenied(f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    _check_duration(duration_s, role.max_session_s, chained=False)
    session, token = iam.issue_session(role, session_name, duration_s)
    return IssuedCredentials(session, token)


def _trusted(
    iam: IamService, role: Role, caller: Caller, principal: Principal | None, context: Mapping[str, ContextValue]
) -> bool:
    request = Request.build(
        caller, "sts:AssumeRole", role.arn, resource_account=role.account_id, now=datetime.now(timezone.utc), context=context
    )
    trust = compile_policy(role.assume_role_policy, PolicyKind.TRUST)
    identity = [compile_policy(doc) for doc in iam.identity_policies(principal)] if principal is not None else []
    if not evaluate(request, identity, trust).allowed:
        return False
    # the trust must name the caller itself (directly or through its account), whatever the
    # identity policies allow (IAM User Guide: "roles ... trust policy")
    _, allows = trust.candidates(request.action_lower)
    return any(s.applies(request) for s in allows)


def _check_duration(duration_s: int, max_session_s: int, *, chained: bool) -> None:
    if duration_s < MIN_DURATION_S:
        raise ValidationError(
            f"1 validation error detected: Value '{duration_s}' at 'durationSeconds' failed to satisfy constraint:"
            f" Member must have value greater than or equal to {MIN_DURATION_S}"
        )
    if chained and duration_s > CHAINED_MAX_S:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    if duration_s > max_session_s:
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")


def caller_identity(principal: Principal) -> dict[str, str]:
    """GetCallerIdentity's answer (UserId, Account, Arn)."""
    return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}
