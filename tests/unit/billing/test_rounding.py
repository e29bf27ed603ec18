"""Billed duration (1 ms granularity, INIT billed since August 2025) and GB-seconds."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from lambent.billing.rounding import billed_duration_ms, ephemeral_gb_seconds, gb_seconds


@pytest.mark.parametrize(("duration", "billed"), [
    (0.0, 1), (0.001, 1), (0.999, 1), (1.0, 1), (1.0001, 2), (12.34, 13), (100.0, 100), (899_999.2, 900_000),
])
def test_warm_invocation_is_rounded_up_to_the_millisecond_and_at_least_one(duration: float, billed: int) -> None:
    assert billed_duration_ms(duration) == billed


@pytest.mark.parametrize("duration", [0.0, 0.4, 1.5, 2.000001, 123.456789, 3000.0001])
def test_warm_figure_is_the_report_lines_formula(duration: float) -> None:
    # lambent/worker/environment.py writes Billed Duration: max(1, ceil(duration_ms)).
    assert billed_duration_ms(duration) == max(1, math.ceil(duration))


@pytest.mark.parametrize(("duration", "init", "billed"), [
    (2.1, 150.2, 153),  # ceil(152.3): INIT and INVOKE billed together, rounded once
    (0.4, 0.5, 1),
    (1.0, 0.0, 1),
    (10.5, 10.5, 21),
    (0.0, 99.0, 99),
])
def test_cold_invocation_bills_init_with_invoke(duration: float, init: float, billed: int) -> None:
    assert billed_duration_ms(duration, init) == billed


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        billed_duration_ms(-1.0)
    with pytest.raises(ValueError, match="negative"):
        billed_duration_ms(1.0, -0.5)


def test_gb_seconds_is_billed_ms_times_memory_over_1024_over_1000_exactly() -> None:
    assert gb_seconds(1000, 1024) == 1
    assert gb_seconds(1, 128) == Fraction(128, 1_024_000)
    assert gb_seconds(7, 10240) == Fraction(70, 1000)
    # 3 invocations of 1 ms at 128 MB sum exactly (floats would not: 0.000125 * 3)
    assert sum((gb_seconds(1, 128) for _ in range(3)), Fraction(0)) == Fraction(3, 8000)


def test_ephemeral_storage_is_billed_only_above_512_mb() -> None:
    assert ephemeral_gb_seconds(1000, 512) == 0
    assert ephemeral_gb_seconds(1000, 256) == 0
    assert ephemeral_gb_seconds(1000, 1536) == 1
    assert ephemeral_gb_seconds(500, 10240) == Fraction(9728 * 500, 1_024_000)
