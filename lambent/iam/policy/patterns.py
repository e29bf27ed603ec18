"""Wildcard patterns and policy variables, compiled once into matchers.

A pattern is a policy string (an Action, a Resource, a ``StringLike`` value...) where ``*`` is
any run of characters and ``?`` any one character. Two flavours, as AWS documents them:

* plain (Action, ``StringLike``): ``*`` and ``?`` match any character;
* ARN (Resource, ``ArnLike``): wildcards stay inside one colon-separated segment, except a ``*``
  that is the last character of a segment, which "can expand to match beyond the colon
  boundaries" (IAM JSON policy elements: Resource, "Using wildcards in resource ARNs").
  So ``function:my-fn*`` matches ``function:my-fn:prod``, ``arn:aws:*:x`` does not let the ``*``
  reach past one segment except at its end, and ``?`` never matches ``:``.

Policy variables (Version 2012-10-17 only; IAM policy elements: Variables and tags):
``${aws:username}`` is replaced by the request's single value of that key, ``${key, 'default'}``
by the default when the key has no single value, and ``${*}``, ``${?}``, ``${$}`` are the literal
characters. Substituted text is always literal: a value holding ``*`` never widens a pattern.
A variable that cannot be resolved makes its element match nothing.

Matching cost is bounded whatever a policy author writes: a plain pattern with one ``*`` is a
plain regex, with more an atomic-group regex that never backtracks into an earlier star; an ARN
pattern with up to two ``*`` is a plain regex (at worst quadratic in an ARN, which the API bounds),
with more a bit-parallel automaton linear in the value. So a hostile pattern such as
``*a*a*a*a*a*b`` cannot stall the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: A matcher of one request value.
Matcher = Callable[[str], bool]
#: Request context: lowercased key -> its values (one for single-valued keys).
Keys = Mapping[str, tuple[str, ...]]


class _Wild(str):
    """A wildcard token (``*`` or ``?``) among literal text; a distinct type, so a literal ``*``
    that came from ``${*}`` or a substituted value is never taken for one."""

    __slots__ = ()


STAR = _Wild("*")
QUEST = _Wild("?")


@dataclass(frozen=True, slots=True)
class Var:
    """``${key}`` or ``${key, 'default'}``; ``key`` lowercased (key names are case-insensitive).
    ``key=None`` is a malformed variable: it never resolves."""

    key: str | None
    default: str | None = None


#: A pattern after parsing: literal text runs, wildcard tokens and variables.
Part = str | Var

_VAR = re.compile(r"\$\{([^}]*)\}")
_VAR_BODY = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")


def parse_template(text: str, *, variables: bool) -> tuple[Part, ...]:
    """Split ``text`` into literal runs, :data:`STAR`/:data:`QUEST` tokens and :class:`Var` s.
    With ``variables=False`` (Version 2008-10-17) ``${...}`` is ordinary text."""
    parts: list[Part] = []
    pos = 0
    if variables:
        for m in _VAR.finditer(text):
            parts.extend(_split_wild(text[pos:m.start()]))
            body = m.group(1)
            if body in ("*", "?", "$"):
                parts.append(body)  # a plain str: literal, never a wildcard
            elif (v := _VAR_BODY.fullmatch(body)) is not None:
                default = v.group(2).replace("''", "'") if v.group(2) is not None else None
                parts.append(Var(v.group(1).lower(), default))
            else:
                parts.append(Var(None))
            pos = m.end()
    parts.extend(_split_wild(text[pos:]))
    return tuple(parts)


def _split_wild(text: str) -> list[str]:
    out: list[str] = []
    run: list[str] = []
    for ch in text:
        if ch == "*" or ch == "?":
            if run:
                out.append("".join(run))
                run.clear()
            out.append(STAR if ch == "*" else QUEST)
        else:
            run.append(ch)
    if run:
        out.append("".join(run))
    return out


def resolve(parts: Sequence[Part], keys: Keys) -> list[str] | None:
    """The parts with every variable replaced by its literal value; None if one cannot be."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, Var):
            values = keys.get(p.key) if p.key is not None else None
            if values is not None and len(values) == 1:
                out.append(values[0])
            elif p.key is not None and p.default is not None:
                out.append(p.default)
            else:
                return None
        else:
            out.append(p)
    return out


