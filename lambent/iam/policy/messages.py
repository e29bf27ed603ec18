"""AWS's access denied messages, formatted from an :class:`Evaluation` ("Troubleshoot access
denied error messages": ``User: <arn> is not authorized to perform: <action> on resource:
<resource> because no <type> policy allows the <action> action`` for an implicit deny,
``... with an explicit deny in a(n) <type> policy`` for an explicit one)."""

from __future__ import annotations

from lambent.iam.policy.evaluate import Decision, Evaluation, PolicyType


def access_denied_message(principal_arn: str, action: str, resource: str | None, evaluation: Evaluation) -> str:
    """The message for a denied request; ``resource=None`` leaves out "on resource: ..." (for
    actions that name no resource). Raises ValueError for an allowed request."""
    if evaluation.decision is Decision.ALLOW:
        raise ValueError("the request was allowed")
    on = f" on resource: {resource}" if resource is not None else ""
    head = f"User: {principal_arn} is not authorized to perform: {action}{on}"
    kind = (evaluation.policy_type or PolicyType.IDENTITY).value
    if evaluation.decision is Decision.EXPLICIT_DENY:
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{head} with an explicit deny in {article} {kind} policy"
    return f"{head} because no {kind} policy allows the {action} action"
