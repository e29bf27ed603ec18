"""EC2's ``Filter.N.Name`` / ``Filter.N.Values`` for the Describe calls (pure).

Filters combine with AND, the values of one filter with OR; values may use ``*`` (any run) and
``?`` (one character) as on EC2 ("Filter resources", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Filtering.html).
``tag:KEY`` matches the value of tag KEY, ``tag-key`` any tag's key, ``tag-value`` any tag's
value. A name a resource does not know is refused with EC2's InvalidParameterValue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lambent.vpc import errors as ve
from lambent.vpc.model import Tags, echo

#: a resource's filterable attributes: filter name -> its values
Attributes = Mapping[str, Sequence[str]]

_MAX_FILTERS = 200
_MAX_VALUES = 200
_MAX_VALUE_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    values: tuple[str, ...]


@lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    parts = []
    for ch in value:
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def parse(raw: Sequence[Mapping[str, Any]] | None, known: frozenset[str]) -> list[Filter]:
    """The request's filters, each name checked against ``known`` (``tag:*`` is always known)."""
    if not raw:
        return []
    if len(raw) > _MAX_FILTERS:
        raise ve.InvalidValue(f"The request has too many filters (at most {_MAX_FILTERS}).")
    out: list[Filter] = []
    for item in raw:
        name = str(item.get("Name") or "")
        if not name:
            raise ve.MissingParameter("The request must contain the parameter Filter.Name")
        if not (name in known or name in ("tag-key", "tag-value") or (name.startswith("tag:") and len(name) > 4)):
            raise ve.InvalidValue(f"The filter '{echo(name, 128)}' is invalid")
        values = tuple(str(v) for v in item.get("Values") or [])
        if len(values) > _MAX_VALUES or any(len(v) > _MAX_VALUE_LENGTH for v in values):
            raise ve.InvalidValue(f"The filter '{echo(name, 128)}' has too many or too long values.")
        out.append(Filter(name, values))
    return out


def _candidates(name: str, attributes: Attributes, tags: Tags) -> Sequence[str]:
    if name.startswith("tag:"):
        key = name[4:]
        return [v for k, v in tags if k == key]
    if name == "tag-key":
        return [k for k, _ in tags]
    if name == "tag-value":
        return [v for _, v in tags]
    return attributes.get(name, ())


def matches(filters: Sequence[Filter], attributes: Attributes, tags: Tags) -> bool:
    """Every filter holds for this resource."""
    for f in filters:
        have = _candidates(f.name, attributes, tags)
        if not any(_pattern(v).fullmatch(h) for v in f.values for h in have):
            return False
    return True


def page(ids: Sequence[str], token: str | None, max_results: int | None, default_size: int) -> tuple[list[str], str | None]:
    """The page of sorted ``ids`` after ``token`` (the last id of the previous page, opaque to
    callers) and the next page's token. A token this API never returned is InvalidPaginationToken."""
    import base64
    import binascii

    size = default_size if max_results is None else max(1, min(max_results, default_size))
    start = 0
    if token:
        try:
            after = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("ascii")
        except (binascii.Error, UnicodeError, ValueError):
            raise ve.InvalidPaginationToken(f"Invalid pagination token: {echo(token)}") from None
        # an id deleted since resumes where it would have been
        start = next((i for i, x in enumerate(ids) if x > after), len(ids))
    chunk = list(ids[start : start + size])
    more = bool(chunk) and start + size < len(ids)
    return chunk, base64.urlsafe_b64encode(chunk[-1].encode()).decode() if more else None
