"""Wildcards in Action and Resource, policy variables, and the bounded cost of matching."""

from __future__ import annotations

import random
import re
import time

import pytest

from lambent.iam.policy.patterns import STAR, PatternSet, Var, build_matcher, parse_template


def resource_set(*patterns: str, variables: bool = True) -> PatternSet:
    return PatternSet(patterns, arn=True, fold=False, variables=variables)


RESOURCE_CASES: list[tuple[str, str, str, bool]] = [
    # (doc page, pattern, ARN, matches)
    # IAM JSON policy elements: Resource, "Using wildcards in resource ARNs"
    ("Resource", "arn:aws:iam::123456789012:user/accounting/*", "arn:aws:iam::123456789012:user/accounting/bob", True),
    ("Resource", "arn:aws:iam::123456789012:user/accounting/*", "arn:aws:iam::123456789012:user/marketing/bob", False),
    ("Resource", "arn:aws:s3:::amzn-s3-demo-bucket/*", "arn:aws:s3:::amzn-s3-demo-bucket/a/b/c.txt", True),
    # "* can expand to replace everything within a segment, including characters like a forward slash"
    ("Resource", "arn:aws:s3:::amzn-s3-demo-bucket/*/test/*", "arn:aws:s3:::amzn-s3-demo-bucket/1/2/test/3/4", True),
    ("Resource", "arn:aws:s3:::amzn-s3-demo-bucket/*/test/*", "arn:aws:s3:::amzn-s3-demo-bucket/1/2/tests/x", False),
    ("Resource", "arn:aws:iam::123456789012:u*", "arn:aws:iam::123456789012:user/accounting/bob", True),
    ("Resource", "arn:aws:iam::123456789012:user/accounting/b?b", "arn:aws:iam::123456789012:user/accounting/bob", True),
    ("Resource", "arn:aws:iam::123456789012:user/accounting/b?b", "arn:aws:iam::123456789012:user/accounting/boob", False),
    # "If the * wildcard is the last character of a resource ARN segment, it can expand to match
    # beyond the colon boundaries" -- Lambda's qualified ARNs (Lambda: "Resources and conditions
    # for Lambda actions": function:my-function* covers versions and aliases)
    ("Resource", "arn:aws:lambda:us-east-1:123456789012:function:my-function*",
     "arn:aws:lambda:us-east-1:123456789012:function:my-function:prod", True),
    ("Resource", "arn:aws:lambda:us-east-1:123456789012:function:my-function:*",
     "arn:aws:lambda:us-east-1:123456789012:function:my-function:7", True),
    ("Resource", "arn:aws:lambda:us-east-1:123456789012:function:my-function:*",
     "arn:aws:lambda:us-east-1:123456789012:function:my-function", False),
    ("Resource", "arn:aws:lambda:*:123456789012:function:f", "arn:aws:lambda:eu-west-1:123456789012:function:f", True),
    # a * inside a segment stays inside it; ? never matches the colon
    ("Resource", "arn:aws:lambda:us-east-1:123456789012:function:my*-fn", "arn:aws:lambda:us-east-1:123456789012:function:my:x-fn", False),
    ("Resource", "arn:aws:lambda:us-east-1:123456789012:function:my?fn", "arn:aws:lambda:us-east-1:123456789012:function:my:fn", False),
    ("Resource", "arn:aws:lambda:us-east-?:123456789012:function:f", "arn:aws:lambda:us-east-2:123456789012:function:f", True),
    # the Resource element is case-sensitive ("In the Resource element, the IAM user name is case sensitive")
    ("Resource", "arn:aws:iam::123456789012:user/Bob", "arn:aws:iam::123456789012:user/bob", False),
    ("Resource", "*", "arn:aws:anything:at:all:x", True),
]


@pytest.mark.parametrize(("page", "pattern", "arn", "expected"), RESOURCE_CASES, ids=[f"{c[1]} ~ {c[2]}" for c in RESOURCE_CASES])
def test_resource_wildcards(page: str, pattern: str, arn: str, expected: bool) -> None:
    assert resource_set(pattern).match(arn, {}) is expected


ACTION_CASES: list[tuple[str, str, bool]] = [
    # IAM JSON policy elements: Action ("Action values are case-insensitive"; "s3:*";
    # "iam:*AccessKey*"; "a wildcard (*) or (?)")
    ("lambda:InvokeFunction", "lambda:invokefunction", True),
    ("LAMBDA:invokeFUNCTION", "lambda:invokefunction", True),
    ("s3:*", "s3:getobject", True),
    ("s3:*", "sqs:getqueueurl", False),
    ("iam:*AccessKey*", "iam:createaccesskey", True),
    ("iam:*AccessKey*", "iam:listaccesskeys", True),
    ("iam:*AccessKey*", "iam:createuser", False),
    ("lambda:Get*", "lambda:getfunction", True),
    ("lambda:Get*", "lambda:listfunctions", False),
    ("lambda:?etFunction", "lambda:getfunction", True),
    ("*", "ec2:runinstances", True),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTION_CASES, ids=[f"{c[0]} ~ {c[1]}" for c in ACTION_CASES])
