"""``GET /usage?by=function|version|day&since=...&until=...&function=...``: the usage rows as JSON,
for the server's HTTP layer to serve (framework-free: query in, status and body out).

Hostile input: every parameter is bounded and validated (an unknown ``by``, a malformed or too
long time, an unknown parameter: 400 with a JSON message); the response has at most one row per
function (version, day) that was invoked. Authentication is the caller's job (the route must sit
behind the server's SigV4 check like every other one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from lambent.billing.aggregate import parse_time, totals, usage_report
from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.errors import InvalidParameterValue
from lambent.store.usage import GROUPINGS, AccountScope

_PARAMS = frozenset({"by", "since", "until", "function"})
_MAX_FUNCTION_NAME = 64


def usage_endpoint(usage_db: Path, query: Mapping[str, str], prices: PriceTable = DEFAULT_PRICES,
                   now: float | None = None, scope: AccountScope | None = None) -> tuple[int, bytes]:
    """(HTTP status, JSON body) for one request with query parameters ``query``."""
    try:
        body = usage_json(usage_db, query, prices, time.time() if now is None else now, scope)
    except InvalidParameterValue as exc:
        return 400, json.dumps({"message": exc.message}).encode()
    return 200, json.dumps(body).encode()


def usage_json(usage_db: Path, query: Mapping[str, str], prices: PriceTable, now: float,
               scope: AccountScope | None = None) -> dict[str, object]:
    """The report of ``scope``'s account (None: every record)."""
    unknown = set(query) - _PARAMS
    if unknown:
        raise InvalidParameterValue(f"unknown parameter(s): {', '.join(sorted(unknown))[:200]}")
    by = query.get("by", "function")
    if by not in GROUPINGS:
        raise InvalidParameterValue(f"by must be one of {', '.join(GROUPINGS)}")
    since = parse_time(query["since"], now) if "since" in query else None
    until = parse_time(query["until"], now) if "until" in query else None
    function = query.get("function")
    if function is not None and not 1 <= len(function) <= _MAX_FUNCTION_NAME:
        raise InvalidParameterValue("function must be a function name")
    rows = usage_report(usage_db, by, since, until, prices, function, scope)
    return {
        "by": by, "since": since, "until": until, "currency": prices.currency,
        "rows": [r.as_json(prices.currency) for r in rows],
        "total": {k: v for k, v in totals(rows).as_json(prices.currency).items() if k != "function"},
    }
