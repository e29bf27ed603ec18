"""The public surface of lambent.iam.policy, pinned."""

from __future__ import annotations

import lambent.iam.policy as policy


def test_public_names() -> None:
    assert sorted(policy.__all__) == sorted([
        "Caller", "CompiledPolicy", "ContextValue", "Decision", "Effect", "Evaluation", "MalformedPolicy", "PolicyCache",
        "PolicyDocument", "PolicyKind", "PolicySet", "PolicyType", "Principals", "PrincipalType", "Request", "Statement",
        "access_denied_message", "compile_policy", "evaluate", "parse_policy",
    ])
    assert all(hasattr(policy, name) for name in policy.__all__)


def test_decisions_and_policy_types_carry_awss_words() -> None:
    assert [d.value for d in policy.Decision] == ["Allow", "ExplicitDeny", "ImplicitDeny"]
    assert [t.value for t in policy.PolicyType] == ["identity-based", "resource-based"]
