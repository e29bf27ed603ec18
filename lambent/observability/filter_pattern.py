"""CloudWatch Logs filter patterns, compiled once into a matcher of one log event's message.

The syntax is CloudWatch's, from "Filter pattern syntax for metric filters, subscription filters,
filter log events, and Live Tail" (Amazon CloudWatch Logs user guide,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):

- unstructured events: terms (case-sensitive substrings, all required: ``ERROR ARGUMENTS``),
  quoted phrases (``"INTERNAL SERVER ERROR"``), ``?term`` alternatives (at least one of them:
  ``?ERROR ?WARN``), ``-term`` exclusions (``ERROR -ARGUMENTS``); the empty pattern matches all;
- JSON events: ``{ SELECTOR OP VALUE }`` with selectors ``$.a.b``, ``$.list[0]``, ``$.list[*]``,
  string values (quoted or bare, ``*`` wildcards: ``{ $.ip != 123.123.* }``), numeric comparisons
  (``= != < > <= >=``), ``{ $.a = * }`` (the key exists), ``IS NULL``, ``IS TRUE``, ``IS FALSE``,
  ``NOT EXISTS``, ``&&`` / ``||`` and parentheses;
- space-delimited events: ``[ip, user, ..., status = 4*, size > 1000]`` (fields split on
  whitespace, ``"..."`` and ``[...]`` kept whole; ``...`` stands for any number of fields).

Bounded cost, whatever the pattern: no regular expression is built from it (wildcards are matched
by a two-pointer scan, O(len(value) * len(pattern))), parentheses nest at most
:data:`MAX_DEPTH` deep, a pattern is at most :data:`MAX_PATTERN` characters (the API's limit) and
an event whose JSON nests too deep for the parser simply does not match. Regular expressions
(``%...%``) are refused by name rather than matched wrongly.

Pure: no I/O. A bad pattern raises :class:`FilterPatternError` (a ``ValueError``: the API layer
answers InvalidParameterException with its message).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_PATTERN = 1024
MAX_DEPTH = 16
_MAX_SELECTOR_PARTS = 32

Matcher = Callable[[str], bool]


class FilterPatternError(ValueError):
    """The pattern does not parse; the message says where."""


def compile_pattern(pattern: str | None) -> Matcher:
    """A matcher for ``pattern`` (None or blank: every event matches)."""
    text = (pattern or "").strip()
    if len(text) > MAX_PATTERN:
        raise FilterPatternError(f"The filter pattern is longer than {MAX_PATTERN} characters.")
    if not text:
        return _all
    if "%" in text and _has_regex(text):
        raise FilterPatternError("Regular expressions (%...%) in filter patterns are not supported by this lambent server yet.")
    if text.startswith("{"):
        if not text.endswith("}"):
            raise FilterPatternError("Invalid JSON filter pattern: it must end with '}'.")
        return _json_matcher(_Parser(_lex(text[1:-1])).parse())
    if text.startswith("["):
        if not text.endswith("]"):
            raise FilterPatternError("Invalid space-delimited filter pattern: it must end with ']'.")
        return _delimited_matcher(text[1:-1])
    return _terms_matcher(text)


def _all(message: str) -> bool:
    return True


def _has_regex(text: str) -> bool:
    """A ``%...%`` outside quotes."""
    quoted = False
    count = 0
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "%" and not quoted:
            count += 1
    return count >= 2


# -- unstructured: terms ---------------------------------------------------------------------------

def _words(text: str) -> Iterator[tuple[str, str]]:
    """(prefix '' | '?' | '-', term) for each term; quoted phrases keep their spaces."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        prefix = ""
        if text[i] in "?-" and i + 1 < n and not text[i + 1].isspace():
            prefix = text[i]
            i += 1
        if text[i] == '"':
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise FilterPatternError("Invalid filter pattern: a quoted term is not closed.")
            yield prefix, "".join(buf)
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            yield prefix, text[i:j]
            i = j


