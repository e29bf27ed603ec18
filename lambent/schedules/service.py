"""Schedules and schedule groups: the domain rules, the in-memory registry, persistence.

The registry is loaded from the database at start and written through on every change; the
engine reads it to know what is due and calls :meth:`SchedulerService.fire`, which turns one due
occurrence into one delivery atomically. Every mutation — API or engine — holds one asyncio lock,
so an update never races a firing. Messages copy AWS where known (LocalStack's snapshot tests,
recorded against AWS): ``Schedule <name> does not exist.``, ``Schedule <name> already exists.``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from lambent.errors import ResourceConflict, ResourceNotFound, ValidationError
from lambent.schedules import timing as tm
from lambent.schedules.clock import Clock, ResumableClock, ScaledClock
from lambent.schedules.model import (
    DEFAULT_GROUP,
    ActionAfterCompletion,
    Delivery,
    Plan,
    Schedule,
    ScheduleGroup,
    ScheduleSpec,
    ScheduleState,
)
from lambent.schedules.payloads import iso_time
from lambent.schedules.store import NewDelivery, ScheduleStore
from lambent.store.schedules import Engine
from lambent.settings import Settings

log = logging.getLogger(__name__)

#: AWS refuses a recurring schedule whose StartDate is further back than this.
START_DATE_PAST_LIMIT_S = 300.0
_GROUP_ARN_RE = re.compile(r"^arn:aws[a-z-]*:scheduler:([a-z0-9\-]+):(\d{12}):schedule-group/([0-9a-zA-Z-_.]+)$")

Key = tuple[str, str]


@dataclass
class _Entry:
    schedule: Schedule
    plan: Plan
    #: None when the stored definition no longer parses (logged at load): it never fires.
    timing: tm.Timing | None


class SchedulerService:
    """Scope: one per server."""

    def __init__(self, store: ScheduleStore, clock: Clock, *, region: str, account_id: str,
                 missed_grace_s: float = 300.0, rng: Callable[[], float] = random.random) -> None:
        """No I/O: the registry is empty (and a :class:`ResumableClock` unresumed) until :meth:`load`."""
        self.store = store
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.missed_grace_s = missed_grace_s
        self.rng = rng
        self.lock = asyncio.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._groups: dict[str, ScheduleGroup] = {}
        self._schedules: dict[Key, _Entry] = {}
        self._loaded = False

    @classmethod
    def for_server(cls, settings: Settings, engine: Engine) -> SchedulerService:
        """The server's service, no I/O: schedule time is resumed from (and saved to) the
        database by :meth:`load`."""
        return cls(ScheduleStore(engine), ResumableClock(settings.schedules.time_scale), region=settings.region,
                   account_id=settings.account_id, missed_grace_s=settings.schedules.missed_grace_s)

    @classmethod
    def open(cls, settings: Settings, engine: Engine) -> SchedulerService:
        """:meth:`for_server`, loaded at once (blocking).
        transitional: remove when Platform uses for_server() and awaits load()"""
        store = ScheduleStore(engine)
        clock = ScaledClock.resume(store.load_clock(), settings.schedules.time_scale)
        store.save_clock(clock.saved)
        service = cls(store, clock, region=settings.region, account_id=settings.account_id,
                      missed_grace_s=settings.schedules.missed_grace_s)
        service._load_blocking()
        return service

    async def load(self) -> None:
        """Read the groups and schedules (creating the default group the first time) and resume
        schedule time. Once; later calls do nothing. Call before the engine starts."""
        if not self._loaded:
            await asyncio.to_thread(self._load_blocking)

    def _load_blocking(self) -> None:
        if self._loaded:
            return
        if isinstance(self.clock, ResumableClock) and not self.clock.resumed:
            self.store.save_clock(self.clock.resume(self.store.load_clock()))
        groups = {g.name: g for g in self.store.load_groups()}
        if DEFAULT_GROUP not in groups:
            now = self._wall_now()
            groups[DEFAULT_GROUP] = ScheduleGroup(DEFAULT_GROUP, now, now)
            self.store.put_group(groups[DEFAULT_GROUP])
        schedules = {(schedule.group, schedule.name): _Entry(schedule, plan, self._timing_or_none(schedule))
                     for schedule, plan in self.store.load_schedules()}
        self._groups, self._schedules, self._loaded = groups, schedules, True

    @contextlib.asynccontextmanager
    async def _changing(self) -> AsyncIterator[None]:
        """Hold the lock every mutation (API or engine) takes. Refused before :meth:`load`: the
        registry would not know what the store holds (a create could write over a schedule)."""
        if not self._loaded:
            raise RuntimeError("SchedulerService changed before load()")
        async with self.lock:
            yield

    def on_change(self, listener: Callable[[], None]) -> None:
        """``listener()`` runs after any schedule is created, changed or deleted."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _wall_now(self) -> float:
        return self.clock.to_wall(self.clock.now())

    def _timing_or_none(self, schedule: Schedule) -> tm.Timing | None:
        try:
            return tm.Timing.of(schedule.spec, self.clock.from_wall)
        except ValidationError as exc:
            log.error("schedule %s/%s cannot run: %s (%s)", schedule.group, schedule.name, exc.message,
                      exc.context.get("hint", ""))
            return None

    # -- ARNs ---------------------------------------------------------------------------------------
    def schedule_arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule/{group}/{name}"

    def group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule-group/{name}"

    # -- schedules ----------------------------------------------------------------------------------
    def _group(self, name: str) -> ScheduleGroup:
        group = self._groups.get(name)
        if group is None:
            raise ResourceNotFound(f"Schedule group {name} does not exist.")
        return group

    def _entry(self, group: str, name: str) -> _Entry:
        self._group(group)
        entry = self._schedules.get((group, name))
        if entry is None:
            raise ResourceNotFound(f"Schedule {name} does not exist.")
        return entry

    def get(self, group: str, name: str) -> Schedule:
        return self._entry(group, name).schedule

    def plan(self, group: str, name: str) -> Plan:
        return self._entry(group, name).plan

    def list_schedules(self, group: str | None = None, prefix: str | None = None,
             state: ScheduleState | None = None) -> list[Schedule]:
        if group is not None:
            self._group(group)
        return [
            e.schedule for k, e in sorted(self._schedules.items())
            if (group is None or k[0] == group) and (not prefix or k[1].startswith(prefix))
            and (state is None or e.schedule.spec.state == state)
        ]

    def _check_dates(self, spec: ScheduleSpec, timing: tm.Timing, old: ScheduleSpec | None = None) -> None:
        """StartDate/EndDate rules; an update may re-send the dates it already had (IaC tools do)."""
        if timing.one_time:
            return  # AWS ignores StartDate and EndDate for one-time schedules
        now = self._wall_now()
        if (spec.start_date is not None and spec.start_date < now - START_DATE_PAST_LIMIT_S
                and (old is None or spec.start_date != old.start_date)):
            raise ValidationError("The StartDate you specify cannot be earlier than 5 minutes ago.")
        if spec.end_date is not None and spec.end_date <= now and (old is None or spec.end_date != old.end_date):
            raise ValidationError("The EndDate you specify cannot be earlier than the current time.")
        if spec.start_date is not None and spec.end_date is not None and spec.end_date <= spec.start_date:
            raise ValidationError("The EndDate you specify must be later than the StartDate.")

    def _first_plan(self, spec: ScheduleSpec, timing: tm.Timing, plan: Plan | None, now: float) -> Plan:
        """The plan of a new schedule (``plan`` None) or of one whose timing changed."""
        if plan is None:
            plan = Plan(anchor=timing.start if timing.start is not None else now)
        if spec.state == ScheduleState.DISABLED:
            return replace(plan, next_occurrence=None, fire_at=None)
        # A one-time schedule a little in the past (within the grace) still runs: "at(now)".
        after = now - tm.grace_s(timing, self.missed_grace_s) if timing.one_time else now
        return tm.replan(timing, plan, now=after, rng=self.rng)

    async def create(self, group: str, name: str, spec: ScheduleSpec) -> Schedule:
        async with self._changing():
            self._group(group)
            if (group, name) in self._schedules:
                raise ResourceConflict(f"Schedule {name} already exists.")
            timing = tm.Timing.of(spec, self.clock.from_wall)
            self._check_dates(spec, timing)
            wall = self._wall_now()
            schedule = Schedule(group, name, spec, wall, wall)
            plan = self._first_plan(spec, timing, None, self.clock.now())
            await asyncio.to_thread(self.store.insert_schedule, schedule, plan)
            self._schedules[(group, name)] = _Entry(schedule, plan, timing)
            await self._complete_if_done((group, name))
        self._changed()
        return schedule

    async def update(self, group: str, name: str, spec: ScheduleSpec) -> Schedule:
        async with self._changing():
            entry = self._entry(group, name)
            old = entry.schedule.spec
            timing = tm.Timing.of(spec, self.clock.from_wall)
            self._check_dates(spec, timing, old)
            schedule = replace(entry.schedule, spec=spec, modified_at=self._wall_now())
            same_timing = entry.timing is not None and (
                old.expression, old.timezone, old.start_date, old.end_date, old.flexible_window_min, old.state
            ) == (spec.expression, spec.timezone, spec.start_date, spec.end_date, spec.flexible_window_min, spec.state)
            plan = entry.plan if same_timing else self._first_plan(spec, timing, entry.plan, self.clock.now())
            await asyncio.to_thread(self.store.update_schedule, schedule, plan)
            self._schedules[(group, name)] = _Entry(schedule, plan, timing)
            await self._complete_if_done((group, name))
        self._changed()
        return schedule

    async def delete(self, group: str, name: str) -> None:
        async with self._changing():
            self._entry(group, name)
            await asyncio.to_thread(self.store.delete_schedule, group, name)
            del self._schedules[(group, name)]
        self._changed()

    # -- groups -------------------------------------------------------------------------------------
    def get_group(self, name: str) -> ScheduleGroup:
        return self._group(name)

    def list_groups(self, prefix: str | None = None) -> list[ScheduleGroup]:
        return [g for n, g in sorted(self._groups.items()) if not prefix or n.startswith(prefix)]

    async def create_group(self, name: str, tags: dict[str, str]) -> ScheduleGroup:
        async with self._changing():
            if name in self._groups:
                raise ResourceConflict(f"Schedule group {name} already exists.")
            wall = self._wall_now()
            group = ScheduleGroup(name, wall, wall, tuple(sorted(tags.items())))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[name] = group
        return group

    async def delete_group(self, name: str) -> None:
        """Delete a group and all its schedules (AWS does the same, asynchronously)."""
        async with self._changing():
            if name == DEFAULT_GROUP:
                raise ValidationError("The default schedule group cannot be deleted.")
            self._group(name)
            await asyncio.to_thread(self.store.delete_group, name)
            del self._groups[name]
            for key in [k for k in self._schedules if k[0] == name]:
                del self._schedules[key]
        self._changed()

    def _tagged_group(self, arn: str) -> ScheduleGroup:
        m = _GROUP_ARN_RE.match(arn)
        if m is None or (m.group(1), m.group(2)) != (self.region, self.account_id) or m.group(3) not in self._groups:
            raise ResourceNotFound(f"Resource {arn} does not exist.")
        return self._groups[m.group(3)]

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged_group(arn).tags)

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        async with self._changing():
            group = self._tagged_group(arn)
            group = replace(group, tags=tuple(sorted({**dict(group.tags), **tags}.items())))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[group.name] = group

    async def untag(self, arn: str, keys: list[str]) -> None:
        async with self._changing():
            group = self._tagged_group(arn)
            group = replace(group, tags=tuple((k, v) for k, v in group.tags if k not in keys))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[group.name] = group

    # -- engine side ----------------------------------------------------------------------------------
    def due_keys(self, now: float) -> list[Key]:
        """Enabled schedules whose fire time has come, oldest first."""
        due = [(e.plan.fire_at, k) for k, e in self._schedules.items() if self._runnable(e)
               and e.plan.fire_at is not None and e.plan.fire_at <= now]
        return [k for _, k in sorted(due)]

    def next_fire_at(self) -> float | None:
        times = [e.plan.fire_at for e in self._schedules.values() if self._runnable(e) and e.plan.fire_at is not None]
        return min(times, default=None)

    @staticmethod
    def _runnable(entry: _Entry) -> bool:
        return entry.timing is not None and entry.schedule.spec.state == ScheduleState.ENABLED

    async def fire(self, key: Key, now: float) -> Delivery | None:
        """Fire this schedule's due occurrence, if it has one: skip occurrences too late to run,
        then — in one transaction — advance the plan past the occurrence and add its delivery."""
        async with self._changing():
            entry = self._schedules.get(key)
            if entry is None or entry.timing is None or not self._runnable(entry):
                return None
            timing, plan = entry.timing, entry.plan
            caught = tm.catch_up(timing, plan, now=now, missed_grace_s=self.missed_grace_s, rng=self.rng)
            if caught.skipped:
                log.warning(
                    "schedule %s/%s: skipped %s%d missed occurrence(s) from %s to %s, more than %.0f s late",
                    key[0], key[1], "at least " if caught.more else "", caught.skipped,
                    iso_time(caught.first_skipped or 0), iso_time(caught.last_skipped or 0),
                    tm.grace_s(timing, self.missed_grace_s),
                )
            plan = caught.plan
            if plan.next_occurrence is None or plan.fire_at is None or plan.fire_at > now:
                if plan != entry.plan:
                    await asyncio.to_thread(self.store.save_plan, key[0], key[1], plan)
                    entry.plan = plan
                    await self._complete_if_done(key)
                return None
            occurrence = plan.next_occurrence
            after = tm.schedule_next(timing, replace(plan, last_occurrence=occurrence), after=occurrence, rng=self.rng)
            spec = entry.schedule.spec
            delete = after.next_occurrence is None and spec.action_after_completion == ActionAfterCompletion.DELETE
            new = NewDelivery(secrets.token_hex(8), self.schedule_arn(*key), occurrence, now, spec.target)
            delivery = await asyncio.to_thread(self.store.fire, key[0], key[1], None if delete else after, new)
            if delete:
                del self._schedules[key]
                log.info("schedule %s/%s completed and was deleted (ActionAfterCompletion DELETE)", *key)
            else:
                entry.plan = after
        return delivery

    async def _complete_if_done(self, key: Key) -> None:
        """A schedule with nothing left to fire and ActionAfterCompletion DELETE goes away.
        Caller holds the lock."""
        entry = self._schedules.get(key)
        if (entry is None or entry.timing is None or entry.plan.next_occurrence is not None
                or entry.schedule.spec.state != ScheduleState.ENABLED
                or entry.schedule.spec.action_after_completion != ActionAfterCompletion.DELETE):
            return
        await asyncio.to_thread(self.store.delete_schedule, *key)
        del self._schedules[key]
        log.info("schedule %s/%s has no occurrences left and was deleted (ActionAfterCompletion DELETE)", *key)
