"""May this principal do that? The IAM domain's answer for the API layer, from the policy engine.

:class:`Authorizer` gives the engine (:mod:`lambent.iam.policy`) the caller's identity policies
from :class:`~lambent.iam.service.IamService` — the user's, or the role's for a role session —
compiled once per policy version (:class:`~lambent.iam.policy.PolicyCache`, keyed by the user's
or role's ARN and ``IamService.policy_generation``), and turns a denial into AccessDenied with
AWS's message. A resource's own policy (a function policy) comes from its owner, compiled.

Scope: one per server, used on the event loop only (the cache is not thread-safe).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone

from lambent.errors import AccessDenied
from lambent.iam.model import Principal, PrincipalKind
from lambent.iam.policy import (
    Caller,
    CompiledPolicy,
    ContextValue,
    Evaluation,
    PolicyCache,
    PrincipalType,
    Request,
    access_denied_message,
    compile_policy,
    evaluate,
)
from lambent.iam.service import IamService


def caller_of(p: Principal) -> Caller:
    """The engine's view of a principal (its ARN, account, ids: the aws:Principal* keys)."""
    if p.kind is PrincipalKind.ROOT:
        return Caller.root(p.account_id)
    if p.kind is PrincipalKind.USER:
        return Caller(p.arn, PrincipalType.USER, p.account_id, userid=p.user_id, username=p.name)
    return Caller(p.arn, PrincipalType.ASSUMED_ROLE, p.account_id, userid=p.user_id, principal_arn=p.role_arn)


#: Bound of the Caller memo (one entry per principal that made a call; cleared when full).
_CALLERS_MAX = 4096


class Authorizer:
    def __init__(self, iam: IamService, cache: PolicyCache | None = None) -> None:
        self.iam = iam
        self.cache = cache or PolicyCache()
        #: The engine's Caller of each principal, built once: a Caller derives its context keys
        #: on construction. Keyed by every field caller_of reads, so a changed principal (a
        #: renamed user, a new session) never gets another's Caller.
        self._callers: dict[tuple[str, str, str, str, str, str | None], Caller] = {}
        #: (epoch second, its datetime): the request's aws:CurrentTime, shared within a second.
        self._now: tuple[int, datetime] = (0, datetime.fromtimestamp(0, timezone.utc))

    def _caller(self, p: Principal) -> Caller:
        key = (p.kind.value, p.account_id, p.arn, p.user_id, p.name, p.role_arn)
        found = self._callers.get(key)
        if found is None:
            if len(self._callers) >= _CALLERS_MAX:
                self._callers.clear()
            found = self._callers[key] = caller_of(p)
        return found

    def _current_time(self) -> datetime:
        second = int(time.time())
        if second != self._now[0]:
            self._now = (second, datetime.fromtimestamp(second, timezone.utc))
        return self._now[1]

    def evaluate(
        self,
        principal: Principal,
        action: str,
        resource: str = "*",
        *,
        resource_account: str | None = None,
        resource_policy: CompiledPolicy | None = None,
        context: Mapping[str, ContextValue] | None = None,
        source_ip: str | None = None,
        secure_transport: bool | None = None,
    ) -> Evaluation:
        """``source_ip`` / ``secure_transport``: aws:SourceIp / aws:SecureTransport as the server
        saw the request; they win over the same keys in ``context``."""
        request = Request.build(self._caller(principal), action, resource, resource_account=resource_account,
                                now=self._current_time(), context=context, source_ip=source_ip,
                                secure_transport=secure_transport)
        if principal.kind is PrincipalKind.ROOT:
            return evaluate(request, (), resource_policy)
        owner = principal.role_arn if principal.kind is PrincipalKind.ASSUMED_ROLE and principal.role_arn else principal.arn
        identity = self.cache.get(
            owner, self.iam.identity_policy_version(principal),
            lambda shared: [compile_policy(doc, shared=shared) for doc in self.iam.identity_policies(principal)],
        )
        return evaluate(request, identity, resource_policy)

    def check(
        self,
        principal: Principal,
        action: str,
        resource: str = "*",
        *,
        resource_account: str | None = None,
        resource_policy: CompiledPolicy | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        """Nothing if allowed; AccessDenied with AWS's message otherwise."""
        found = self.evaluate(principal, action, resource, resource_account=resource_account,
                              resource_policy=resource_policy, context=context)
        if not found.allowed:
            raise AccessDenied(access_denied_message(principal.arn, action, resource, found), caller=principal.arn)