class _Terms:
    """A terms pattern. ``needles``: substrings every matching message contains (a reader may skip
    an event lacking one without decoding it)."""

    def __init__(self, required: list[str], optional: list[str], excluded: list[str]) -> None:
        self._required = required
        self._optional = optional
        self._excluded = excluded
        self.needles = tuple(t for t in required if t)

    def __call__(self, message: str) -> bool:
        if any(t not in message for t in self._required):
            return False
        if any(t in message for t in self._excluded):
            return False
        return not self._optional or any(t in message for t in self._optional)


def _terms_matcher(text: str) -> Matcher:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for prefix, term in _words(text):
        (optional if prefix == "?" else excluded if prefix == "-" else required).append(term)
    return _Terms(required, optional, excluded)


# -- wildcards -------------------------------------------------------------------------------------

def glob_match(value: str, pattern: str) -> bool:
    """``*`` matches any run of characters; everything else literally. O(len(value)*len(pattern))
    at worst (backtracking only to the last star), never exponential."""
    if "*" not in pattern:
        return value == pattern
    v = p = 0
    star = -1
    mark = 0
    while v < len(value):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == value[v]:
            v += 1
            p += 1
        elif p < len(pattern) and pattern[p] == "*":
            star = p
            mark = v
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            v = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


# -- JSON patterns ---------------------------------------------------------------------------------

_OPS = ("!=", "<=", ">=", "=", "<", ">")


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(" ")" "&&" "||" "op" "sel" "str" "word"
    text: str


def _lex(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Tok(ch, ch))
            i += 1
        elif text.startswith("&&", i) or text.startswith("||", i):
            out.append(_Tok(text[i:i + 2], text[i:i + 2]))
            i += 2
        elif any(text.startswith(op, i) for op in _OPS):
            op = next(op for op in _OPS if text.startswith(op, i))
            out.append(_Tok("op", op))
            i += len(op)
        elif ch == '"':
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise FilterPatternError("Invalid JSON filter pattern: a quoted value is not closed.")
            out.append(_Tok("str", "".join(buf)))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()"=<>!' and not text.startswith(("&&", "||"), j):
                j += 1
            if j == i:
                raise FilterPatternError(f"Invalid JSON filter pattern: unexpected {text[i]!r}.")
            word = text[i:j]
            out.append(_Tok("sel" if word.startswith("$") else "word", word))
            i = j
    return out


@dataclass(frozen=True)
class _Cmp:
    path: tuple[str | int | None, ...]  # None: [*]
    op: str  # an operator, or "exists", "missing", "null", "true", "false"
    value: str | float | None = None
    wildcard: bool = False


@dataclass(frozen=True)
class _Bool:
    op: str  # "&&" | "||"
    parts: tuple[_Node, ...]


_Node = _Cmp | _Bool


