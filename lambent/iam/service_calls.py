"""May this AWS service, acting with this role, invoke that function? Calls lambent makes itself.

AWS services call Lambda as the roles they are given, and are checked as any caller is:

- EventBridge Scheduler invokes a schedule's target with the schedule's ``Target.RoleArn``
  (Scheduler User Guide, "Set up the execution role"): ``scheduler.amazonaws.com`` must be able to
  assume the role (its trust policy names the service) and the role's identity policies must allow
  ``lambda:InvokeFunction`` on the target function's ARN, qualified as the target names it.
- Lambda delivers an asynchronous invocation record to a Lambda destination with the source
  function's execution role (Lambda Developer Guide, "Configuring destinations for asynchronous
  invocation": the execution role needs ``lambda:InvokeFunction`` on the destination), which
  ``lambda.amazonaws.com`` assumes.

Either way the caller is a session of the role (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``)
and the decision is the request path's: :meth:`Authorizer.evaluate` with the role's identity
policies and the target function's resource-based policy (``FunctionPolicies.for_arn``), so a
function of another account is invoked only if its own policy allows the role too.

No credentials are issued for this (no STS session counts against the account's quota): the
trust is evaluated as :func:`lambent.iam.sts.assume_role_for_service` does and the session
principal is built only to be evaluated. Cheap per occurrence: the compiled trust policy is kept
per (role id, trust document), the identity policies per (role, policy generation) by the
Authorizer's cache, and the function's policy is compiled once by its owner.

Scope: one per server, used on the event loop only (like the Authorizer, it is not thread-safe).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from lambent.errors import AccessDenied
from lambent.iam.authorize import Authorizer
from lambent.iam.model import PARTITION, Principal, PrincipalKind, Role
from lambent.iam.policy import (
    Caller,
    CompiledPolicy,
    Evaluation,
    PolicyKind,
    Request,
    access_denied_message,
    compile_policy,
    evaluate,
)
from lambent.iam.service import IamService

SCHEDULER = "scheduler.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
INVOKE_ACTION = "lambda:InvokeFunction"
#: Compiled trust policies kept (one per role in use; a role's new trust replaces its entry).
TRUST_CACHE_MAX = 4096
#: Longest role session name STS accepts (RoleSessionName: 2-64 characters of [\w+=,.@-]).
SESSION_NAME_MAX = 64

#: resource ARN -> the function's compiled resource-based policy, if it has one
ResourcePolicyOf = Callable[[str], "CompiledPolicy | None"]
#: (role ARN, function ARN) -> nothing if the call is allowed; AccessDenied otherwise
InvokeCheck = Callable[[str, str], None]


@dataclass(frozen=True)
class Parts:
    """What the decision needs from the platform (``platform.iam``, ``platform.authorizer``,
    ``platform.function_policies.for_arn``)."""

    iam: IamService
    authorizer: Authorizer
    resource_policy_of: ResourcePolicyOf


def session_name(text: str) -> str:
    """A RoleSessionName made of ``text`` (what STS accepts: ``[\\w+=,.@-]``, 2-64 characters)."""
    cleaned = "".join(c if c.isalnum() or c in "_+=,.@-" else "-" for c in text)[:SESSION_NAME_MAX]
    return cleaned if len(cleaned) >= 2 else (cleaned + "--")[:2]


def _session_principal(role: Role, name: str) -> Principal:
    """The role session a service acts as, for evaluation only: it has no key and no secret, so
    nothing can authenticate as it."""
    return Principal(
        PrincipalKind.ASSUMED_ROLE, role.account_id,
        f"arn:{PARTITION}:sts::{role.account_id}:assumed-role/{role.name}/{name}",
        f"{role.role_id}:{name}", role.name, access_key_id="", secret_access_key="", role_arn=role.arn,
    )


class ServiceCalls:
    """Decides the calls AWS services make to Lambda on a caller's behalf. Scope: one per server."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self._trusts: OrderedDict[tuple[str, str], CompiledPolicy] = OrderedDict()

    def _trust(self, role: Role) -> CompiledPolicy:
        key = (role.role_id, role.assume_role_policy)
        found = self._trusts.get(key)
        if found is not None:
            self._trusts.move_to_end(key)
            return found
        compiled = compile_policy(role.assume_role_policy, PolicyKind.TRUST)
        for old in [k for k in self._trusts if k[0] == role.role_id]:
            del self._trusts[old]
        self._trusts[key] = compiled
        while len(self._trusts) > TRUST_CACHE_MAX:
            self._trusts.popitem(last=False)
        return compiled

    def _trusts_service(self, role: Role, service: str, name: str) -> bool:
        """Whether ``service`` may assume ``role`` (as :func:`lambent.iam.sts.assume_role_for_service`
        decides it: the trust must allow, and must name the service itself)."""
        request = Request.build(Caller.service(service), "sts:AssumeRole", role.arn, resource_account=role.account_id,
                                now=datetime.now(timezone.utc), context={"sts:RoleSessionName": name})
        trust = self._trust(role)
        if not evaluate(request, (), trust).allowed:
            return False
        _, allows = trust.candidates(request.action_lower)
        return any(s.applies(request) for s in allows)

    def may_invoke(self, service_principal: str, role_arn: str, function_arn: str, *,
                   session: str | None = None) -> Evaluation:
        """The decision on ``service_principal`` invoking ``function_arn`` as a session of
        ``role_arn`` (named ``session``, default: the service's name). AccessDenied if the service
        cannot assume the role at all (missing, or its trust does not name the service)."""
        name = session_name(session or service_principal.split(".", 1)[0])
        role = self.parts.iam.role_by_arn(role_arn)
        if role is None or not self._trusts_service(role, service_principal, name):
            raise AccessDenied(f"{service_principal} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                               caller=service_principal, role=role_arn, resource=function_arn)
        principal = _session_principal(role, name)
        return self.parts.authorizer.evaluate(principal, INVOKE_ACTION, function_arn,
                                              resource_policy=self.parts.resource_policy_of(function_arn))

    def check_invoke(self, service_principal: str, role_arn: str, function_arn: str, *,
                     session: str | None = None) -> None:
        """Nothing if allowed; AccessDenied with AWS's message (naming the role session) otherwise."""
        found = self.may_invoke(service_principal, role_arn, function_arn, session=session)
        if not found.allowed:
            name = session_name(session or service_principal.split(".", 1)[0])
            role = self.parts.iam.role_by_arn(role_arn)
            caller = _session_principal(role, name).arn if role is not None else role_arn
            raise AccessDenied(access_denied_message(caller, INVOKE_ACTION, function_arn, found), caller=caller,
                               action=INVOKE_ACTION, resource=function_arn)

    def checker(self, service_principal: str, session: str | None = None) -> InvokeCheck:
        """An :data:`InvokeCheck` for one service (what the schedule engine and the destinations take)."""

        def check(role_arn: str, function_arn: str) -> None:
            self.check_invoke(service_principal, role_arn, function_arn, session=session)

        return check


def may_invoke(parts: Parts, service_principal: str, role_arn: str, function_arn: str) -> Evaluation:
    """One-off form of :meth:`ServiceCalls.may_invoke` (no cache kept between calls)."""
    return ServiceCalls(parts).may_invoke(service_principal, role_arn, function_arn)
