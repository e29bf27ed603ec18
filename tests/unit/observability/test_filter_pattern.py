"""Filter-pattern semantics, table-driven from the examples of AWS's "Filter pattern syntax for
metric filters, subscription filters, filter log events, and Live Tail"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html) and its
pages "Using filter patterns to match terms in unstructured log events", "... in JSON log
events" and "... with space-delimited log events"; plus hostile patterns and messages."""

from __future__ import annotations

import json
import time

import pytest

from lambent.observability.filter_pattern import FilterPatternError, compile_pattern, glob_match

# The unstructured example events of the AWS page.
TEXT = ["[ERROR 400] BAD REQUEST", "[ERROR 401] UNAUTHORIZED REQUEST", "[ERROR 419] MISSING ARGUMENTS",
        "[ERROR 420] INVALID ARGUMENTS", "[INFO 200] INTERNAL SERVER ERROR report"]


@pytest.mark.parametrize(("pattern", "matches"), [
    ("", [0, 1, 2, 3, 4]),
    ("ERROR", [0, 1, 2, 3, 4]),
    ("ERROR ARGUMENTS", [2, 3]),
    ("?ERROR ?ARGUMENTS", [0, 1, 2, 3, 4]),
    ("?UNAUTHORIZED ?MISSING", [1, 2]),
    ('"INTERNAL SERVER ERROR"', [4]),
    ("ERROR -ARGUMENTS", [0, 1, 4]),
    ('ERROR -"BAD REQUEST"', [1, 2, 3, 4]),
    ("error", []),  # terms are case-sensitive
    ("REQUEST -UNAUTHORIZED", [0]),
])
def test_unstructured_terms(pattern: str, matches: list[int]) -> None:
    m = compile_pattern(pattern)
    assert [i for i, ev in enumerate(TEXT) if m(ev)] == matches


# The JSON example event of the AWS page (abridged to the members the examples use).
DOC = json.dumps({
    "eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": None, "ThisFlag": True,
    "ThatFlag": False, "user": {"id": 1, "email": "John.Doe@example.com"},
    "users": [{"id": 2, "email": "John.Doe@example.com"}], "actions": ["GET", "PUT", "DELETE"],
    "coordinates": [[0, 1], [2, 3]], "bandwidth": 80, "latency": 150, "refreshRate": 60, "level": "ERROR",
})


@pytest.mark.parametrize(("pattern", "hit"), [
    ('{ $.eventType = "UpdateTrail" }', True),
    ('{ $.eventType = "updatetrail" }', False),
    ("{ $.sourceIPAddress != 123.123.* }", True),
    ("{ $.sourceIPAddress = 111.111.* }", True),
    ('{ $.eventType = "Update*" }', True),
    ('{ $.arrayKey[0] = "value" }', True),
    ('{ $.arrayKey[1] = "value" }', False),
    ("{ $.objectList[1].id = 2 }", True),
    ("{ $.objectList[*].name = b }", True),
    ("{ $.coordinates[0][1] = 1 }", True),
    ("{ $.SomeObject IS NULL }", True),
    ("{ $.eventType IS NULL }", False),
    ("{ $.SomeOtherObject NOT EXISTS }", True),
    ("{ $.eventType NOT EXISTS }", False),
    ("{ $.ThisFlag IS TRUE }", True),
    ("{ $.ThatFlag IS FALSE }", True),
    ("{ $.ThisFlag IS FALSE }", False),
    ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[0] = "GET" }', True),
    ("{ $.bandwidth > 75 }", True),
    ("{ $.latency < 50 }", False),
    ("{ $.refreshRate <= 60 }", True),
    ("{ $.refreshRate >= 60.5 }", False),
    ("{ $.latency != 150 }", False),
    ("{ $.latency = 1.5e2 }", True),
    ("{ $.latency > 100 }", True),
    ('{ $.level = "ERROR" }', True),
    ("{ $.user.email = * }", True),
    ("{ $.user.phone = * }", False),
    ("{ $.missing != 1 }", False),  # a comparison needs the member
    ('{ $.eventType = "UpdateTrail" && ($.latency > 100 || $.bandwidth < 10) }', True),
])
def test_json_patterns(pattern: str, hit: bool) -> None:
    assert compile_pattern(pattern)(DOC) is hit


