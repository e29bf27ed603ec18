"""The async dispatcher's capacity decision, as a pure function of a capacity snapshot.

:class:`Capacity` is every question the dispatcher asks of the invoke side (environments,
concurrency, memory); :func:`must_wait` decides from it alone whether a function's next ready
event waits for a completion or starts now, so unit tests drive it with a plain snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Capacity(Protocol):
    """What can run now (a view of the pool, the concurrency limiter and the memory budget)."""

    def environments(self, function: str) -> int:
        """Live execution environments of ``function`` (idle or busy, all versions)."""

    def has_concurrency(self, function: str) -> bool:
        """Whether an invocation of ``function`` would get a concurrency slot now."""

    def has_room(self, function: str) -> bool:
        """Whether the memory budget has room for one more environment of ``function``
        (counting what the dispatch pass under way has already decided)."""

    def memory_mb(self, function: str) -> int:
        """MemorySize of a new environment of ``function`` (0 if it no longer exists)."""


class Starvation(Enum):
    KEEP = "keep"  #: the function's starvation record stays as it is
    MARK = "mark"  #: the function is starved from now on (unless it already was)
    CLEAR = "clear"  #: the function is no longer starved


@dataclass(frozen=True, slots=True)
class Verdict:
    wait: bool
    starvation: Starvation


_WAIT = Verdict(True, Starvation.KEEP)
_GO = Verdict(False, Starvation.KEEP)
_GO_FED = Verdict(False, Starvation.CLEAR)
_WAIT_STARVED = Verdict(True, Starvation.MARK)
_GO_STARVED = Verdict(False, Starvation.MARK)


def must_wait(function: str, running: int, capacity: Capacity, starved: Mapping[str, float], now: float,
              max_starved_s: float) -> Verdict:
    """Whether ``function``'s next ready event should wait (for a completion) instead of starting,
    with ``running`` of its events in flight, ``starved`` the functions waiting for memory (since
    when, monotonic) and ``max_starved_s`` the longest an episode of starvation holds others back.

    - Scale out one environment at a time: a function may have as many events in flight as it
      has environments, plus one (which may cold-start another); starting dozens of environments
      for a burst of short events would only throttle most of them.
    - While some of its events run, an event that would only be throttled (no concurrency left,
      no memory for another environment) waits for them instead of entering the throttle backoff.
      With none running it is attempted, so a throttled function's events back off and age as on
      AWS.
    - A function that has nothing running and no memory for its first environment is *starved*:
      the others then keep one of their environments idle, for it to evict, so a function with a
      long backlog cannot hold the whole budget. An episode lasts at most ``max_starved_s``: then
      its events are attempted regardless (throttled, backing off and ageing as on AWS) and the
      others stop waiting for it."""
    envs = capacity.environments(function)
    others_starved = bool(starved) and any(f != function and now - t <= max_starved_s for f, t in starved.items())
    if running == 0:
        if envs and others_starved:
            return _WAIT  # its idle environments are for the starved function to take
        if envs or capacity.has_room(function) or not capacity.has_concurrency(function):
            return _GO_FED
        # Starved: wait for room, until the episode is too old; then attempt (and be throttled).
        return _WAIT_STARVED if now - starved.get(function, now) <= max_starved_s else _GO_STARVED
    if running > envs:
        return _WAIT
    if others_starved:
        return _WAIT if running >= envs - 1 else _GO
    if running == envs:
        return _GO if capacity.has_concurrency(function) and capacity.has_room(function) else _WAIT
    return _GO
