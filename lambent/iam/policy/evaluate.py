"""Compiled policies and the decision (Policy evaluation logic; "How AWS enforcement code logic
evaluates requests to allow or deny access"; "Policy evaluation for requests within a single
account"; "Cross-account policy evaluation logic").

The rules, in order:

1. An explicit ``Deny`` in any applicable policy (identity-based or resource-based) wins.
2. The account's root user may do anything in its own account that no Deny forbids.
3. Within one account, an ``Allow`` in either an identity-based policy or the resource-based
   policy is enough. A resource-based statement that names only the *account* as principal
   delegates to the account's identity policies and grants nothing by itself.
4. Across accounts, the caller's identity-based policies must allow the request AND the
   resource's policy must allow it (naming the account is enough there, that is the delegation).
5. A service principal or an anonymous caller has no identity side: only the resource-based
   policy can allow it.
6. Otherwise: implicit deny, from the side that failed to allow.

Not modelled (see docs/iam-policies.md): SCPs/RCPs, permissions boundaries, session policies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambent.iam.policy.conditions import Condition, compile_conditions
from lambent.iam.policy.context import Caller, PrincipalType, Request
from lambent.iam.policy.document import Effect, PolicyDocument, PolicyKind, Principals, Statement, parse_policy
from lambent.iam.policy.patterns import Matcher, PatternSet


class Decision(StrEnum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class PolicyType(StrEnum):
    """The policy type AWS names in a denial ("... in an identity-based policy")."""

    IDENTITY = "identity-based"
    RESOURCE = "resource-based"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome: the decision, the policy type that decided it (for a deny: the one that
    denied or failed to allow; for an allow: the one that allowed, None for the root user), and
    the deciding statement's Sid when it has one."""

    decision: Decision
    policy_type: PolicyType | None = None
    sid: str | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


class _PrincipalMatcher:
    __slots__ = ("_p",)

    def __init__(self, principals: Principals) -> None:
        self._p = principals

    def matches(self, caller: Caller) -> tuple[bool, bool]:
        """(matches, only through the account). A role's ARN covers its sessions."""
        p = self._p
        if p.everyone:
            return True, False
        if caller.type is PrincipalType.SERVICE:
            return caller.arn in p.services, False
        if caller.type is PrincipalType.ANONYMOUS:
            return False, False
        if caller.arn in p.arns or (caller.principal_arn is not None and caller.principal_arn in p.arns):
            return True, False
        if caller.account is not None and caller.account in p.accounts:
            # The root user is the account itself: naming the account names it.
            return True, caller.type is not PrincipalType.ACCOUNT
        return False, False

    def lists_every_identity(self, caller: Caller) -> bool:
        """For NotPrincipal: whether each identity the request is made as is listed."""
        p = self._p
        if p.everyone:
            return True
        if caller.type is PrincipalType.SERVICE:
            return caller.arn in p.services
        if caller.type is PrincipalType.ANONYMOUS:
            return False
        for identity in caller.identities():
            if identity == caller.account or caller.type is PrincipalType.ACCOUNT:
                if caller.account not in p.accounts:
                    return False
            elif identity not in p.arns:
                return False
        return True


class CompiledStatement:
    """One statement with its matchers built."""

    __slots__ = ("sid", "allow", "_actions", "_not_action", "_resources", "_not_resource", "_principals",
                 "_not_principal", "_conditions")

    def __init__(self, st: Statement, *, variables: bool, shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher]) -> None:
        self.sid = st.sid
        self.allow = st.effect is Effect.ALLOW
        # Action names are case-insensitive; Action takes no policy variables.
        self._actions = PatternSet(st.actions, arn=False, fold=True, variables=False, compiled=shared)
        self._not_action = st.not_action
        self._resources = (
            PatternSet(st.resources, arn=True, fold=False, variables=variables, compiled=shared) if st.resources is not None else None
        )
        self._not_resource = st.not_resource
        self._principals = _PrincipalMatcher(st.principals) if st.principals is not None else None
        self._not_principal = st.not_principal
        self._conditions: tuple[Condition, ...] = compile_conditions(st.condition, variables=variables)

    def applies(self, request: Request) -> tuple[bool, bool]:
        """(applies, only through an account principal)."""
        keys = request.keys
        if self._actions.match(request.action_lower, keys) is self._not_action:
            return False, False
        if self._resources is not None and self._resources.match(request.resource, keys) is self._not_resource:
            return False, False
        via_account = False
        if self._principals is not None:
            if self._not_principal:
                if self._principals.lists_every_identity(request.caller):
                    return False, False
            else:
                matched, via_account = self._principals.matches(request.caller)
                if not matched:
                    return False, False
        for c in self._conditions:
            if not c.holds(keys):
                return False, False
        return True, via_account


