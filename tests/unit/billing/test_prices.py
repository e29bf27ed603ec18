"""The price table: AWS us-east-1 defaults, overrides from JSON, hostile values refused."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.errors import InvalidParameterValue


def test_defaults_are_aws_us_east_1_on_demand_prices() -> None:
    # https://aws.amazon.com/lambda/pricing/ (docs/billing.md)
    assert DEFAULT_PRICES.request_per_million == Decimal("0.20")
    assert DEFAULT_PRICES.compute_price("x86_64") == Decimal("0.0000166667")
    assert DEFAULT_PRICES.compute_price("arm64") == Decimal("0.0000133334")
    assert DEFAULT_PRICES.ephemeral_gb_second == Decimal("0.0000000309")
    assert DEFAULT_PRICES.currency == "USD"


def test_an_unknown_architecture_is_priced_as_x86() -> None:
    assert DEFAULT_PRICES.compute_price("riscv") == Decimal("0.0000166667")


def test_overrides_keep_the_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"request_per_million": "0.25", "gb_second": {"arm64": 0.00001}, "currency": "EUR"}))
    table = PriceTable.from_file(path)
    assert table.request_per_million == Decimal("0.25")
    assert table.compute_price("arm64") == Decimal("0.00001")
    assert table.compute_price("x86_64") == Decimal("0.0000166667")
    assert table.ephemeral_gb_second == Decimal("0.0000000309")
    assert table.currency == "EUR"


@pytest.mark.parametrize("data", [
    {"request_per_million": -1},
    {"request_per_million": "NaN"},
    {"request_per_million": "Infinity"},
    {"request_per_million": "1e400"},
    {"request_per_million": True},
    {"request_per_million": [1]},
    {"gb_second": "cheap"},
    {"gb_second": {"x86_64": "abc"}},
    {"ephemeral_gb_second": None},
    {"currency": ""},
    {"currency": "X" * 50},
    {"requests_per_million": 0.2},  # a typo must not silently bill requests at the default
])
def test_hostile_or_mistyped_tables_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterValue):
        PriceTable.from_mapping(data)


def test_unreadable_or_non_object_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="cannot read"):
        PriceTable.from_file(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InvalidParameterValue, match="JSON object"):
        PriceTable.from_file(tmp_path / "list.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidParameterValue, match="cannot read"):
        PriceTable.from_file(tmp_path / "bad.json")


def test_a_table_without_an_x86_price_is_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="x86_64"):
        PriceTable(gb_second={"arm64": Decimal("0.1")})
