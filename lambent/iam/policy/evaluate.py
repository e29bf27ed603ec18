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
from lambent.iam.policy.context import Caller, Request
from lambent.iam.policy.document import Effect, PolicyDocument, PolicyKind, Principals, Statement, parse_policy
from lambent.iam.policy.patterns import MATCH, UNRESOLVED, Matcher, PatternSet


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
        return self.decision == "Allow"


class _PrincipalMatcher:
    __slots__ = ("_p",)

    def __init__(self, principals: Principals) -> None:
        self._p = principals

    def matches(self, caller: Caller) -> tuple[bool, bool]:
        """(matches, only through the account). A role's ARN covers its sessions."""
        p = self._p
        if p.everyone:
            return True, False
        if not caller.has_identity_side:
            return (caller.is_service and caller.arn in p.services), False
        if caller.arn in p.arns or (caller.principal_arn is not None and caller.principal_arn in p.arns):
            return True, False
        if caller.account is not None and caller.account in p.accounts:
            # The root user is the account itself: naming the account names it.
            return True, not caller.is_root
        return False, False

    def lists_every_identity(self, caller: Caller) -> bool:
        """For NotPrincipal: whether each identity the request is made as is listed."""
        p = self._p
        if p.everyone:
            return True
        if not caller.has_identity_side:
            return caller.is_service and caller.arn in p.services
        for identity in caller.identities():
            if identity == caller.account or caller.is_root:
                if caller.account not in p.accounts:
                    return False
            elif identity not in p.arns:
                return False
        return True


class CompiledStatement:
    """One statement with its matchers built."""

    __slots__ = ("sid", "allow", "outcome_identity", "outcome_resource", "_actions", "_not_action", "_resources", "_not_resource", "_principals",
                 "_not_principal", "_conditions")

    def __init__(self, st: Statement, *, variables: bool, shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher]) -> None:
        self.sid = st.sid
        self.allow = st.effect is Effect.ALLOW
        # The statement's outcome on either side, built once (no allocation per request).
        decision = Decision.ALLOW if self.allow else Decision.EXPLICIT_DENY
        self.outcome_identity = Evaluation(decision, PolicyType.IDENTITY, st.sid)
        self.outcome_resource = Evaluation(decision, PolicyType.RESOURCE, st.sid)
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

    def action_matches(self, action_lower: str) -> bool:
        return self._actions.match(action_lower, _NO_KEYS) is not self._not_action

    def applies(self, request: Request) -> int:
        """Past the Action (checked by the caller, see :meth:`_Statements.candidates`): 0 if the
        statement does not apply, 1 if it does, 2 if it does only through an account principal."""
        keys = request.keys
        if self._resources is not None:
            found = self._resources.match_or_unresolved(request.resource, keys)
            # A variable that cannot be resolved invalidates the statement ("IAM policy elements:
            # Variables and tags"), NotResource included: it never reads as "another resource".
            if found == UNRESOLVED or (found == MATCH) is self._not_resource:
                return 0
        result = 1
        if self._principals is not None:
            if self._not_principal:
                if self._principals.lists_every_identity(request.caller):
                    return 0
            else:
                matched, via_account = self._principals.matches(request.caller)
                if not matched:
                    return 0
                if via_account:
                    result = 2
        for c in self._conditions:
            if not c.holds(keys):
                return 0
        return result


class _Statements:
    """Deny and Allow statements, and per action the ones whose Action element matches it
    (memoised: the actions a server asks about are a small fixed set; bounded anyway)."""

    __slots__ = ("denies", "allows", "_by_action")

    _MEMO_MAX = 1024

    def __init__(self, denies: tuple[CompiledStatement, ...], allows: tuple[CompiledStatement, ...]) -> None:
        self.denies, self.allows = denies, allows
        self._by_action: dict[str, tuple[tuple[CompiledStatement, ...], tuple[CompiledStatement, ...]]] = {}

    def candidates(self, action_lower: str) -> tuple[tuple[CompiledStatement, ...], tuple[CompiledStatement, ...]]:
        found = self._by_action.get(action_lower)
        if found is None:
            if len(self._by_action) >= self._MEMO_MAX:
                self._by_action.clear()
            found = self._by_action[action_lower] = (
                tuple(s for s in self.denies if s.action_matches(action_lower)),
                tuple(s for s in self.allows if s.action_matches(action_lower)),
            )
        return found


