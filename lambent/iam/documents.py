"""Checks a policy document must pass before IAM stores it, with AWS's answers.

The grammar check is the structural minimum IAM applies on every write (JSON object, a
``Statement`` of objects each with an ``Effect`` of Allow/Deny and an action element; a trust
policy's statements name a ``Principal``); evaluation is the policy engine's
(:mod:`lambent.iam.policy`). Sizes are IAM's quotas, counted without whitespace as AWS counts them
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from lambent.errors import LimitExceeded, MalformedPolicyDocument


class DocKind(StrEnum):
    MANAGED = "managed"
    USER_INLINE = "user"
    ROLE_INLINE = "role"
    TRUST = "trust"


#: Character quotas (whitespace not counted).
MANAGED_MAX = 6144
USER_INLINE_MAX = 2048
ROLE_INLINE_MAX = 10240
TRUST_MAX = 2048

_ACTIONS = ("Action", "NotAction")


def check_document(text: str, kind: DocKind, owner: str = "") -> dict[str, Any]:
    """The parsed document, or MalformedPolicyDocument / LimitExceeded with AWS's messages."""
    _check_size(text, kind, owner)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    if not isinstance(doc, dict):
        raise MalformedPolicyDocument("This policy contains invalid Json")
    version = doc.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        raise MalformedPolicyDocument("The policy failed legacy parsing")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    for st in statements:
        _check_statement(st, kind)
    return doc


def _check_statement(st: Any, kind: DocKind) -> None:
    if not isinstance(st, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    if st.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    if not any(k in st for k in _ACTIONS):
        raise MalformedPolicyDocument("Policy statement must contain actions.")
    if kind is DocKind.TRUST:
        if "Principal" not in st and "NotPrincipal" not in st:
            raise MalformedPolicyDocument("AssumeRolepolicy contains an invalid principal")
        if "Resource" in st or "NotResource" in st:
            raise MalformedPolicyDocument("Has prohibited field Resource")
    else:
        if "Principal" in st or "NotPrincipal" in st:
            raise MalformedPolicyDocument("Policy document should not specify a principal.")
        if "Resource" not in st and "NotResource" not in st:
            raise MalformedPolicyDocument("Policy statement must contain resources.")


def _check_size(text: str, kind: DocKind, owner: str) -> None:
    size = sum(1 for c in text if not c.isspace())
    if kind is DocKind.MANAGED and size > MANAGED_MAX:
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {MANAGED_MAX}")
    if kind is DocKind.TRUST and size > TRUST_MAX:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_MAX}")
    if kind is DocKind.ROLE_INLINE and size > ROLE_INLINE_MAX:
        raise LimitExceeded(f"Maximum policy size of {ROLE_INLINE_MAX} bytes exceeded for role {owner}")
    if kind is DocKind.USER_INLINE and size > USER_INLINE_MAX:
        raise LimitExceeded(f"Maximum policy size of {USER_INLINE_MAX} bytes exceeded for user {owner}")
