"""Model constraints (required, enum, min/max, lengths, patterns), checked once and generically.

AWS reports every violation of a request at once as ``ValidationException``: ``2 validation errors
detected: Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less
than or equal to 10240; Value ...``. Member paths are camelCased member names joined by ``.``;
list elements are ``<list>.<n>.member`` (1-based), as in AWS's (Coral) answers. The text is the
same as :mod:`lambent.control.validation`'s, so moving Lambda onto this checker changes no answer.

A checker is compiled once per shape (``compile_shape``) into closures; at request time only the
closures run. Services override the few places where AWS answers otherwise by passing ``skip`` (a
set of ``(operation, member path)`` that are not checked generically, because the domain checks
them with its own error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.model import OperationModel, Shape

from lambent.errors import ValidationError

#: (value, member path, errors so far)
Check = Callable[[Any, str, list[str]], None]


def _noop(value: Any, path: str, errors: list[str]) -> None:
    return None


def shown(value: Any) -> str:
    """A value as AWS quotes it in a validation message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fail(errors: list[str], path: str, value: Any, constraint: str) -> None:
    errors.append(f"Value '{shown(value)}' at '{path}' failed to satisfy constraint: {constraint}")


def _member_path(name: str) -> str:
    return name[:1].lower() + name[1:]


def _compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """Java regexes from the model; the rare one Python's ``re`` cannot read (``\\p{L}``) is not
    checked generically (the domain code is the backstop)."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


#: Distinct values remembered per pattern: the warm path sends the same function names again and
#: again, and a dict hit is ~20x cheaper than the model's long regexes (ARN forms).
_PATTERN_MEMO_SIZE = 1024
#: Only short values are remembered, so the memo stays small whatever callers send (< 256 KiB).
_PATTERN_MEMO_MAX_LEN = 256


def _pattern_check(regex: re.Pattern[str]) -> Callable[[Any], str | None]:
    text = f"Member must satisfy regular expression pattern: {regex.pattern}"
    match = regex.fullmatch
    memo: dict[str, bool] = {}

    def check(value: Any) -> str | None:
        ok = memo.get(value)
        if ok is None:
            ok = match(value) is not None
            if len(value) <= _PATTERN_MEMO_MAX_LEN:
                if len(memo) >= _PATTERN_MEMO_SIZE:
                    memo.clear()
                memo[value] = ok
        return None if ok else text

    return check


def _scalar_constraints(shape: Shape) -> list[Callable[[Any], str | None]]:
    """Constraints on one value, in the order AWS reports them: enum; length max, min; pattern;
    value min, max. Each returns the violated constraint's text, or None."""
    meta = shape.metadata
    kind = shape.type_name
    out: list[Callable[[Any], str | None]] = []
    enum = getattr(shape, "enum", None) or meta.get("enum")
    if kind == "string" and enum:
        allowed = frozenset(enum)
        text = f"Member must satisfy enum value set: [{', '.join(enum)}]"
        out.append(lambda v: None if v in allowed else text)
        return out
    if kind in ("string", "blob", "list", "map"):
        lo, hi = meta.get("min"), meta.get("max")
        if hi is not None:
            hi_text = f"Member must have length less than or equal to {hi}"
            out.append(lambda v: hi_text if len(v) > hi else None)
        if lo is not None and lo > 0:
            lo_text = f"Member must have length greater than or equal to {lo}"
            out.append(lambda v: lo_text if len(v) < lo else None)
        regex = _compile_pattern(meta.get("pattern")) if kind == "string" else None
        if regex is not None:
            out.append(_pattern_check(regex))
    elif kind in ("integer", "long", "float", "double"):
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None:
            lo_text = f"Member must have value greater than or equal to {lo}"
            out.append(lambda v: lo_text if v < lo else None)
        if hi is not None:
            hi_text = f"Member must have value less than or equal to {hi}"
            out.append(lambda v: hi_text if v > hi else None)
    return out


