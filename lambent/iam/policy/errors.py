"""The one error of the policy engine: a document that breaks IAM's policy grammar."""

from __future__ import annotations

from lambent.errors import MalformedPolicyDocument


class MalformedPolicy(MalformedPolicyDocument):
    """A policy document that is not JSON or breaks the grammar. ``message`` is IAM's own text for
    the fault ("Syntax errors in policy.", "Policy document should not specify a principal.",
    ...), so the API layer can answer MalformedPolicyDocument with it unchanged."""