def has_variables(parts: Sequence[Part]) -> bool:
    return any(isinstance(p, Var) for p in parts)


def literal_text(parts: Sequence[str]) -> str:
    """The resolved parts read as plain text (for exact comparisons: wildcards are literal)."""
    return "".join(parts)


# --- matchers ------------------------------------------------------------------------------

_ANY, _NOCOLON = 1, 2  # star classes


def _tokens(parts: Sequence[str], arn: bool) -> list[tuple[int, str]]:
    """(kind, char) per position: kind 0 literal, 3 ``?``, 1/2 a ``*`` (any / within a segment);
    runs of ``*`` collapse into one."""
    toks: list[tuple[int, str]] = []
    for p in parts:
        if p is STAR or (isinstance(p, _Wild) and p == "*"):
            if toks and toks[-1][0] in (_ANY, _NOCOLON):
                continue
            toks.append((_ANY, "*"))
        elif isinstance(p, _Wild):
            toks.append((3, "?"))
        else:
            toks.extend((0, ch) for ch in p)
    if arn:
        for i, (kind, _) in enumerate(toks):
            if kind == _ANY:
                last_of_segment = i + 1 == len(toks) or toks[i + 1] == (0, ":")
                if not last_of_segment:
                    toks[i] = (_NOCOLON, "*")
    return toks


def build_matcher(parts: Sequence[str], *, arn: bool = False, fold: bool = False) -> Matcher:
    """A matcher of whole values for resolved ``parts``. ``fold``: the pattern is lowercased, and
    the caller passes lowercased values (Action names are case-insensitive)."""
    if fold:
        parts = [_Wild(p) if isinstance(p, _Wild) else p.lower() for p in parts]
    toks = _tokens(parts, arn)
    stars = sum(1 for k, _ in toks if k in (_ANY, _NOCOLON))
    if stars == 0 and not any(k == 3 for k, _ in toks):
        return "".join(ch for _, ch in toks).__eq__
    if len(toks) == 1 and toks[0][0] == _ANY:
        return _always
    if stars <= 1 or (arn and stars == 2):
        src = "".join(
            re.escape(ch) if k == 0 else ".*" if k == _ANY else "[^:]*" if k == _NOCOLON else ("[^:]" if arn else ".")
            for k, ch in toks
        )
    elif not arn:
        src = _atomic(toks)
    else:
        return _BitAutomaton(toks, arn).match
    fullmatch = re.compile(src, re.DOTALL).fullmatch
    return lambda value: fullmatch(value) is not None


def _atomic(toks: Sequence[tuple[int, str]]) -> str:
    """A plain glob ``L0*L1*...*Lk`` as ``L0(?>.*?L1)...(?>.*?Lk-1).*Lk``: each middle chunk is
    committed at its leftmost occurrence, which is always a right choice when every ``*`` may
    match anything, so the engine never backtracks into an earlier star (linear-ish cost)."""
    chunks: list[str] = [""]
    for kind, ch in toks:
        if kind == _ANY:
            chunks.append("")
        else:
            chunks[-1] += "." if kind == 3 else re.escape(ch)
    middle = "".join(f"(?>.*?{c})" for c in chunks[1:-1] if c)
    return f"{chunks[0]}{middle}.*{chunks[-1]}"


def _always(value: str) -> bool:
    return True