def test_json_patterns_do_not_match_other_events() -> None:
    m = compile_pattern('{ $.level = "ERROR" }')
    assert not m("ERROR level")
    assert not m('{"level": "ERROR"')  # not JSON
    assert not m("[1, 2]")


LINE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'
LINE_404 = '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /index.html HTTP/1.0" 404 0'


@pytest.mark.parametrize(("pattern", "hits"), [
    ("[ip, user, username, timestamp, request, status_code, bytes]", [True, True]),
    ("[ip, user, username, timestamp, request, status_code = 404, bytes]", [False, True]),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", [False, True]),
    ('[ip, user, username, timestamp, request = "*html*", status_code, bytes]', [False, True]),
    ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", [True, False]),
    ("[..., status_code = 200, bytes]", [True, False]),
    ("[ip = 127.0.0.1, ...]", [True, True]),
    ("[ip, user, ..., status_code = 4* || status_code = 2*, size]", [True, True]),
    ("[ip, user]", [False, False]),  # too few fields without '...'
])
def test_space_delimited(pattern: str, hits: list[bool]) -> None:
    m = compile_pattern(pattern)
    assert [m(LINE), m(LINE_404)] == hits


@pytest.mark.parametrize("pattern", [
    "{ $.a = ", "{ a = 1 }", "{ $.a > abc }", "{ $.a IS MAYBE }", "{ $.a = 1 ", '"unclosed', "{ ($.a = 1 }",
    "{ $.a[x] = 1 }", "{ $. = 1 }", "{ $.a * 1 }", "{ $.a != * }",
])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


# -- hostile ---------------------------------------------------------------------------------------

def test_parentheses_nest_at_most_sixteen_deep() -> None:
    assert compile_pattern("{ " + "(" * 16 + "$.a = 1" + ")" * 16 + " }")('{"a": 1}')
    with pytest.raises(FilterPatternError, match="deeper than 16"):
        compile_pattern("{ " + "(" * 17 + "$.a = 1" + ")" * 17 + " }")


def test_patterns_longer_than_the_api_allows_are_refused() -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern("a " * 600)


def test_regular_expressions_are_refused_by_name_not_matched_wrongly() -> None:
    with pytest.raises(FilterPatternError, match="Regular expressions"):
        compile_pattern("%ERROR [0-9]+%")
    assert compile_pattern('"100%" done')("100% done")  # a quoted % is a literal


def test_wildcards_cost_is_polynomial_not_exponential() -> None:
    # A pattern that makes a backtracking regex explode: (.*a){12} against a's without the final b.
    value = "a" * 3000
    start = time.perf_counter()
    assert not glob_match(value, "*a" * 12 + "b")
    assert time.perf_counter() - start < 2.0
    assert glob_match("abcabc", "a*c*c") and not glob_match("abcab", "a*c*c") and glob_match("", "*")


def test_a_deeply_nested_message_does_not_match_nor_crash() -> None:
    m = compile_pattern("{ $.a = 1 }")
    assert not m("[" * 100_000 + "]" * 100_000)
    assert not m('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_any_pattern_either_compiles_or_is_refused_and_never_raises_on_a_message() -> None:
    import random

    rng = random.Random(12)
    alphabet = ['{', '}', '(', ')', '[', ']', '"', '$', '.', '*', '=', '!', '<', '>', '&&', '||', '?', '-', ' ', 'a',
                '1', 'IS', 'NULL', 'NOT', 'EXISTS', ',', '...', '\\', '%', '$.a', '$.b[0]', '$.c[*]']
    messages = ['{"a": 1, "b": [2], "c": [{"d": "x"}]}', "a 1 x", "", '{"a": "1*"}', "[1,2]", "null", '"a"']
    compiled = refused = 0
    for _ in range(3000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            m = compile_pattern(pattern)
        except FilterPatternError:
            refused += 1
            continue
        compiled += 1
        for msg in messages:
            assert m(msg) in (True, False)
    assert compiled > 100 and refused > 100