class _Compiler:
    def __init__(self, skip: frozenset[str]) -> None:
        self._skip = skip
        self._cache: dict[str, Check] = {}

    def shape(self, shape: Shape, prefix: str = "") -> Check:
        # Structures are compiled per (shape, path) only when a skip lies under them; otherwise once.
        under_skip = bool(prefix) and any(s.startswith(prefix) for s in self._skip)
        key = f"{shape.name}@{prefix}" if under_skip else shape.name
        if key in self._cache:
            return self._cache[key]
        slot: list[Check] = []
        # A recursive shape refers to itself through this trampoline while it is being compiled.
        self._cache[key] = lambda v, p, e: slot[0](v, p, e)
        check = self._build(shape, prefix)
        slot.append(check)
        self._cache[key] = check
        return check

    def _build(self, shape: Shape, prefix: str) -> Check:
        kind = shape.type_name
        own = _scalar_constraints(shape)

        def check_own(value: Any, path: str, errors: list[str]) -> bool:
            ok = True
            for c in own:
                text = c(value)
                if text is not None:
                    fail(errors, path, value, text)
                    ok = False
                    break  # one message per value, as lambent.control.validation.Checker does
            return ok

        if kind == "structure" and shape.metadata.get("document"):
            return _noop  # a document: any JSON, no constraints
        if kind == "structure":
            required = tuple(
                (name, _member_path(name))
                for name in shape.required_members
                if f"{prefix}{_member_path(name)}" not in self._skip
            )
            members = tuple(
                (name, _member_path(name), self.shape(m, f"{prefix}{_member_path(name)}."))
                for name, m in shape.members.items()
                if f"{prefix}{_member_path(name)}" not in self._skip
            )
            members = tuple(m for m in members if m[2] is not _noop)

            def check_structure(value: Any, path: str, errors: list[str]) -> None:
                base = f"{path}." if path else ""
                for name, mpath in required:
                    if value.get(name) is None:
                        fail(errors, base + mpath, None, "Member must not be null")
                for name, mpath, check in members:
                    v = value.get(name)
                    if v is not None:
                        check(v, base + mpath, errors)

            return check_structure
        if kind == "list":
            member = self.shape(shape.member, prefix)

            def check_list(value: Any, path: str, errors: list[str]) -> None:
                if check_own(value, path, errors) and member is not _noop:
                    for i, item in enumerate(value, 1):
                        if item is not None:
                            member(item, f"{path}.{i}.member", errors)

            return check_list
        if kind == "map":
            key_own = _scalar_constraints(shape.key)
            value_check = self.shape(shape.value, prefix)

            def check_map(value: Any, path: str, errors: list[str]) -> None:
                if not check_own(value, path, errors):
                    return
                for k in value:
                    texts = [t for c in key_own if (t := c(k)) is not None]
                    if texts:
                        errors.append(
                            f"Value at '{path}' failed to satisfy constraint: "
                            f"Map keys must satisfy constraint: [{', '.join(texts)}]"
                        )
                        break
                if value_check is not _noop:
                    for k, v in value.items():
                        if v is not None:
                            value_check(v, f"{path}.{k}", errors)

            return check_map
        if not own:
            return _noop

        def check_scalar(value: Any, path: str, errors: list[str]) -> None:
            check_own(value, path, errors)

        return check_scalar


def raise_if_any(errors: list[str]) -> None:
    if errors:
        n = len(errors)
        raise ValidationError(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors))


def compile_operation(operation: OperationModel, skip: frozenset[str] = frozenset()) -> Callable[[Mapping[str, Any]], None]:
    """A function that raises ``ValidationError`` (all violations at once) for a bad input of
    ``operation``. ``skip`` holds member paths (``environment.variables``) the service checks itself."""
    shape = operation.input_shape
    if shape is None:
        return lambda params: None
    check = _Compiler(skip).shape(shape)
    if check is _noop:
        return lambda params: None

    def validate(params: Mapping[str, Any]) -> None:
        errors: list[str] = []
        check(params, "", errors)
        if errors:
            raise_if_any(errors)

    return validate
