"""PolicyCache: compiled identity policies by (principal, policy version)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from lambent.iam.policy import Caller, CompiledPolicy, PolicyCache, PolicyKind, Request, compile_policy, evaluate
from lambent.iam.policy.patterns import Matcher

DOC = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "lambda:Get*", "Resource": "arn:aws:lambda:*:*:function:*"}}'
ALICE = Caller.user("123456789012", "alice", "AIDAALICE")


class Loader:
    def __init__(self, doc: str = DOC) -> None:
        self.calls = 0
        self.doc = doc

    def __call__(self, shared: dict[tuple[bool, bool, tuple[str, ...]], Matcher]) -> Iterable[CompiledPolicy]:
        self.calls += 1
        return [compile_policy(self.doc, PolicyKind.IDENTITY, shared=shared)]


def test_a_hit_compiles_nothing() -> None:
    cache, load = PolicyCache(), Loader()
    first = cache.get(ALICE.arn, 1, load)
    assert cache.get(ALICE.arn, 1, load) is first
    assert (load.calls, cache.hits, cache.misses) == (1, 1, 1)
    assert evaluate(Request.build(ALICE, "lambda:GetFunction", "arn:aws:lambda:us-east-1:123456789012:function:f"), first).allowed


def test_a_new_version_recompiles_and_evicts_the_old_one() -> None:
    cache = PolicyCache()
    cache.get(ALICE.arn, 1, Loader())
    deny = Loader('{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}')
    second = cache.get(ALICE.arn, 2, deny)
    assert deny.calls == 1 and len(cache) == 1
    assert not evaluate(Request.build(ALICE, "lambda:GetFunction", "arn:aws:lambda:us-east-1:123456789012:function:f"), second).allowed


def test_least_recently_used_principals_go_first_and_invalidate_forgets() -> None:
    cache = PolicyCache(max_entries=2)
    load = Loader()
    cache.get("a", 1, load)
    cache.get("b", 1, load)
    cache.get("a", 1, load)  # a is now the most recent
    cache.get("c", 1, load)  # evicts b
    assert load.calls == 3
    cache.get("a", 1, load)
    assert load.calls == 3
    cache.get("b", 1, load)
    assert load.calls == 4
    cache.invalidate("b")
    cache.get("b", 1, load)
    assert load.calls == 5


def test_matchers_are_shared_between_compilations() -> None:
    cache = PolicyCache()
    cache.get("a", 1, Loader())
    shared = dict(cache.matchers)
    cache.get("b", 1, Loader())
    assert shared and cache.matchers == shared  # the same patterns: nothing new compiled


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError):
        PolicyCache(max_entries=0)
