"""The price table: what a request, a GB-second of compute and a GB-second of ephemeral storage
cost. The defaults are AWS Lambda's on-demand prices in US East (N. Virginia), from
https://aws.amazon.com/lambda/pricing/ (see docs/billing.md): $0.20 per 1M requests,
$0.0000166667 per GB-second on x86_64 (first pricing tier: the first 6 billion GB-seconds of a
month), $0.0000133334 per GB-second on arm64 (first tier), $0.0000000309 per GB-second of
ephemeral storage above 512 MB. Volume tiers and the free tier are not applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lambent.errors import InvalidParameterValue

_MAX_PRICE = Decimal(1_000_000)


@dataclass(frozen=True)
class PriceTable:
    """Prices in ``currency``; ``gb_second`` by architecture (``x86_64``, ``arm64``)."""

    request_per_million: Decimal = Decimal("0.20")
    gb_second: Mapping[str, Decimal] = field(default_factory=lambda: {
        "x86_64": Decimal("0.0000166667"),
        "arm64": Decimal("0.0000133334"),
    })
    ephemeral_gb_second: Decimal = Decimal("0.0000000309")
    currency: str = "USD"

    def __post_init__(self) -> None:
        for name, value in (("request_per_million", self.request_per_million),
                            ("ephemeral_gb_second", self.ephemeral_gb_second), *self.gb_second.items()):
            _check(name, value)
        if "x86_64" not in self.gb_second:
            raise InvalidParameterValue("the price table needs a gb_second price for x86_64")

    def compute_price(self, architecture: str) -> Decimal:
        """Per GB-second on ``architecture``; an unknown one is priced as x86_64."""
        return self.gb_second.get(architecture, self.gb_second["x86_64"])

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PriceTable:
        """From a JSON-like mapping with any of the fields (prices as strings or numbers);
        what is absent keeps its default. Unknown keys are refused (a typo must not bill 0)."""
        known = {"request_per_million", "gb_second", "ephemeral_gb_second", "currency"}
        unknown = set(data) - known
        if unknown:
            raise InvalidParameterValue(f"unknown price table keys: {', '.join(sorted(unknown))}")
        default = cls()
        gb = data.get("gb_second", default.gb_second)
        if not isinstance(gb, Mapping):
            raise InvalidParameterValue("gb_second must map architectures to prices")
        currency = data.get("currency", default.currency)
        if not isinstance(currency, str) or not 1 <= len(currency) <= 8:
            raise InvalidParameterValue("currency must be a short string")
        return cls(
            request_per_million=_decimal("request_per_million", data.get("request_per_million",
                                                                         default.request_per_million)),
            gb_second={**default.gb_second, **{str(k): _decimal(f"gb_second.{k}", v) for k, v in gb.items()}},
            ephemeral_gb_second=_decimal("ephemeral_gb_second", data.get("ephemeral_gb_second",
                                                                         default.ephemeral_gb_second)),
            currency=currency,
        )

    @classmethod
    def from_file(cls, path: Path) -> PriceTable:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidParameterValue(f"cannot read the price table {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidParameterValue("the price table must be a JSON object")
        return cls.from_mapping(data)


def _decimal(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidParameterValue(f"price {name} must be a number")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidParameterValue(f"price {name} must be a number") from exc
    _check(name, result)
    return result


def _check(name: str, value: Decimal) -> None:
    if not value.is_finite() or value < 0 or value > _MAX_PRICE:
        raise InvalidParameterValue(f"price {name} must be a finite number between 0 and {_MAX_PRICE}")


#: AWS Lambda, US East (N. Virginia), on-demand, first tier (module docstring).
DEFAULT_PRICES = PriceTable()
