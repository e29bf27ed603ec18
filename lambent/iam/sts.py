"""STS: temporary credentials for roles (AssumeRole), and who a caller is (GetCallerIdentity).

https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html: DurationSeconds from
900 s up to the role's MaxSessionDuration (default 3600 s), at most one hour when a role session
assumes a role (role chaining); the account root cannot assume roles; a role that does not exist
and a trust policy that does not allow the caller answer the same AccessDenied, so a caller
cannot probe another account for role names. The session's principal is
``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, its id ``ROLEID:SESSION``.

The trust policy is read by :func:`lambent.iam.trust.trust_allows` (a conservative reading that
never allows what it cannot evaluate) until the policy engine evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lambent.errors import AccessDenied, ValidationError
from lambent.iam.model import Principal, PrincipalKind, Session
from lambent.iam.service import IamService
from lambent.iam.trust import trust_allows

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
    identity_allows: Callable[[], bool] = lambda: False,
) -> IssuedCredentials:
    """``caller`` assumes ``role_arn``; ``identity_allows`` says whether the caller's own policies
    allow sts:AssumeRole on it (needed when the trust names the caller's account)."""
    denied = AccessDenied(
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        caller=caller.arn,
    )
    if caller.kind is PrincipalKind.ROOT:
        raise AccessDenied("Roles may not be assumed by root accounts.", caller=caller.arn)
    role = iam.role_by_arn(role_arn)
    if role is None or not trust_allows(role.assume_role_policy, principal=caller, identity_allows=identity_allows):
        raise denied
    duration = DEFAULT_DURATION_S if duration_s is None else duration_s
    _check_duration(duration, role.max_session_s, chained=caller.kind is PrincipalKind.ASSUMED_ROLE)
    session, token = iam.issue_session(role, session_name, duration)
    return IssuedCredentials(session, token)


def assume_role_for_service(
    iam: IamService, service: str, role_arn: str, session_name: str, duration_s: int = DEFAULT_DURATION_S
) -> IssuedCredentials:
    """An AWS service principal (``lambda.amazonaws.com`` running a function with its execution
    role) assumes ``role_arn``, if the role's trust policy names that service."""
    role = iam.role_by_arn(role_arn)
    if role is None or not trust_allows(role.assume_role_policy, service=service):
        raise AccessDenied(f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    _check_duration(duration_s, role.max_session_s, chained=False)
    session, token = iam.issue_session(role, session_name, duration_s)
    return IssuedCredentials(session, token)


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
