"""Schedules and schedule groups: the domain rules, the in-memory registry, persistence.

The registry is loaded from the database at start and written through on every change; the
engine reads it to know what is due and calls :meth:`SchedulerService.fire`, which turns one due
occurrence into one delivery atomically. Every mutation — API or engine — holds one asyncio lock,
so an update never races a firing. Messages copy AWS where known (LocalStack's snapshot tests,
recorded against AWS): ``Schedule <name> does not exist.``, ``Schedule <name> already exists.``.

Per account, as on AWS: a schedule is ``(account, group, name)`` and a group ``(account, name)``;
every account has its own ``default`` group (the server's made at load, another's the first time
it uses the Scheduler: :meth:`SchedulerService.open_account`), and every operation takes the
account it acts in (``account=None``: the server's), so one account never sees another's.
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

#: A schedule's identity: (account, group, name).
Key = tuple[str, str, str]
#: A group's identity: (account, name).
GroupKey = tuple[str, str]


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
        self._groups: dict[GroupKey, ScheduleGroup] = {}
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
        adopted = self.store.adopt_unowned(self.account_id)
        if adopted:
            log.info("%d schedule(s) and group(s) stored before schedules were per account now belong to "
                     "the server's account %s", adopted, self.account_id)
        groups = {(g.account, g.name): g for g in self.store.load_groups(self.account_id)}
        if (self.account_id, DEFAULT_GROUP) not in groups:
            now = self._wall_now()
            groups[(self.account_id, DEFAULT_GROUP)] = default = ScheduleGroup(DEFAULT_GROUP, now, now, self.account_id)
            self.store.put_group(default)
        schedules = {(schedule.account, schedule.group, schedule.name):
                     _Entry(schedule, plan, self._timing_or_none(schedule))
                     for schedule, plan in self.store.load_schedules(self.account_id)}
        self._groups, self._schedules, self._loaded = groups, schedules, True

    def _acct(self, account: str | None) -> str:
        return self.account_id if account is None else account

    async def open_account(self, account: str) -> None:
        """Make sure ``account`` has its ``default`` group (AWS gives every account one): the
        Scheduler API calls this before any operation of a caller; once per account, then free."""
        if (account, DEFAULT_GROUP) in self._groups:
            return
        async with self._changing():
            await self._ensure_default(account)

    async def _ensure_default(self, account: str) -> None:
        """Caller holds the lock."""
        if (account, DEFAULT_GROUP) not in self._groups:
            wall = self._wall_now()
            group = ScheduleGroup(DEFAULT_GROUP, wall, wall, account)
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[(account, DEFAULT_GROUP)] = group

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
            log.error("schedule %s:%s/%s cannot run: %s (%s)", schedule.account, schedule.group, schedule.name,
                      exc.message,
                      exc.context.get("hint", ""))
            return None

    # -- ARNs ---------------------------------------------------------------------------------------
    def schedule_arn(self, group: str, name: str, account: str | None = None) -> str:
        return f"arn:aws:scheduler:{self.region}:{self._acct(account)}:schedule/{group}/{name}"

    def group_arn(self, name: str, account: str | None = None) -> str:
        return f"arn:aws:scheduler:{self.region}:{self._acct(account)}:schedule-group/{name}"

    # -- schedules ----------------------------------------------------------------------------------
    def _group(self, account: str, name: str) -> ScheduleGroup:
        group = self._groups.get((account, name))
        if group is None:
            raise ResourceNotFound(f"Schedule group {name} does not exist.")
        return group

    def _entry(self, account: str, group: str, name: str) -> _Entry:
        self._group(account, group)
        entry = self._schedules.get((account, group, name))
        if entry is None:
            raise ResourceNotFound(f"Schedule {name} does not exist.")
        return entry

    def get(self, group: str, name: str, *, account: str | None = None) -> Schedule:
        return self._entry(self._acct(account), group, name).schedule

    def plan(self, group: str, name: str, *, account: str | None = None) -> Plan:
        return self._entry(self._acct(account), group, name).plan

    def list_schedules(self, group: str | None = None, prefix: str | None = None,
                       state: ScheduleState | None = None, *, account: str | None = None) -> list[Schedule]:
        """``account``'s schedules (of ``group`` if given), by group then name."""
        acct = self._acct(account)
        if group is not None:
            self._group(acct, group)
        return [
            e.schedule for k, e in sorted(self._schedules.items())
            if k[0] == acct and (group is None or k[1] == group) and (not prefix or k[2].startswith(prefix))
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

    async def create(self, group: str, name: str, spec: ScheduleSpec, *, account: str | None = None) -> Schedule:
        acct = self._acct(account)
        key = (acct, group, name)
        async with self._changing():
            await self._ensure_default(acct)
            self._group(acct, group)
            if key in self._schedules:
                raise ResourceConflict(f"Schedule {name} already exists.")
            timing = tm.Timing.of(spec, self.clock.from_wall)
            self._check_dates(spec, timing)
            wall = self._wall_now()
            schedule = Schedule(group, name, spec, wall, wall, acct)
            plan = self._first_plan(spec, timing, None, self.clock.now())
            await asyncio.to_thread(self.store.insert_schedule, schedule, plan)
            self._schedules[key] = _Entry(schedule, plan, timing)
            await self._complete_if_done(key)
        self._changed()
        return schedule

    async def update(self, group: str, name: str, spec: ScheduleSpec, *, account: str | None = None) -> Schedule:
        acct = self._acct(account)
        key = (acct, group, name)
        async with self._changing():
            entry = self._entry(acct, group, name)
            old = entry.schedule.spec
            timing = tm.Timing.of(spec, self.clock.from_wall)
            self._check_dates(spec, timing, old)
            schedule = replace(entry.schedule, spec=spec, modified_at=self._wall_now())
            same_timing = entry.timing is not None and (
                old.expression, old.timezone, old.start_date, old.end_date, old.flexible_window_min, old.state
            ) == (spec.expression, spec.timezone, spec.start_date, spec.end_date, spec.flexible_window_min, spec.state)
            plan = entry.plan if same_timing else self._first_plan(spec, timing, entry.plan, self.clock.now())
            await asyncio.to_thread(self.store.update_schedule, schedule, plan)
            self._schedules[key] = _Entry(schedule, plan, timing)
            await self._complete_if_done(key)
        self._changed()
        return schedule

    async def delete(self, group: str, name: str, *, account: str | None = None) -> None:
        acct = self._acct(account)
        async with self._changing():
            self._entry(acct, group, name)
            await asyncio.to_thread(self.store.delete_schedule, acct, group, name)
            del self._schedules[(acct, group, name)]
        self._changed()

    # -- groups -------------------------------------------------------------------------------------
    def get_group(self, name: str, *, account: str | None = None) -> ScheduleGroup:
        return self._group(self._acct(account), name)

    def list_groups(self, prefix: str | None = None, *, account: str | None = None) -> list[ScheduleGroup]:
        """``account``'s groups, by name."""
        acct = self._acct(account)
        return [g for (a, n), g in sorted(self._groups.items()) if a == acct and (not prefix or n.startswith(prefix))]

    async def create_group(self, name: str, tags: dict[str, str], *, account: str | None = None) -> ScheduleGroup:
        acct = self._acct(account)
        async with self._changing():
            await self._ensure_default(acct)
            if (acct, name) in self._groups:
                raise ResourceConflict(f"Schedule group {name} already exists.")
            wall = self._wall_now()
            group = ScheduleGroup(name, wall, wall, acct, tuple(sorted(tags.items())))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[(acct, name)] = group
        return group

    async def delete_group(self, name: str, *, account: str | None = None) -> None:
        """Delete a group and all its schedules (AWS does the same, asynchronously)."""
        acct = self._acct(account)
        async with self._changing():
            if name == DEFAULT_GROUP:
                raise ValidationError("The default schedule group cannot be deleted.")
            self._group(acct, name)
            await asyncio.to_thread(self.store.delete_group, acct, name)
            del self._groups[(acct, name)]
            for key in [k for k in self._schedules if k[:2] == (acct, name)]:
                del self._schedules[key]
        self._changed()

    def _tagged_group(self, arn: str, account: str) -> ScheduleGroup:
        """``account``'s group the ARN names; another account's group is as absent as a missing one."""
        m = _GROUP_ARN_RE.match(arn)
        found = None if m is None or (m.group(1), m.group(2)) != (self.region, account) else (
            self._groups.get((account, m.group(3))))
        if found is None:
            raise ResourceNotFound(f"Resource {arn} does not exist.")
        return found

    def tags(self, arn: str, *, account: str | None = None) -> dict[str, str]:
        return dict(self._tagged_group(arn, self._acct(account)).tags)

    async def tag(self, arn: str, tags: dict[str, str], *, account: str | None = None) -> None:
        async with self._changing():
            group = self._tagged_group(arn, self._acct(account))
            group = replace(group, tags=tuple(sorted({**dict(group.tags), **tags}.items())))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[(group.account, group.name)] = group

    async def untag(self, arn: str, keys: list[str], *, account: str | None = None) -> None:
        async with self._changing():
            group = self._tagged_group(arn, self._acct(account))
            group = replace(group, tags=tuple((k, v) for k, v in group.tags if k not in keys))
            await asyncio.to_thread(self.store.put_group, group)
            self._groups[(group.account, group.name)] = group

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
                    "schedule %s:%s/%s: skipped %s%d missed occurrence(s) from %s to %s, more than %.0f s late",
                    key[0], key[1], key[2], "at least " if caught.more else "", caught.skipped,
                    iso_time(caught.first_skipped or 0), iso_time(caught.last_skipped or 0),
                    tm.grace_s(timing, self.missed_grace_s),
                )
            plan = caught.plan
            if plan.next_occurrence is None or plan.fire_at is None or plan.fire_at > now:
                if plan != entry.plan:
                    await asyncio.to_thread(self.store.save_plan, *key, plan)
                    entry.plan = plan
                    await self._complete_if_done(key)
                return None
            occurrence = plan.next_occurrence
            after = tm.schedule_next(timing, replace(plan, last_occurrence=occurrence), after=occurrence, rng=self.rng)
            spec = entry.schedule.spec
            delete = after.next_occurrence is None and spec.action_after_completion == ActionAfterCompletion.DELETE
            account, group, name = key
            new = NewDelivery(secrets.token_hex(8), self.schedule_arn(group, name, account), occurrence, now,
                              spec.target)
            delivery = await asyncio.to_thread(self.store.fire, account, group, name, None if delete else after, new)
            if delete:
                del self._schedules[key]
                log.info("schedule %s:%s/%s completed and was deleted (ActionAfterCompletion DELETE)", *key)
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
        log.info("schedule %s:%s/%s has no occurrences left and was deleted (ActionAfterCompletion DELETE)", *key)
