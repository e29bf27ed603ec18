"""Whether a role's trust policy lets a principal (or an AWS service) assume it, pure.

A deliberately small, conservative reading of the trust policy grammar
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html),
used until AssumeRole is evaluated by the policy engine (:mod:`lambent.iam.policy`):

- a statement counts if its ``Action`` matches ``sts:AssumeRole`` (``*``/``?`` wildcards,
  case-insensitive), or its ``NotAction`` does not;
- ``Principal``: ``"*"``; ``{"AWS": ...}`` with ``*``, an account id or its ``:root`` ARN (any
  principal of that account — here only when the caller is that account's root or one of its
  users/roles, see below), a user ARN, a role ARN (its sessions: role chaining) or an
  assumed-role session ARN; ``{"Service": ...}`` with a service principal such as
  ``lambda.amazonaws.com``;
- an explicit Deny wins over any Allow; nothing allowed means denied;
- what this reading cannot evaluate is never an Allow: an Allow with ``Condition`` or
  ``NotPrincipal`` does not count; a Deny with ``Condition`` counts (fail closed).

AWS lets a trust naming the account (``arn:aws:iam::ACCOUNT:root``) delegate to the identity
policies of that account's principals, which must also allow ``sts:AssumeRole``; checking those
is the policy engine's job, so this reading accepts such a trust for the account's principals
only when ``identity_allows`` (the caller's identity policies, evaluated by the caller) says so.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any

from lambent.iam.model import Principal, PrincipalKind

ACTION = "sts:AssumeRole"


def trust_allows(
    trust_policy: str,
    *,
    principal: Principal | None = None,
    service: str | None = None,
    identity_allows: Callable[[], bool] = lambda: False,
) -> bool:
    """Whether ``trust_policy`` lets ``principal`` (or the AWS ``service``) assume the role."""
    try:
        doc = json.loads(trust_policy)
    except ValueError:
        return False
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    allowed = False
    for st in statements:
        if not isinstance(st, dict) or not _action_matches(st):
            continue
        effect = st.get("Effect")
        if effect == "Deny":
            if "Condition" in st or _principal_matches(st, principal, service, identity_allows):
                return False
        elif effect == "Allow" and "Condition" not in st and "NotPrincipal" not in st:
            allowed = allowed or _principal_matches(st, principal, service, identity_allows)
    return allowed


def _values(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def _action_matches(st: dict[str, Any]) -> bool:
    if "Action" in st:
        return any(fnmatch.fnmatchcase(ACTION.lower(), a.lower()) for a in _values(st["Action"]))
    if "NotAction" in st:
        return not any(fnmatch.fnmatchcase(ACTION.lower(), a.lower()) for a in _values(st["NotAction"]))
    return False


def _principal_matches(
    st: dict[str, Any], principal: Principal | None, service: str | None, identity_allows: Callable[[], bool]
) -> bool:
    if "NotPrincipal" in st:  # only reached for Deny: denies everyone not named
        return not _named(st["NotPrincipal"], principal, service, identity_allows)
    return _named(st.get("Principal"), principal, service, identity_allows)


def _named(element: Any, principal: Principal | None, service: str | None, identity_allows: Callable[[], bool]) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    if service is not None:
        return service in _values(element.get("Service"))
    if principal is None:
        return False
    for value in _values(element.get("AWS")):
        if value == "*" or _aws_principal_matches(value, principal, identity_allows):
            return True
    return False


def _aws_principal_matches(value: str, p: Principal, identity_allows: Callable[[], bool]) -> bool:
    account_root = f"arn:aws:iam::{p.account_id}:root"
    if value in (p.account_id, account_root):
        return p.kind is PrincipalKind.ROOT or identity_allows()
    if p.kind is PrincipalKind.USER:
        return value == p.arn
    if p.kind is PrincipalKind.ASSUMED_ROLE:
        return value in (p.arn, p.role_arn)
    return False