class CompiledPolicy:
    """A validated document compiled into matchers: Deny statements first, then Allow ones.
    Immutable after construction; safe to share between requests."""

    __slots__ = ("document", "kind", "denies", "allows")

    def __init__(self, document: PolicyDocument, *, shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher] | None = None) -> None:
        cache: dict[tuple[bool, bool, tuple[str, ...]], Matcher] = {} if shared is None else shared
        self.document = document
        self.kind = document.kind
        compiled = [CompiledStatement(s, variables=document.variables, shared=cache) for s in document.statements]
        self.denies = tuple(s for s in compiled if not s.allow)
        self.allows = tuple(s for s in compiled if s.allow)


def compile_policy(source: str | bytes | Mapping[str, Any] | PolicyDocument, kind: PolicyKind = PolicyKind.IDENTITY, *,
                   shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher] | None = None) -> CompiledPolicy:
    """Parse (unless given a :class:`PolicyDocument`), validate and compile one policy.
    ``shared``: a matcher cache shared by the policies compiled with it (see :mod:`.cache`)."""
    doc = source if isinstance(source, PolicyDocument) else parse_policy(source, kind)
    return CompiledPolicy(doc, shared=shared)


class PolicySet:
    """The identity-based policies of one principal, flattened for evaluation."""

    __slots__ = ("policies", "denies", "allows")

    def __init__(self, policies: Iterable[CompiledPolicy]) -> None:
        self.policies = tuple(policies)
        for p in self.policies:
            if p.kind is not PolicyKind.IDENTITY:
                raise ValueError(f"a {p.kind} policy is not an identity-based policy")
        self.denies = tuple(s for p in self.policies for s in p.denies)
        self.allows = tuple(s for p in self.policies for s in p.allows)


_EMPTY = PolicySet(())


def _first(statements: Sequence[CompiledStatement], request: Request) -> tuple[CompiledStatement | None, bool]:
    """The first applicable statement, preferring one that applies on its own over one that
    applies only through an account principal."""
    through_account: CompiledStatement | None = None
    for s in statements:
        applies, via_account = s.applies(request)
        if applies:
            if not via_account:
                return s, False
            through_account = through_account or s
    return through_account, through_account is not None


def evaluate(request: Request, identity: PolicySet | Iterable[CompiledPolicy] = _EMPTY,
             resource: CompiledPolicy | None = None) -> Evaluation:
    """Decide ``request`` against the caller's identity-based policies and the resource's
    resource-based policy (if it has one)."""
    policies = identity if isinstance(identity, PolicySet) else PolicySet(identity)
    if resource is not None and resource.kind is PolicyKind.IDENTITY:
        raise ValueError("the resource's policy must be a resource-based (or trust) policy")
    caller = request.caller
    has_identity_side = caller.type not in (PrincipalType.SERVICE, PrincipalType.ANONYMOUS)

    # 1. explicit deny, identity side first (AWS names one policy type only).
    if has_identity_side:
        deny, _ = _first(policies.denies, request)
        if deny is not None:
            return Evaluation(Decision.EXPLICIT_DENY, PolicyType.IDENTITY, deny.sid)
    if resource is not None:
        deny, _ = _first(resource.denies, request)
        if deny is not None:
            return Evaluation(Decision.EXPLICIT_DENY, PolicyType.RESOURCE, deny.sid)

    # 2. the root user in its own account.
    if caller.type is PrincipalType.ACCOUNT and not request.cross_account:
        return Evaluation(Decision.ALLOW)

    resource_allow, only_account = (None, False) if resource is None else _first(resource.allows, request)
    if not has_identity_side:
        if resource_allow is not None:
            return Evaluation(Decision.ALLOW, PolicyType.RESOURCE, resource_allow.sid)
        return Evaluation(Decision.IMPLICIT_DENY, PolicyType.RESOURCE)

    identity_allow, _ = _first(policies.allows, request)
    if request.cross_account:
        # 4. both sides; the root user of the calling account needs no identity policy.
        if identity_allow is None and caller.type is not PrincipalType.ACCOUNT:
            return Evaluation(Decision.IMPLICIT_DENY, PolicyType.IDENTITY)
        if resource_allow is None:
            return Evaluation(Decision.IMPLICIT_DENY, PolicyType.RESOURCE)
        return Evaluation(Decision.ALLOW, PolicyType.RESOURCE, resource_allow.sid)

    # 3. same account: either side.
    if resource_allow is not None and not only_account:
        return Evaluation(Decision.ALLOW, PolicyType.RESOURCE, resource_allow.sid)
    if identity_allow is not None:
        return Evaluation(Decision.ALLOW, PolicyType.IDENTITY, identity_allow.sid)
    return Evaluation(Decision.IMPLICIT_DENY, PolicyType.IDENTITY)
