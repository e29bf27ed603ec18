"""Condition operators, compiled once per policy (IAM JSON policy elements: Condition operators;
"Creating a condition with multiple keys or values"; "Single-valued vs. multivalued context keys").

A Condition block is a map ``operator -> {key: value | [values]}``. Every (operator, key) pair
must hold (AND); a key holds if the request's value matches any of the policy values (OR).

* A negated operator (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``...) holds when the
  value matches none of the policy values, and also when the key is absent from the request.
* ``...IfExists``: an absent key makes the pair hold.
* ``Null``: ``"true"`` holds when the key is absent, ``"false"`` when it is present.
* ``ForAnyValue:``: some request value matches (false for an absent key or an empty set);
  ``ForAllValues:``: every request value matches (true for an absent key or an empty set).
  With a negated operator the per-value test is negated.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from enum import Enum

from lambent.iam.policy.errors import MalformedPolicy
from lambent.iam.policy.patterns import Keys, PatternSet, Part, has_variables, literal_text, parse_template, resolve

#: Tests one request value (the policy's values are inside the closure).
ValueTest = Callable[[str, Keys], bool]


class Qualifier(Enum):
    NONE = "none"
    ANY = "ForAnyValue"
    ALL = "ForAllValues"


def _number(text: str) -> float | None:
    try:
        n = float(text)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def parse_date(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date/time or an epoch number (both are accepted by
    the Date operators); naive times are UTC."""
    n = _number(text)
    if n is not None:
        return n
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _bytes(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- per-family test builders: (policy values, variables allowed) -> test of one request value ---


def _string_equals(values: Sequence[str], variables: bool, *, fold: bool) -> ValueTest:
    templates: list[tuple[Part, ...]] = []
    exact: set[str] = set()
    for v in values:
        parts = parse_template(v, variables=variables)
        if has_variables(parts):
            templates.append(parts)
        else:
            text = literal_text([p for p in parts if isinstance(p, str)])
            exact.add(text.lower() if fold else text)
    frozen = frozenset(exact)

    def test(value: str, keys: Keys) -> bool:
        if fold:
            value = value.lower()
        if value in frozen:
            return True
        for parts in templates:
            resolved = resolve(parts, keys)
            if resolved is not None:
                text = literal_text(resolved)
                if (text.lower() if fold else text) == value:
                    return True
        return False

    return test


def _like(values: Sequence[str], variables: bool, *, arn: bool) -> ValueTest:
    patterns = PatternSet(values, arn=arn, fold=False, variables=variables)
    return patterns.match


def _numeric(values: Sequence[str], cmp: Callable[[float, float], bool], parse: Callable[[str], float | None]) -> ValueTest:
    nums = [n for n in (parse(v) for v in values) if n is not None]

    def test(value: str, keys: Keys) -> bool:
        n = parse(value)
        return n is not None and any(cmp(n, p) for p in nums)

    return test


def _bool(values: Sequence[str]) -> ValueTest:
    wanted = {v.lower() for v in values if v.lower() in ("true", "false")}
    return lambda value, keys: value.lower() in wanted


def _binary(values: Sequence[str]) -> ValueTest:
    wanted = {b for b in (_bytes(v) for v in values) if b is not None}

    def test(value: str, keys: Keys) -> bool:
        b = _bytes(value)
        return b is not None and b in wanted

    return test


def _ip(values: Sequence[str]) -> ValueTest:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for v in values:
        try:
            nets.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            continue

    seen: dict[str, bool] = {}  # the same few client addresses repeat; bounded

    def test(value: str, keys: Keys) -> bool:
        found = seen.get(value)
        if found is None:
            try:
                addr = ipaddress.ip_address(value.strip())
            except ValueError:
                found = False
            else:
                found = any(addr.version == n.version and addr in n for n in nets)
            if len(seen) >= 1024:
                seen.clear()
            seen[value] = found
        return found

    return test


_CMP: dict[str, Callable[[float, float], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

Builder = Callable[[Sequence[str], bool], ValueTest]

#: operator name (without qualifier/IfExists) -> (builder, negated)
OPERATORS: dict[str, tuple[Builder, bool]] = {
    "StringEquals": (lambda v, var: _string_equals(v, var, fold=False), False),
    "StringNotEquals": (lambda v, var: _string_equals(v, var, fold=False), True),
    "StringEqualsIgnoreCase": (lambda v, var: _string_equals(v, var, fold=True), False),
    "StringNotEqualsIgnoreCase": (lambda v, var: _string_equals(v, var, fold=True), True),
    "StringLike": (lambda v, var: _like(v, var, arn=False), False),
    "StringNotLike": (lambda v, var: _like(v, var, arn=False), True),
    "NumericNotEquals": (lambda v, var: _numeric(v, _CMP["Equals"], _number), True),
    "DateNotEquals": (lambda v, var: _numeric(v, _CMP["Equals"], parse_date), True),
    "Bool": (lambda v, var: _bool(v), False),
    "BinaryEquals": (lambda v, var: _binary(v), False),
    "IpAddress": (lambda v, var: _ip(v), False),
    "NotIpAddress": (lambda v, var: _ip(v), True),
    # ArnEquals and ArnLike are the same test: each colon-delimited part compared separately,
    # wildcards allowed (IAM JSON policy elements: Condition operators, "Amazon Resource Name").
    "ArnEquals": (lambda v, var: _like(v, var, arn=True), False),
    "ArnLike": (lambda v, var: _like(v, var, arn=True), False),
    "ArnNotEquals": (lambda v, var: _like(v, var, arn=True), True),
    "ArnNotLike": (lambda v, var: _like(v, var, arn=True), True),
}
for _name, _cmp in _CMP.items():
    OPERATORS["Numeric" + _name] = ((lambda c: lambda v, var: _numeric(v, c, _number))(_cmp), False)
    OPERATORS["Date" + _name] = ((lambda c: lambda v, var: _numeric(v, c, parse_date))(_cmp), False)


_NONE, _ANY, _ALL = 0, 1, 2


class Condition:
    """One (operator, key) pair of a Condition block, ready to test a request."""

    __slots__ = ("operator", "key", "_test", "_negated", "_qualifier", "_if_exists", "_null")

    def __init__(self, operator: str, key: str, values: Sequence[str], *, variables: bool) -> None:
        self.operator = operator
        self.key = key.lower()
        qualifier, base = Qualifier.NONE, operator
        for q in (Qualifier.ANY, Qualifier.ALL):
            if operator.startswith(q.value + ":"):
                qualifier, base = q, operator[len(q.value) + 1:]
        if_exists = base.endswith("IfExists")
        if if_exists:
            base = base[: -len("IfExists")]
        # plain ints on the hot path (Enum member lookups cost a descriptor call each)
        self._qualifier = {Qualifier.NONE: _NONE, Qualifier.ANY: _ANY, Qualifier.ALL: _ALL}[qualifier]
        self._if_exists = if_exists
        self._null: bool | None = None
        self._negated = False
        if base == "Null":
            if if_exists or self._qualifier != _NONE:
                raise MalformedPolicy(f"Invalid Condition type : {operator}.")
            self._null = any(v.lower() == "true" for v in values)
            self._test: ValueTest | None = None
            return
        spec = OPERATORS.get(base)
        if spec is None:
            raise MalformedPolicy(f"Invalid Condition type : {operator}.")
        builder, self._negated = spec
        self._test = builder(values, variables)

    def holds(self, keys: Keys) -> bool:
        values = keys.get(self.key)
        if self._null is not None:
            return (not values) is self._null
        test = self._test
        if test is None:  # only Null has no value test, and it returned above
            return False
        qualifier = self._qualifier
        if values is None:
            if self._if_exists or qualifier == _ALL:
                return True
            return self._negated and qualifier == _NONE
        if qualifier == _ALL:
            if self._negated:
                return all(not test(v, keys) for v in values)
            return all(test(v, keys) for v in values)
        if qualifier == _ANY:
            if self._negated:
                return any(not test(v, keys) for v in values)
            return any(test(v, keys) for v in values)
        matched = any(test(v, keys) for v in values)
        return not matched if self._negated else matched


def compile_conditions(block: Mapping[str, Mapping[str, Sequence[str]]], *, variables: bool) -> tuple[Condition, ...]:
    """Every (operator, key) pair of a validated Condition block."""
    return tuple(Condition(op, key, values, variables=variables) for op, pairs in block.items() for key, values in pairs.items())