class _BitAutomaton:
    """Shift-and simulation of the pattern's automaton: bit i set = the first i tokens matched.
    One pass over the value, a few integer operations per character."""

    __slots__ = ("_lit", "_quest_any", "_quest_nc", "_star_any", "_star_nc", "_stars", "_accept", "_start")

    def __init__(self, toks: Sequence[tuple[int, str]], arn: bool) -> None:
        self._lit: dict[str, int] = {}
        self._quest_any = self._quest_nc = self._star_any = self._star_nc = 0
        for i, (kind, ch) in enumerate(toks):
            bit = 1 << i
            if kind == 0:
                self._lit[ch] = self._lit.get(ch, 0) | bit
            elif kind == 3:
                if arn:
                    self._quest_nc |= bit
                else:
                    self._quest_any |= bit
            elif kind == _ANY:
                self._star_any |= bit
            else:
                self._star_nc |= bit
        self._stars = self._star_any | self._star_nc
        self._accept = 1 << len(toks)
        self._start = 1 | ((1 & self._stars) << 1)

    def match(self, value: str) -> bool:
        d = self._start
        lit, qa, qn, sa, sn, stars = self._lit, self._quest_any, self._quest_nc, self._star_any, self._star_nc, self._stars
        for c in value:
            if c == ":":
                d = ((d & (lit.get(c, 0) | qa)) << 1) | (d & sa)
            else:
                d = ((d & (lit.get(c, 0) | qa | qn)) << 1) | (d & (sa | sn))
            d |= (d & stars) << 1
            if not d:
                return False
        return bool(d & self._accept)


class PatternSet:
    """A list of patterns (one element's values) compiled once: exact values in a set, wildcard
    patterns as matchers, patterns with variables resolved per request (their matchers kept in
    a small bounded cache, since the same few callers repeat)."""

    __slots__ = ("_any", "_exact", "_matchers", "_templates", "_arn", "_fold", "_cache")

    _CACHE_MAX = 256

    def __init__(self, patterns: Sequence[str], *, arn: bool, fold: bool, variables: bool,
                 compiled: dict[tuple[bool, bool, tuple[str, ...]], Matcher] | None = None) -> None:
        self._arn, self._fold = arn, fold
        self._any = False
        exact: set[str] = set()
        self._matchers: list[Matcher] = []
        self._templates: list[tuple[Part, ...]] = []
        self._cache: dict[tuple[str, ...], Matcher] = {}
        for pattern in patterns:
            parts = parse_template(pattern, variables=variables)
            if has_variables(parts):
                self._templates.append(parts)
                continue
            strs = [p for p in parts if isinstance(p, str)]
            if not any(isinstance(p, _Wild) for p in strs):
                text = literal_text(strs)
                exact.add(text.lower() if fold else text)
            elif len(strs) == 1 and strs[0] is STAR:
                self._any = True
            else:
                key = (arn, fold, tuple(f"\x00{p}" if isinstance(p, _Wild) else p for p in strs))
                m = compiled.get(key) if compiled is not None else None
                if m is None:
                    m = build_matcher(strs, arn=arn, fold=fold)
                    if compiled is not None:
                        compiled[key] = m
                self._matchers.append(m)
        self._exact = frozenset(exact)

    @property
    def matches_everything(self) -> bool:
        return self._any

    def match(self, value: str, keys: Keys) -> bool:
        """Whether ``value`` (lowercased by the caller if ``fold``) matches any pattern."""
        return self.match_or_unresolved(value, keys) == MATCH

    def match_or_unresolved(self, value: str, keys: Keys) -> int:
        """:data:`MATCH`, :data:`NO_MATCH`, or :data:`UNRESOLVED` when nothing matched and some
        pattern's variable could not be resolved (the element cannot be judged: for NotResource
        that must not read as "not this resource")."""
        if self._any or value in self._exact:
            return MATCH
        for m in self._matchers:
            if m(value):
                return MATCH
        unresolved = False
        for parts in self._templates:
            resolved = resolve(parts, keys)
            if resolved is None:
                unresolved = True
                continue
            key = tuple(f"\x00{p}" if isinstance(p, _Wild) else p for p in resolved)
            found = self._cache.get(key)
            if found is None:
                if len(self._cache) >= self._CACHE_MAX:
                    self._cache.clear()
                found = self._cache[key] = build_matcher(resolved, arn=self._arn, fold=self._fold)
            if found(value):
                return MATCH
        return UNRESOLVED if unresolved else NO_MATCH


NO_MATCH, MATCH, UNRESOLVED = 0, 1, 2
