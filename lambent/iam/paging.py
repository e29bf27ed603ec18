"""IAM's Marker/IsTruncated paging over a sorted list, pure.

https://docs.aws.amazon.com/IAM/latest/APIReference/Welcome.html (pagination): ``MaxItems``
(1..1000, default 100) items, ``IsTruncated`` if more remain, and then a ``Marker`` the caller
sends back for the next page. The marker is the sort key of the next item, base64url-encoded:
opaque to callers, and stable when items are added or removed between pages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from lambent.errors import ValidationError

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    is_truncated: bool
    marker: str | None


def page(items: Sequence[T], key: Callable[[T], str], marker: str | None, max_items: int | None) -> Page[T]:
    """``items`` must be sorted by ``key``."""
    limit = max_items or DEFAULT_MAX_ITEMS
    start = 0
    if marker:
        after = _decode(marker)
        start = next((i for i, item in enumerate(items) if key(item) >= after), len(items))
    chosen = list(items[start:start + limit])
    rest = start + limit < len(items)
    return Page(chosen, rest, _encode(key(items[start + limit])) if rest else None)


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ValidationError("Invalid Marker.") from None
