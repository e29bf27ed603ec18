"""Marker/MaxItems pagination of Lambda's List* operations, on params the protocol layer parsed.

The layer has already typed ``MaxItems`` (an int) and checked it against the operation's model
range (ListAliases: 1..10000, ListFunctionEventInvokeConfigs: 1..50), so only the marker is
checked here. The marker is the last returned item's key, base64url-encoded: opaque to callers,
stable across deletes (a marker whose item has gone resumes where that item would have been).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lambent.errors import InvalidParameterValue

T = TypeVar("T")

#: AWS's page size when MaxItems is not given (ListFunctions, ListAliases, ListVersionsByFunction).
DEFAULT_MAX_ITEMS = 50


def paginate(
    items: Sequence[T], key: Callable[[T], Any], marker: str | None, max_items: int | None
) -> tuple[list[T], str | None]:
    """The page of ``items`` (sorted by ``key``) after ``marker``, and the next page's marker."""
    size = DEFAULT_MAX_ITEMS if max_items is None else max_items
    start = 0
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidParameterValue("Invalid Marker: the token is not one this API returned.") from None
        keys = [str(key(i)) for i in items]
        # The marker's item may have been deleted since: go on after where it would be.
        start = keys.index(after) + 1 if after in keys else next((i for i, k in enumerate(keys) if k > after), len(items))
    page = list(items[start : start + size])
    more = bool(page) and start + size < len(items)
    nxt = base64.urlsafe_b64encode(str(key(page[-1])).encode()).decode() if more else None
    return page, nxt
