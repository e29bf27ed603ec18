"""What one metric series holds for one minute: a statistic set and a log-bucketed histogram.

CloudWatch keeps, per minute, SampleCount, Sum, Minimum and Maximum exactly and answers
percentiles (``p99``, ``p99.9``) from a distribution. lambent keeps the distribution as a sparse
histogram whose buckets grow by :data:`GAMMA` (2 %), so any percentile is within 1 % of a value
actually recorded, whatever the spread of the values; minutes merge by adding buckets, so a
5-minute or 1-day period costs no more precision than one minute. A percentile is clamped to the
exact Minimum and Maximum (p0 and p100 are exact).

Pure: no I/O, no clock. Values must be finite (the API refuses NaN and infinities first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: ratio between successive bucket bounds; a bucket's representative is within GAMMA/2 of its values
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
#: magnitudes under this are counted as zero (bucket 0)
TINY = 1e-9

#: the statistics every series answers, as CloudWatch names them
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def bucket_of(value: float) -> int:
    """The bucket of ``value``: 0 for (nearly) zero, ±(1 + k) for magnitudes in [TINY·γ^k, TINY·γ^(k+1))."""
    magnitude = abs(value)
    if magnitude < TINY:
        return 0
    index = 1 + int(math.floor(math.log(magnitude / TINY) / _LOG_GAMMA))
    return index if value > 0 else -index


def bucket_value(bucket: int) -> float:
    """The representative of a bucket: the geometric middle of its bounds (signed)."""
    if bucket == 0:
        return 0.0
    k = abs(bucket) - 1
    middle = float(TINY * GAMMA ** (k + 0.5))
    return middle if bucket > 0 else -middle


@dataclass
class Summary:
    """The statistic set and distribution of some samples (a minute of a series, or several merged)."""

    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    #: bucket -> weight (sample counts; PutMetricData's Counts may be fractional)
    buckets: dict[int, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.count <= 0

    def add(self, value: float, weight: float = 1.0) -> None:
        """``weight`` samples of ``value``."""
        self.add_bucketed(value, bucket_of(value), weight)

    def add_bucketed(self, value: float, bucket: int, weight: float = 1.0) -> None:
        """:meth:`add` with ``bucket_of(value)`` computed once for several summaries (hot path)."""
        self.count += weight
        self.total += value * weight
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        buckets = self.buckets
        buckets[bucket] = buckets.get(bucket, 0.0) + weight

    def add_set(self, count: float, total: float, minimum: float, maximum: float) -> None:
        """A pre-aggregated statistic set (PutMetricData's StatisticValues): its samples are
        unknown, so the distribution gets its mean with the whole weight (as CloudWatch, which
        cannot answer percentiles of statistic sets better than that either)."""
        self.count += count
        self.total += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        bucket = bucket_of(total / count)
        self.buckets[bucket] = self.buckets.get(bucket, 0.0) + count

    def merge(self, other: Summary) -> None:
        if other.empty:
            return
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        for bucket, weight in other.buckets.items():
            self.buckets[bucket] = self.buckets.get(bucket, 0.0) + weight

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0..100): the value under which p % of the samples fall
        (nearest rank over the buckets), clamped to [Minimum, Maximum]."""
        if self.empty:
            raise ValueError("no samples")
        if p <= 0:
            return self.minimum
        if p >= 100:
            return self.maximum
        rank = p / 100.0 * self.count
        seen = 0.0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank - 1e-9:
                return min(max(bucket_value(bucket), self.minimum), self.maximum)
        return self.maximum

    def statistic(self, name: str) -> float:
        """One of :data:`BASIC_STATISTICS`, or ``pNN`` / ``pNN.N``."""
        if self.empty:
            raise ValueError("no samples")
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        p = percentile_of(name)
        if p is None:
            raise ValueError(f"unknown statistic {name!r}")
        return self.percentile(p)

    # -- persistence (JSON text: no pickle) ---------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"n": self.count, "s": self.total, "lo": self.minimum, "hi": self.maximum,
                           "b": [[b, w] for b, w in sorted(self.buckets.items())]}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Summary:
        raw = json.loads(text)
        return cls(float(raw["n"]), float(raw["s"]), float(raw["lo"]), float(raw["hi"]),
                   {int(b): float(w) for b, w in raw["b"]})

    @classmethod
    def merged(cls, parts: Iterable[Summary]) -> Summary:
        out = cls()
        for part in parts:
            out.merge(part)
        return out


def percentile_of(statistic: str) -> float | None:
    """``p99`` -> 99.0, ``p99.9`` -> 99.9; None for anything else (CloudWatch's extended
    statistics are p0.0 to p100, at most two decimals)."""
    if len(statistic) < 2 or statistic[0] != "p":
        return None
    digits = statistic[1:]
    whole, _, decimals = digits.partition(".")
    if not whole.isdigit() or len(whole) > 3 or (decimals and (not decimals.isdigit() or len(decimals) > 2)):
        return None
    value = float(digits)
    return value if 0.0 <= value <= 100.0 else None


def statistics_of(summary: Summary, names: Iterable[str]) -> Mapping[str, float]:
    return {name: summary.statistic(name) for name in names}
