"""X-Ray's default sampling rule, as Lambda applies it to Active functions without a decision
from upstream: a reservoir of one trace per second, then a fixed rate of 5 % of the rest
(https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html: "the default rule
records the first request each second, and five percent of any additional requests").

One reservoir per function (X-Ray's reservoir is per rule and service; lambent's functions are
its services). Pure apart from the injected clock and random draw; cheap (a dict lookup).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["Sampler"]


class Sampler:
    """Scope: one per server. The per-function state is bounded by ``max_keys`` (oldest dropped)."""

    def __init__(self, reservoir_per_s: int = 1, rate: float = 0.05, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic, draw: Callable[[], float] = random.random) -> None:
        if reservoir_per_s < 0 or not 0.0 <= rate <= 1.0 or max_keys < 1:
            raise ValueError("invalid sampling rule")
        self.reservoir_per_s = reservoir_per_s
        self.rate = rate
        self.max_keys = max_keys
        self._clock = clock
        self._draw = draw
        #: key -> (current second, traces taken from the reservoir in it)
        self._used: dict[str, tuple[int, int]] = {}

    def sample(self, key: str) -> bool:
        second = int(self._clock())
        last, taken = self._used.get(key, (-1, 0))
        if last != second:
            taken = 0
        if taken < self.reservoir_per_s:
            if key not in self._used and len(self._used) >= self.max_keys:
                self._used.pop(next(iter(self._used)))
            self._used[key] = (second, taken + 1)
            return True
        return self._draw() < self.rate
