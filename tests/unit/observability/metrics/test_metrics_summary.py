"""Summary: exact statistic sets, percentiles within the histogram's 1 % of a recorded value,
merging minutes, JSON round trip, the extended-statistic names CloudWatch takes."""

from __future__ import annotations

import math
import random

import pytest

from lambent.observability.metrics.summary import GAMMA, Summary, percentile_of


def exact_percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered) - 1e-9))  # the rank Summary takes
    return ordered[rank - 1]


def test_basic_statistics_are_exact() -> None:
    s = Summary()
    values = [3.5, 1.25, 9.0, 4.0]
    for v in values:
        s.add(v)
    assert s.statistic("SampleCount") == 4
    assert s.statistic("Sum") == pytest.approx(sum(values))
    assert s.statistic("Average") == pytest.approx(sum(values) / 4)
    assert s.statistic("Minimum") == 1.25
    assert s.statistic("Maximum") == 9.0


@pytest.mark.parametrize("p", [50.0, 90.0, 99.0, 99.9])
def test_percentiles_within_histogram_precision(p: float) -> None:
    rng = random.Random(12)
    values = [rng.lognormvariate(3, 1.5) for _ in range(5000)]
    s = Summary()
    for v in values:
        s.add(v)
    expected = exact_percentile(values, p)
    assert s.percentile(p) == pytest.approx(expected, rel=(GAMMA - 1))


def test_percentile_bounds_are_exact_and_clamped() -> None:
    s = Summary()
    for v in (10.0, 20.0, 30.0):
        s.add(v)
    assert s.percentile(0) == 10.0
    assert s.percentile(100) == 30.0
    assert 10.0 <= s.percentile(1) <= 30.0
    assert s.statistic("p100") == 30.0


def test_zero_and_negative_values() -> None:
    s = Summary()
    for v in (-5.0, 0.0, 0.0, 5.0):
        s.add(v)
    assert s.percentile(25) == pytest.approx(-5.0, rel=0.01)
    assert s.percentile(50) == 0.0
    assert s.statistic("Sum") == 0.0


def test_merge_equals_one_summary_of_all_values() -> None:
    rng = random.Random(3)
    a_values = [rng.uniform(1, 100) for _ in range(300)]
    b_values = [rng.uniform(50, 500) for _ in range(200)]
    a, b, both = Summary(), Summary(), Summary()
    for v in a_values:
        a.add(v)
        both.add(v)
    for v in b_values:
        b.add(v)
        both.add(v)
    merged = Summary.merged([a, b])
    assert merged.buckets == both.buckets
    for name in ("SampleCount", "Sum", "Minimum", "Maximum", "p50", "p99"):
        assert merged.statistic(name) == pytest.approx(both.statistic(name))


def test_json_round_trip() -> None:
    s = Summary()
    for v in (0.5, 2.0, 2.0, 1e6):
        s.add(v, weight=2)
    back = Summary.from_json(s.to_json())
    assert back == s


def test_statistic_set_counts_as_its_samples() -> None:
    s = Summary()
    s.add_set(count=4, total=40.0, minimum=2.0, maximum=20.0)
    s.add(10.0)
    assert s.statistic("SampleCount") == 5
    assert s.statistic("Average") == pytest.approx(10.0)
    assert s.statistic("Minimum") == 2.0
    assert s.statistic("Maximum") == 20.0


@pytest.mark.parametrize(("name", "value"), [("p99", 99.0), ("p99.9", 99.9), ("p0", 0.0), ("p100", 100.0),
                                             ("p50.25", 50.25)])
def test_percentile_names(name: str, value: float) -> None:
    assert percentile_of(name) == value


@pytest.mark.parametrize("name", ["p", "p101", "p-1", "p99.999", "P99", "tm99", "p9x", "Average", "p1e2"])
def test_not_percentile_names(name: str) -> None:
    assert percentile_of(name) is None


def test_empty_summary_has_no_statistics() -> None:
    with pytest.raises(ValueError):
        Summary().statistic("Sum")