def _selector(text: str) -> tuple[str | int | None, ...]:
    if text == "$":
        return ()
    if not text.startswith(("$.", "$[")):
        raise FilterPatternError(f"Invalid JSON filter pattern: selector {text!r} must start with '$.'.")
    parts: list[str | int | None] = []
    i, n = 1, len(text)
    while i < n:
        if text[i] == ".":
            j = i + 1
            while j < n and text[j] not in ".[":
                j += 1
            if j == i + 1:
                raise FilterPatternError(f"Invalid JSON filter pattern: empty key in selector {text!r}.")
            parts.append(text[i + 1:j])
            i = j
        elif text[i] == "[":
            j = text.find("]", i)
            if j < 0:
                raise FilterPatternError(f"Invalid JSON filter pattern: '[' without ']' in selector {text!r}.")
            inner = text[i + 1:j]
            if inner == "*":
                parts.append(None)
            elif inner.isdigit():
                parts.append(int(inner))
            else:
                raise FilterPatternError(f"Invalid JSON filter pattern: array index {inner!r} in selector {text!r}.")
            i = j + 1
        else:
            raise FilterPatternError(f"Invalid JSON filter pattern: selector {text!r}.")
        if len(parts) > _MAX_SELECTOR_PARTS:
            raise FilterPatternError("Invalid JSON filter pattern: the selector is too long.")
    return tuple(parts)


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self._toks = toks
        self._i = 0
        self._depth = 0

    def _peek(self) -> _Tok | None:
        return self._toks[self._i] if self._i < len(self._toks) else None

    def _next(self) -> _Tok:
        tok = self._peek()
        if tok is None:
            raise FilterPatternError("Invalid JSON filter pattern: it ends too early.")
        self._i += 1
        return tok

    def parse(self) -> _Node:
        if not self._toks:
            raise FilterPatternError("Invalid JSON filter pattern: it is empty.")
        node = self._or()
        if self._peek() is not None:
            raise FilterPatternError(f"Invalid JSON filter pattern: unexpected {self._toks[self._i].text!r}.")
        return node

    def _or(self) -> _Node:
        parts = [self._and()]
        while (tok := self._peek()) is not None and tok.kind == "||":
            self._i += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _Bool("||", tuple(parts))

    def _and(self) -> _Node:
        parts = [self._unary()]
        while (tok := self._peek()) is not None and tok.kind == "&&":
            self._i += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else _Bool("&&", tuple(parts))

    def _unary(self) -> _Node:
        tok = self._next()
        if tok.kind == "(":
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise FilterPatternError(f"Invalid JSON filter pattern: parentheses nest deeper than {MAX_DEPTH}.")
            node = self._or()
            if self._next().kind != ")":
                raise FilterPatternError("Invalid JSON filter pattern: '(' without ')'.")
            self._depth -= 1
            return node
        if tok.kind != "sel":
            raise FilterPatternError(f"Invalid JSON filter pattern: expected a selector such as $.key, found {tok.text!r}.")
        path = _selector(tok.text)
        nxt = self._next()
        if nxt.kind == "word" and nxt.text.upper() in ("IS", "NOT"):
            what = self._next().text.upper()
            if nxt.text.upper() == "NOT":
                if what != "EXISTS":
                    raise FilterPatternError("Invalid JSON filter pattern: NOT must be followed by EXISTS.")
                return _Cmp(path, "missing")
            if what not in ("NULL", "TRUE", "FALSE"):
                raise FilterPatternError("Invalid JSON filter pattern: IS must be followed by NULL, TRUE or FALSE.")
            return _Cmp(path, what.lower())
        if nxt.kind != "op":
            raise FilterPatternError(f"Invalid JSON filter pattern: expected an operator after {tok.text}, found {nxt.text!r}.")
        val = self._next()
        if val.kind not in ("str", "word"):
            raise FilterPatternError(f"Invalid JSON filter pattern: expected a value after {nxt.text}, found {val.text!r}.")
        if val.kind == "word" and val.text == "*":
            if nxt.text != "=":
                raise FilterPatternError("Invalid JSON filter pattern: '*' can only be compared with '='.")
            return _Cmp(path, "exists")
        num = _number(val.text) if val.kind == "word" else None
        if num is not None:
            return _Cmp(path, nxt.text, num)
        if nxt.text not in ("=", "!="):
            raise FilterPatternError(f"Invalid JSON filter pattern: {nxt.text} needs a numeric value, found {val.text!r}.")
        return _Cmp(path, nxt.text, val.text, "*" in val.text)


_MISSING = object()


