"""Exact billing: per-invocation usage records, the price table, usage rows (docs/billing.md).

- :mod:`~lambent.billing.rounding` — billed duration (INIT included) and GB-seconds, pure;
- :mod:`~lambent.billing.prices` — the configurable price table (AWS us-east-1 defaults);
- :mod:`~lambent.billing.aggregate` — usage rows per function, version or day;
- :mod:`~lambent.billing.recorder` — the invoke path's observer;
- :mod:`~lambent.billing.http` — ``GET /usage`` as a framework-free function.
"""

from lambent.billing.aggregate import UsageRow, aggregate, parse_time, totals, usage_report
from lambent.billing.http import usage_endpoint
from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.billing.recorder import UsageRecorder
from lambent.billing.rounding import billed_duration_ms, ephemeral_gb_seconds, gb_seconds

__all__ = [
    "DEFAULT_PRICES", "PriceTable", "UsageRecorder", "UsageRow", "aggregate", "billed_duration_ms",
    "ephemeral_gb_seconds", "gb_seconds", "parse_time", "totals", "usage_endpoint", "usage_report",
]
