"""IAM policy evaluation: pure, no I/O.

Parse and validate a document (:func:`parse_policy`, :class:`MalformedPolicy`), compile it once
(:func:`compile_policy`), describe a request (:class:`Caller`, :meth:`Request.build`), decide
(:func:`evaluate` -> :class:`Evaluation`), and word a denial as AWS does
(:func:`access_denied_message`). :class:`PolicyCache` keeps compiled identity policies by
(principal, policy version). What is and is not supported: docs/iam-policies.md.
"""

from lambent.iam.policy.cache import PolicyCache
from lambent.iam.policy.context import Caller, ContextValue, PrincipalType, Request
from lambent.iam.policy.document import Effect, PolicyDocument, PolicyKind, Principals, Statement, parse_policy
from lambent.iam.policy.errors import MalformedPolicy
from lambent.iam.policy.evaluate import CompiledPolicy, Decision, Evaluation, PolicySet, PolicyType, compile_policy, evaluate
from lambent.iam.policy.messages import access_denied_message

__all__ = [
    "Caller",
    "CompiledPolicy",
    "ContextValue",
    "Decision",
    "Effect",
    "Evaluation",
    "MalformedPolicy",
    "PolicyCache",
    "PolicyDocument",
    "PolicyKind",
    "PolicySet",
    "PolicyType",
    "Principals",
    "PrincipalType",
    "Request",
    "Statement",
    "access_denied_message",
    "compile_policy",
    "evaluate",
    "parse_policy",
]
