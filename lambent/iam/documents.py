"""Checks a policy document must pass before IAM stores it, with AWS's answers.

The size quotas come first (IAM counts characters without whitespace:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html), then JSON
("This policy contains invalid Json", IAM's text for a document that does not decode), then the
policy grammar of the evaluation engine (:func:`lambent.iam.policy.parse_policy`: what is stored
is what the engine can evaluate, with IAM's MalformedPolicyDocument texts).
"""

from __future__ import annotations

import json
from enum import StrEnum

from lambent.errors import LimitExceeded, MalformedPolicyDocument
from lambent.iam.policy import PolicyDocument, PolicyKind, parse_policy


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


def document_size(text: str) -> int:
    """A document's size as IAM's quotas count it: characters other than whitespace."""
    return sum(1 for c in text if not c.isspace())


def check_document(text: str, kind: DocKind, owner: str = "", others_size: int = 0) -> PolicyDocument:
    """The parsed document, or MalformedPolicyDocument / LimitExceeded with AWS's messages.
    ``others_size``: the owner's other inline policies (the inline quotas are per user or role,
    all its inline policies together)."""
    _check_size(document_size(text) + others_size, kind, owner)
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    if not isinstance(decoded, dict):
        raise MalformedPolicyDocument("This policy contains invalid Json")
    return parse_policy(text, PolicyKind.TRUST if kind is DocKind.TRUST else PolicyKind.IDENTITY)


def _check_size(size: int, kind: DocKind, owner: str) -> None:
    if kind is DocKind.MANAGED and size > MANAGED_MAX:
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {MANAGED_MAX}")
    if kind is DocKind.TRUST and size > TRUST_MAX:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_MAX}")
    if kind is DocKind.ROLE_INLINE and size > ROLE_INLINE_MAX:
        raise LimitExceeded(f"Maximum policy size of {ROLE_INLINE_MAX} bytes exceeded for role {owner}")
    if kind is DocKind.USER_INLINE and size > USER_INLINE_MAX:
        raise LimitExceeded(f"Maximum policy size of {USER_INLINE_MAX} bytes exceeded for user {owner}")
