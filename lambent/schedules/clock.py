"""Schedule time: the clock the engine fires by, which tests can make run faster than the wall.

With ``schedules.time_scale = s`` schedule time advances ``1/s`` seconds per real second:
``t = virtual_anchor + (wall - real_anchor) / s`` (with s = 1 it *is* the wall clock). rate and
cron expressions are evaluated in schedule time, so at s = 0.01 ``rate(1 minute)`` fires every
0.6 s and ``cron(0 * * * ? *)`` every 36 s. Instants a caller names on the wall clock — ``at()``,
StartDate, EndDate, the creation time a rate counts from — are converted with :meth:`from_wall`,
so they still happen at that wall-clock instant. The anchor is persisted: schedule time is one
continuous line across restarts (downtime advances it too, which is how missed occurrences are
found); a server restarted with a different scale continues the line at the new speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Schedule time, epoch seconds."""
        ...

    def from_wall(self, wall_s: float) -> float:
        """The schedule time of a wall-clock instant."""
        ...

    def to_wall(self, t: float) -> float:
        """The wall-clock instant of a schedule time."""
        ...

    def real_seconds(self, schedule_s: float) -> float:
        """How long (real seconds) a stretch of schedule time lasts."""
        ...


class ScaledClock:
    """Scope: one per server; immutable."""

    def __init__(self, real_anchor: float, virtual_anchor: float, scale: float,
                 wall: Callable[[], float] = time.time) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be positive, not {scale}")
        self.real_anchor = real_anchor
        self.virtual_anchor = virtual_anchor
        self.scale = scale
        self._wall = wall

    @classmethod
    def resume(cls, saved: tuple[float, float, float] | None, scale: float,
               wall: Callable[[], float] = time.time) -> ScaledClock:
        """Continue a saved line (real anchor, virtual anchor, scale), re-anchored if the scale changed."""
        now = wall()
        if saved is None:
            return cls(now, now, scale, wall)
        real_anchor, virtual_anchor, old_scale = saved
        if old_scale == scale:
            return cls(real_anchor, virtual_anchor, scale, wall)
        return cls(now, virtual_anchor + (now - real_anchor) / old_scale, scale, wall)

    @property
    def saved(self) -> tuple[float, float, float]:
        return self.real_anchor, self.virtual_anchor, self.scale

    def now(self) -> float:
        return self.from_wall(self._wall())

    def from_wall(self, wall_s: float) -> float:
        return self.virtual_anchor + (wall_s - self.real_anchor) / self.scale

    def to_wall(self, t: float) -> float:
        return self.real_anchor + (t - self.virtual_anchor) * self.scale

    def real_seconds(self, schedule_s: float) -> float:
        return schedule_s * self.scale


class ResumableClock:
    """The server's schedule clock, built before its saved line is read (a constructor does no
    I/O): :meth:`resume` gives it the line, once, and every later reading follows it. Reading it
    before that is a programming error. Scope: one per server; holders (the engine) may keep it
    from construction on."""

    def __init__(self, scale: float, wall: Callable[[], float] = time.time) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be positive, not {scale}")
        self.scale = scale
        self._wall = wall
        self._line: ScaledClock | None = None

    def resume(self, saved: tuple[float, float, float] | None) -> tuple[float, float, float]:
        """Continue the saved line (see :meth:`ScaledClock.resume`); returns the line to save."""
        if self._line is None:
            self._line = ScaledClock.resume(saved, self.scale, self._wall)
        return self._line.saved

    @property
    def resumed(self) -> bool:
        return self._line is not None

    def _resumed(self) -> ScaledClock:
        if self._line is None:
            raise RuntimeError("the schedule clock is read before SchedulerService.load()")
        return self._line

    def now(self) -> float:
        return self._resumed().now()

    def from_wall(self, wall_s: float) -> float:
        return self._resumed().from_wall(wall_s)

    def to_wall(self, t: float) -> float:
        return self._resumed().to_wall(t)

    def real_seconds(self, schedule_s: float) -> float:
        return self._resumed().real_seconds(schedule_s)


class ManualClock:
    """A clock tests move by hand; schedule time is the wall clock (scale 1)."""

    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t

    def from_wall(self, wall_s: float) -> float:
        return wall_s

    def to_wall(self, t: float) -> float:
        return t

    def real_seconds(self, schedule_s: float) -> float:
        return schedule_s