def _candidates(doc: Any, path: tuple[str | int | None, ...]) -> list[Any]:
    current = [doc]
    for part in path:
        nxt: list[Any] = []
        for v in current:
            if isinstance(part, str):
                if isinstance(v, dict) and part in v:
                    nxt.append(v[part])
            elif isinstance(part, int):
                if isinstance(v, list) and part < len(v):
                    nxt.append(v[part])
            elif isinstance(v, list):
                nxt.extend(v)
        current = nxt
        if not current:
            break
    return current


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _compare(c: _Cmp, v: Any) -> bool:
    if c.op == "exists":
        return True
    if c.op == "null":
        return v is None
    if c.op == "true":
        return v is True
    if c.op == "false":
        return v is False
    if isinstance(c.value, float):
        if not _is_number(v):
            return False
        x, y = float(v), c.value
        return {"=": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[c.op]
    assert isinstance(c.value, str)  # noqa: S101 - the parser built it so
    if isinstance(v, str):
        text = v
    elif v is None or isinstance(v, (dict, list)):
        return False
    else:
        text = json.dumps(v)
    hit = glob_match(text, c.value) if c.wildcard else text == c.value
    return hit if c.op == "=" else not hit


def _eval(node: _Node, doc: Any) -> bool:
    if isinstance(node, _Bool):
        if node.op == "&&":
            return all(_eval(p, doc) for p in node.parts)
        return any(_eval(p, doc) for p in node.parts)
    found = _candidates(doc, node.path)
    if node.op == "missing":
        return not found
    return any(_compare(node, v) for v in found)


def _json_matcher(node: _Node) -> Matcher:
    def match(message: str) -> bool:
        start = message.lstrip()
        if not start.startswith(("{", "[")):
            return False
        try:
            doc = json.loads(message)
        except (ValueError, RecursionError):
            return False  # not JSON, or nested deeper than the parser goes: no match
        return _eval(node, doc)

    return match


# -- space-delimited -------------------------------------------------------------------------------

def _split_fields(message: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(message)
    while i < n:
        ch = message[i]
        if ch.isspace():
            i += 1
            continue
        if ch in '"[':
            close = '"' if ch == '"' else "]"
            j = message.find(close, i + 1)
            if j < 0:
                j = n
            out.append(message[i + 1:j])
            i = j + 1
            continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        out.append(message[i:j])
        i = j
    return out


@dataclass(frozen=True)
class _Field:
    ellipsis: bool
    #: alternatives (||) of conjunctions (&&) of (op, value, is_number, wildcard)
    any_of: tuple[tuple[tuple[str, str | float, bool], ...], ...] = ()


def _field_condition(text: str) -> _Field:
    text = text.strip()
    if text == "...":
        return _Field(True)
    alternatives: list[tuple[tuple[str, str | float, bool], ...]] = []
    for alt in text.split("||"):
        conj: list[tuple[str, str | float, bool]] = []
        for part in alt.split("&&"):
            part = part.strip()
            op = next((o for o in _OPS if o in part), None)
            if op is None:
                if not part or any(c in part for c in '"()'):
                    raise FilterPatternError(f"Invalid space-delimited filter pattern: field {part!r}.")
                continue  # a bare field name: no condition
            value = part.split(op, 1)[1].strip()
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                value = value[1:-1]
                conj.append((op, value, "*" in value))
                continue
            num = _number(value)
            if num is not None:
                conj.append((op, num, False))
            elif op in ("=", "!="):
                conj.append((op, value, "*" in value))
            else:
                raise FilterPatternError(f"Invalid space-delimited filter pattern: {op} needs a number, found {value!r}.")
        alternatives.append(tuple(conj))
    return _Field(False, tuple(alternatives))


def _field_ok(f: _Field, value: str) -> bool:
    def one(op: str, want: str | float, wildcard: bool) -> bool:
        if isinstance(want, float):
            x = _number(value)
            if x is None:
                return False
            return {"=": x == want, "!=": x != want, "<": x < want, ">": x > want, "<=": x <= want, ">=": x >= want}[op]
        hit = glob_match(value, want) if wildcard else value == want
        return hit if op == "=" else not hit

    return any(all(one(*c) for c in conj) for conj in f.any_of)


def _delimited_matcher(inner: str) -> Matcher:
    fields = tuple(_field_condition(p) for p in inner.split(","))
    if len(fields) > 64:
        raise FilterPatternError("Invalid space-delimited filter pattern: more than 64 fields.")

    def match(message: str) -> bool:
        values = _split_fields(message)
        # Fields against values as a wildcard match over lists ('...' = any run): O(fields * values).
        reach = [True] + [False] * len(values)
        for f in fields:
            nxt = [False] * (len(values) + 1)
            if f.ellipsis:
                seen = False
                for j in range(len(values) + 1):
                    seen = seen or reach[j]
                    nxt[j] = seen
            else:
                for j in range(len(values)):
                    if reach[j] and _field_ok(f, values[j]):
                        nxt[j + 1] = True
            reach = nxt
        return reach[len(values)]

    return match