def test_action_wildcards_are_case_insensitive(pattern: str, action: str, expected: bool) -> None:
    assert PatternSet([pattern], arn=False, fold=True, variables=False).match(action, {}) is expected


def test_policy_variables_are_replaced_by_the_request_value() -> None:
    # IAM policy elements: Variables and tags ("arn:aws:s3:::amzn-s3-demo-bucket/${aws:username}/*")
    p = resource_set("arn:aws:s3:::amzn-s3-demo-bucket/${aws:username}/*")
    assert p.match("arn:aws:s3:::amzn-s3-demo-bucket/alice/notes.txt", {"aws:username": ("alice",)})
    assert not p.match("arn:aws:s3:::amzn-s3-demo-bucket/bob/notes.txt", {"aws:username": ("alice",)})


def test_an_unresolved_variable_matches_nothing_and_a_default_stands_in() -> None:
    # Variables and tags: "Policy variables with no value" / "Specifying default values"
    strict = resource_set("arn:aws:s3:::bucket/${aws:username}/*")
    assert not strict.match("arn:aws:s3:::bucket//x", {})
    assert not strict.match("arn:aws:s3:::bucket/a/x", {"aws:username": ("a", "b")})  # multivalued: no substitution
    defaulted = resource_set("arn:aws:s3:::bucket/${aws:username, 'shared'}/*")
    assert defaulted.match("arn:aws:s3:::bucket/shared/x", {})
    assert defaulted.match("arn:aws:s3:::bucket/alice/x", {"aws:username": ("alice",)})


def test_variable_key_names_are_case_insensitive() -> None:
    p = resource_set("arn:aws:s3:::bucket/${AWS:UserName}")
    assert p.match("arn:aws:s3:::bucket/alice", {"aws:username": ("alice",)})


def test_escapes_are_literal_characters() -> None:
    # Variables and tags: "Special characters": ${*}, ${?}, ${$}
    p = resource_set("arn:aws:s3:::bucket/${*}${?}${$}")
    assert p.match("arn:aws:s3:::bucket/*?$", {})
    assert not p.match("arn:aws:s3:::bucket/ab$", {})


def test_version_2008_reads_variables_as_text() -> None:
    p = resource_set("arn:aws:s3:::bucket/${aws:username}", variables=False)
    assert p.match("arn:aws:s3:::bucket/${aws:username}", {"aws:username": ("alice",)})
    assert not p.match("arn:aws:s3:::bucket/alice", {"aws:username": ("alice",)})


def test_a_substituted_value_never_widens_the_pattern() -> None:
    # Hostile: a request-derived value holding wildcards is literal text.
    p = resource_set("arn:aws:s3:::bucket/${aws:SourceAccount}/*")
    assert not p.match("arn:aws:s3:::bucket/other/x", {"aws:sourceaccount": ("*",)})
    assert p.match("arn:aws:s3:::bucket/*/x", {"aws:sourceaccount": ("*",)})


def test_parse_template_tokens() -> None:
    assert parse_template("a*${aws:username, 'it''s'}", variables=True) == ("a", STAR, Var("aws:username", "it's"))
    assert parse_template("${not a var}", variables=True) == (Var(None),)


def _reference(pattern: str, arn: bool) -> re.Pattern[str]:
    out = []
    for i, ch in enumerate(pattern):
        if ch == "*":
            last = i + 1 == len(pattern) or pattern[i + 1] == ":"
            out.append(".*" if not arn or last else "[^:]*")
        elif ch == "?":
            out.append("[^:]" if arn else ".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


@pytest.mark.parametrize("arn", [False, True])
def test_the_automaton_agrees_with_a_regex_on_random_patterns(arn: bool) -> None:
    # The many-star automaton and the regex path must be one semantics.
    rng = random.Random(7)
    alphabet = "ab:/"
    for _ in range(6000):
        pattern = "".join(rng.choice("ab:*?") for _ in range(rng.randint(1, 9)))
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        parts = list(parse_template(pattern, variables=False))
        expected = _reference(re.sub(r"\*+", "*", pattern), arn).fullmatch(value) is not None
        assert build_matcher([p for p in parts if isinstance(p, str)], arn=arn)(value) is expected, (pattern, value)


def test_a_hostile_pattern_matches_in_bounded_time() -> None:
    # A policy author controls patterns and a caller controls ARNs: a backtracking matcher would
    # take years on this pair; the automaton is linear in the value.
    pattern = "arn:aws:s3:::" + "*a" * 40 + "*b"
    value = "arn:aws:s3:::" + "a" * 4000
    m = resource_set(pattern)
    started = time.perf_counter()
    assert not m.match(value, {})
    assert time.perf_counter() - started < 0.5


def test_a_hostile_plain_pattern_matches_in_bounded_time() -> None:
    # StringLike values may come from a request: a long value against many stars stays fast.
    pattern = "*a" * 40 + "*b"
    value = "a" * 100_000
    m = PatternSet([pattern], arn=False, fold=False, variables=False)
    started = time.perf_counter()
    assert not m.match(value, {})
    assert m.match(value + "b", {})
    assert time.perf_counter() - started < 0.5
