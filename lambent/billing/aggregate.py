"""Usage rows: the store's sums turned into requests, GB-seconds and cost per function, version or
day. Pure (the store reads, this computes); exact fractions until a row is rendered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from fractions import Fraction
from pathlib import Path

from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.billing.rounding import ephemeral_gb_seconds, gb_seconds
from lambent.errors import InvalidParameterValue
from lambent.store.usage import GROUPINGS, Grouping, UsageSum, read_usage
from lambent.store.usage import AccountScope as AccountScope  # the scope of a report, for its callers

#: Decimal places of the cost in rendered rows (a millionth of a cent).
COST_PLACES = 8


@dataclass(frozen=True)
class UsageRow:
    function: str
    version: str | None
    day: str | None
    requests: int
    billed_duration_ms: int
    gb_seconds: Fraction
    ephemeral_gb_seconds: Fraction
    cost: Fraction

    def as_json(self, currency: str = "USD") -> dict[str, object]:
        """The JSON row: names the function (and version or day), carries ``requests``,
        ``gb_seconds`` and ``cost`` (floats nearest the exact values)."""
        row: dict[str, object] = {"function": self.function}
        if self.version is not None:
            row["version"] = self.version
        if self.day is not None:
            row["day"] = self.day
        row.update({
            "requests": self.requests,
            "billed_duration_ms": self.billed_duration_ms,
            "gb_seconds": float(self.gb_seconds),
            "ephemeral_gb_seconds": float(self.ephemeral_gb_seconds),
            "cost": round(float(self.cost), COST_PLACES),
            "currency": currency,
        })
        return row


@dataclass
class _Acc:
    requests: int = 0
    billed_ms: int = 0
    gb_seconds: Fraction = Fraction(0)
    ephemeral_gb_seconds: Fraction = Fraction(0)
    cost: Fraction = Fraction(0)


def aggregate(sums: list[UsageSum], prices: PriceTable = DEFAULT_PRICES) -> list[UsageRow]:
    """Merge the per-configuration sums of each group into one row, in the sums' order."""
    rows: dict[tuple[str, str | None, str | None], _Acc] = {}
    request_price = Fraction(prices.request_per_million) / 1_000_000
    ephemeral_price = Fraction(prices.ephemeral_gb_second)
    for s in sums:
        acc = rows.setdefault((s.function, s.version, s.day), _Acc())
        gbs = gb_seconds(s.billed_ms, s.memory_mb)
        eph = ephemeral_gb_seconds(s.billed_ms, s.ephemeral_mb)
        acc.requests += s.requests
        acc.billed_ms += s.billed_ms
        acc.gb_seconds += gbs
        acc.ephemeral_gb_seconds += eph
        acc.cost += s.requests * request_price + gbs * Fraction(prices.compute_price(s.architecture)) + eph * ephemeral_price
    return [UsageRow(k[0], k[1], k[2], a.requests, a.billed_ms, a.gb_seconds, a.ephemeral_gb_seconds, a.cost)
            for k, a in rows.items()]


def totals(rows: list[UsageRow]) -> UsageRow:
    """One row summing ``rows`` (function ``*``)."""
    return UsageRow("*", None, None, sum(r.requests for r in rows), sum(r.billed_duration_ms for r in rows),
                    sum((r.gb_seconds for r in rows), Fraction(0)),
                    sum((r.ephemeral_gb_seconds for r in rows), Fraction(0)),
                    sum((r.cost for r in rows), Fraction(0)))


def usage_report(usage_db: Path, by: Grouping = "function", since: float | None = None,
                 until: float | None = None, prices: PriceTable = DEFAULT_PRICES,
                 function: str | None = None, scope: AccountScope | None = None) -> list[UsageRow]:
    """The usage rows of ``usage_db`` with ``since <= time < until`` (epoch seconds), of
    ``scope``'s account (None: all records)."""
    if by not in GROUPINGS:
        raise InvalidParameterValue(f"by must be one of {', '.join(GROUPINGS)}")
    if since is not None and until is not None and until < since:
        raise InvalidParameterValue("until is before since")
    return aggregate(read_usage(usage_db, by, since, until, function, scope), prices)


# -- time bounds, as the CLI and the HTTP endpoint take them --------------------------------------
_RELATIVE = re.compile(r"([1-9][0-9]{0,6})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_TIME_TEXT = 40


def parse_time(text: str, now: float) -> float:
    """Epoch seconds of a bound: ``30m``/``2h``/``7d`` (ago), epoch seconds, an ISO 8601 date
    (midnight UTC) or date and time (UTC unless it says otherwise)."""
    text = text.strip()
    if not text or len(text) > _MAX_TIME_TEXT:
        raise InvalidParameterValue("a time must be 1 to 40 characters: 30m, 2h, 7d, epoch seconds or ISO 8601")
    m = _RELATIVE.fullmatch(text)
    if m:
        return now - int(m.group(1)) * _UNIT_S[m.group(2)]
    if re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,9})?", text):
        return float(text)
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParameterValue(f"not a time: {text!r} (30m, 2h, 7d, epoch seconds or ISO 8601)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