class CompiledPolicy(_Statements):
    """A validated document compiled into matchers: Deny statements first, then Allow ones.
    Immutable after construction (but for its memo); safe to share between requests."""

    __slots__ = ("document", "kind")

    def __init__(self, document: PolicyDocument, *, shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher] | None = None) -> None:
        cache: dict[tuple[bool, bool, tuple[str, ...]], Matcher] = {} if shared is None else shared
        self.document = document
        self.kind = document.kind
        compiled = [CompiledStatement(s, variables=document.variables, shared=cache) for s in document.statements]
        super().__init__(tuple(s for s in compiled if not s.allow), tuple(s for s in compiled if s.allow))


def compile_policy(source: str | bytes | Mapping[str, Any] | PolicyDocument, kind: PolicyKind = PolicyKind.IDENTITY, *,
                   shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher] | None = None) -> CompiledPolicy:
    """Parse (unless given a :class:`PolicyDocument`), validate and compile one policy.
    ``shared``: a matcher cache shared by the policies compiled with it (see :mod:`.cache`)."""
    doc = source if isinstance(source, PolicyDocument) else parse_policy(source, kind)
    return CompiledPolicy(doc, shared=shared)


class PolicySet(_Statements):
    """The identity-based policies of one principal, flattened for evaluation."""

    __slots__ = ("policies",)

    def __init__(self, policies: Iterable[CompiledPolicy]) -> None:
        self.policies = tuple(policies)
        for p in self.policies:
            if p.kind is not PolicyKind.IDENTITY:
                raise ValueError(f"a {p.kind} policy is not an identity-based policy")
        super().__init__(tuple(s for p in self.policies for s in p.denies), tuple(s for p in self.policies for s in p.allows))


_NO_KEYS: dict[str, tuple[str, ...]] = {}
_ROOT_ALLOW = Evaluation(Decision.ALLOW)
_IMPLICIT_IDENTITY = Evaluation(Decision.IMPLICIT_DENY, PolicyType.IDENTITY)
_IMPLICIT_RESOURCE = Evaluation(Decision.IMPLICIT_DENY, PolicyType.RESOURCE)


def _first(statements: Sequence[CompiledStatement], request: Request) -> tuple[CompiledStatement | None, bool]:
    """The first applicable statement, preferring one that applies on its own over one that
    applies only through an account principal."""
    through_account: CompiledStatement | None = None
    for s in statements:
        applies = s.applies(request)
        if applies == 1:
            return s, False
        if applies == 2 and through_account is None:
            through_account = s
    return through_account, through_account is not None


def evaluate(request: Request, identity: PolicySet | Iterable[CompiledPolicy] = (),
             resource: CompiledPolicy | None = None) -> Evaluation:
    """Decide ``request`` against the caller's identity-based policies and the resource's
    resource-based policy (if it has one)."""
    policies = identity if isinstance(identity, PolicySet) else PolicySet(identity)
    if resource is not None and resource.kind is PolicyKind.IDENTITY:
        raise ValueError("the resource's policy must be a resource-based (or trust) policy")
    caller = request.caller
    has_identity_side = caller.has_identity_side
    action = request.action_lower
    id_denies, id_allows = policies.candidates(action) if has_identity_side else ((), ())
    res_denies, res_allows = resource.candidates(action) if resource is not None else ((), ())

    # 1. explicit deny, identity side first (AWS names one policy type only).
    if id_denies:
        deny, _ = _first(id_denies, request)
        if deny is not None:
            return deny.outcome_identity
    if res_denies:
        deny, _ = _first(res_denies, request)
        if deny is not None:
            return deny.outcome_resource

    # 2. the root user in its own account.
    cross_account = request.cross_account
    if caller.is_root and not cross_account:
        return _ROOT_ALLOW

    resource_allow, only_account = _first(res_allows, request) if res_allows else (None, False)
    if not has_identity_side:
        return resource_allow.outcome_resource if resource_allow is not None else _IMPLICIT_RESOURCE

    identity_allow, _ = _first(id_allows, request) if id_allows else (None, False)
    if cross_account:
        # 4. both sides; the root user of the calling account needs no identity policy.
        if identity_allow is None and not caller.is_root:
            return _IMPLICIT_IDENTITY
        if resource_allow is None:
            return _IMPLICIT_RESOURCE
        return resource_allow.outcome_resource

    # 3. same account: either side.
    if resource_allow is not None and not only_account:
        return resource_allow.outcome_resource
    if identity_allow is not None:
        return identity_allow.outcome_identity
    return _IMPLICIT_IDENTITY
