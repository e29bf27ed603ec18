"""Sliding-window invocation and error counts per (function, version), for deployment alarms.

:meth:`ErrorRateWindow.observe` is an :data:`~lambent.invoke.service.OutcomeObserver`: it runs
after *every* invocation, so it is O(1) and allocates nothing per call. Only pairs somebody
:meth:`~ErrorRateWindow.watch`-es are counted (a deployment watches its target version while it
runs); for every other invocation the observer is one failed dict lookup.

The window is a ring of fixed time buckets (CloudWatch-style periods): bucket ``i`` holds the
counts of tick ``stamp[i]`` (tick = ``int(now / bucket_s)``). Recording into a bucket whose stamp
is stale resets it first, so old counts fall out of the window without a sweeper. A reading sums
the buckets of the last ``buckets`` ticks: its resolution is one bucket (the oldest bucket may be
partly outside ``window_s``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambent.control.model import FunctionConfig
    from lambent.worker.environment import InvokeOutcome

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowReading:
    """Counts over the window. ``error_rate`` is 0.0 with no invocations."""

    invocations: int
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.invocations if self.invocations else 0.0


class _Series:
    """The ring of one watched (function, version); ``watchers`` is a reference count."""

    __slots__ = ("calls", "errors", "stamps", "watchers")

    def __init__(self, buckets: int) -> None:
        self.stamps = [-1] * buckets
        self.calls = [0] * buckets
        self.errors = [0] * buckets
        self.watchers = 1


class ErrorRateWindow:
    """Counters for watched versions. Scope: one per server; in memory only (after a restart a
    resumed deployment starts counting again)."""

    def __init__(self, window_s: float = 60.0, buckets: int = 60, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0 or buckets < 1:
            raise ValueError("window_s must be > 0 and buckets >= 1")
        self.window_s = window_s
        self._n = buckets
        self._per_s = buckets / window_s  # ticks per second
        self._clock = clock
        #: function name -> version -> series; nested so the hot path builds no tuple key.
        self._series: dict[str, dict[str, _Series]] = {}

    def watch(self, name: str, version: str) -> None:
        """Start counting ``name:version`` (reference-counted: several deployments may watch it)."""
        versions = self._series.setdefault(name, {})
        series = versions.get(version)
        if series is None:
            versions[version] = _Series(self._n)
        else:
            series.watchers += 1

    def unwatch(self, name: str, version: str) -> None:
        versions = self._series.get(name)
        series = versions.get(version) if versions else None
        if versions is None or series is None:
            return
        series.watchers -= 1
        if series.watchers <= 0:
            del versions[version]
            if not versions:
                del self._series[name]

    def observe_outcome(self, cfg: FunctionConfig, outcome: InvokeOutcome, request_id: str, qualifier: str | None) -> None:
        """:meth:`observe` as an ``InvokeService`` observer."""
        self.observe(cfg.key, cfg.version, outcome.function_error is not None)

    def observe(self, name: str, version: str, failed: bool) -> None:
        """Record one invocation. Hot path: runs after every invocation."""
        versions = self._series.get(name)
        if versions is None:
            return
        s = versions.get(version)
        if s is None:
            return
        tick = int(self._clock() * self._per_s)
        i = tick % self._n
        if s.stamps[i] != tick:
            s.stamps[i] = tick
            s.calls[i] = 0
            s.errors[i] = 0
        s.calls[i] += 1
        if failed:
            s.errors[i] += 1

    def reading(self, name: str, version: str) -> WindowReading:
        """Invocations and errors of ``name:version`` in the last ``window_s``."""
        s = self._series.get(name, {}).get(version)
        if s is None:
            return WindowReading(0, 0)
        oldest = int(self._clock() * self._per_s) - self._n
        calls = errors = 0
        for stamp, c, e in zip(s.stamps, s.calls, s.errors, strict=True):
            if stamp > oldest:
                calls += c
                errors += e
        return WindowReading(calls, errors)
