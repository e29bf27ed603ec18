"""Safe deployments: move an alias from its version to another one in steps, CodeDeploy-style
(https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-lambda.html), with
validation hooks, an error-rate alarm, a manual stop and automatic rollback.

Three layers, in this order in the file:

* **Values** — :class:`Deployment` (frozen; persisted as JSON), :class:`Status`, :class:`Phase`.
* **Decision core** — :func:`decide` and the ``after_*`` transitions: pure functions of a
  deployment, the time and an alarm reading. They say what to do next (run a hook, shift, wait,
  restore the alias, nothing) and never do it.
* **Shell** — :class:`DeploymentService` validates requests and owns one :class:`_Runner` task per
  InProgress deployment; the runner performs the actions (``AliasService.update``, hook invokes
  through ``InvokeService.invoke``), persists every transition with its events, and is resumed
  from the database after a restart.

Lifecycle (CodeDeploy's Lambda lifecycle events)::

    BeforeAllowTraffic ──► AllowTraffic (steps) ──► AfterAllowTraffic ──► End   Succeeded
           │                     │                         │
           └──── hook failed / alarm / stop / error ───────┴──► Rollback ──► End   RolledBack | Stopped
                                                                   (alias not restored: Failed)

Statuses (final ones; ``InProgress`` until then):

* ``Succeeded`` — the alias points at the target version (no routing) and every hook passed.
* ``RolledBack`` — lambent aborted it (a hook failed, the error-rate alarm fired, or an
  unexpected error while shifting) and put the alias back at 100 % of the original version.
* ``Stopped`` — somebody asked it to stop; the alias was put back at 100 % of the original version.
* ``Failed`` — it could not go on and lambent did *not* restore the alias: the alias or a version
  was changed or deleted outside the deployment, or the restore itself failed. The alias is left
  as it was found; ``ErrorInformation`` says why.

Crash safety: every action is idempotent against the persisted state. A step is re-checked
against the alias (already applied → only recorded), a rollback is persisted as intent before the
alias is touched, and a hook whose result was not persisted runs again (hooks are at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from lambent import arns
from lambent.control.aliases import AliasService
from lambent.control.functions import FunctionService
from lambent.control.model import Alias
from lambent.control.strategies import Step, TrafficRouting
from lambent.errors import (
    InvalidParameterValue,
    LambentError,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambent.invoke.metrics import ErrorRateWindow, WindowReading
from lambent.invoke.service import SyncResult
from lambent.settings import DeploySettings
from lambent.store.deployments import (
    ActiveDeploymentExists,
    DeploymentStore,
    StoredEvent,
)
from lambent.worker.environment import InvokeRequest

log = logging.getLogger(__name__)

#: An entry of a deployment's event log (timestamps are epoch seconds).
Event = StoredEvent
#: Bytes of a hook's response kept in its event.
HOOK_RESPONSE_KEPT_BYTES = 1024


# == values ========================================================================================
class Status(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPED = "Stopped"
    ROLLED_BACK = "RolledBack"


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.STOPPED, Status.ROLLED_BACK})


class Phase(StrEnum):
    """CodeDeploy's Lambda lifecycle events, plus the rollback."""

    BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"
    ALLOW_TRAFFIC = "AllowTraffic"
    AFTER_ALLOW_TRAFFIC = "AfterAllowTraffic"
    ROLLBACK = "Rollback"
    END = "End"


class ErrorCode(StrEnum):
    """``ErrorInformation.Code``: CodeDeploy's codes where one fits, lambent's own otherwise."""

    HOOK_EXECUTION_FAILURE = "HOOK_EXECUTION_FAILURE"
    ALARM_ACTIVE = "ALARM_ACTIVE"
    MANUAL_STOP = "MANUAL_STOP"
    ALIAS_MODIFIED = "ALIAS_MODIFIED"
    RESOURCE_MISSING = "RESOURCE_MISSING"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True)
class Alarm:
    """Roll back when the new version's error rate over the window exceeds ``error_rate``, once
    the window holds at least ``min_invocations`` of its invocations."""

    error_rate: float
    min_invocations: int

    def __post_init__(self) -> None:
        if isinstance(self.error_rate, bool) or not isinstance(self.error_rate, (int, float)) or not 0.0 <= self.error_rate < 1.0:
            raise InvalidParameterValue(f"Invalid error-rate threshold {self.error_rate!r}: must be a number in [0, 1).")
        if isinstance(self.min_invocations, bool) or not isinstance(self.min_invocations, int) or self.min_invocations < 1:
            raise InvalidParameterValue(f"Invalid minimum invocations {self.min_invocations!r}: must be an integer >= 1.")

    def fires(self, reading: WindowReading) -> bool:
        return reading.invocations >= self.min_invocations and reading.error_rate > self.error_rate


@dataclass(frozen=True)
class AliasState:
    """What a deployment expects an alias to look like (its routing part)."""

    function_version: str
    additional_version: str | None = None
    additional_weight: float = 0.0

    @classmethod
    def of(cls, alias: Alias) -> AliasState:
        return cls(alias.function_version, alias.additional_version,
                   alias.additional_weight if alias.additional_version else 0.0)

    def describe(self) -> str:
        if self.additional_version is None:
            return f"version {self.function_version}"
        return f"version {self.function_version} + {self.additional_weight:.0%} to {self.additional_version}"


@dataclass(frozen=True)
class Deployment:
    """One deployment and its progress. Replaced, never mutated."""

    id: str
    function_name: str
    alias: str
    from_version: str
    to_version: str
    routing: TrafficRouting
    steps: tuple[Step, ...]
    #: DeploySettings.time_scale when it was created (a restart keeps the schedule it started with).
    time_scale: float
    created_at: float
    pre_hook: str | None = None
    post_hook: str | None = None
    alarm: Alarm | None = None
    status: Status = Status.IN_PROGRESS
    phase: Phase = Phase.BEFORE_ALLOW_TRAFFIC
    #: When each applied step was applied; ``len(applied)`` steps are done.
    applied: tuple[float, ...] = ()
    #: Start of AllowTraffic: step ``i`` is due at ``shift_started_at + steps[i].offset_s * time_scale``.
    shift_started_at: float | None = None
    stop_requested: bool = False
    #: During a rollback: the status it ends with once the alias is restored.
    rollback_status: Status | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    updated_at: float = 0.0
    completed_at: float | None = None

    def replace(self, **changes: Any) -> Deployment:
        return dataclasses.replace(self, **changes)

    @property
    def applied_steps(self) -> int:
        return len(self.applied)

    @property
    def current_weight(self) -> float:
        """Share of the alias's traffic the target version gets (per the persisted progress)."""
        if self.status in (Status.STOPPED, Status.ROLLED_BACK):
            return 0.0
        return self.steps[self.applied_steps - 1].weight if self.applied else 0.0

    def due_at(self, index: int) -> float | None:
        if self.shift_started_at is None:
            return None
        return self.shift_started_at + self.steps[index].offset_s * self.time_scale

    def alias_state(self, index: int) -> AliasState:
        """The alias after step ``index`` (``-1``: before the first one)."""
        if index < 0:
            return AliasState(self.from_version)
        weight = self.steps[index].weight
        if weight >= 1.0:
            return AliasState(self.to_version)
        return AliasState(self.from_version, self.to_version, weight)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "function_name": self.function_name, "alias": self.alias,
            "from_version": self.from_version, "to_version": self.to_version,
            "routing": self.routing.to_wire(), "steps": [[s.weight, s.offset_s] for s in self.steps],
            "time_scale": self.time_scale, "created_at": self.created_at,
            "pre_hook": self.pre_hook, "post_hook": self.post_hook,
            "alarm": dataclasses.asdict(self.alarm) if self.alarm else None,
            "status": self.status.value, "phase": self.phase.value, "applied": list(self.applied),
            "shift_started_at": self.shift_started_at, "stop_requested": self.stop_requested,
            "rollback_status": self.rollback_status.value if self.rollback_status else None,
            "error_code": self.error_code.value if self.error_code else None,
            "error_message": self.error_message, "updated_at": self.updated_at, "completed_at": self.completed_at,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Deployment:
        return cls(
            id=d["id"], function_name=d["function_name"], alias=d["alias"],
            from_version=d["from_version"], to_version=d["to_version"],
            routing=TrafficRouting.from_wire(d["routing"]), steps=tuple(Step(w, o) for w, o in d["steps"]),
            time_scale=d["time_scale"], created_at=d["created_at"], pre_hook=d.get("pre_hook"),
            post_hook=d.get("post_hook"), alarm=Alarm(**d["alarm"]) if d.get("alarm") else None,
            status=Status(d["status"]), phase=Phase(d["phase"]), applied=tuple(d.get("applied") or ()),
            shift_started_at=d.get("shift_started_at"), stop_requested=bool(d.get("stop_requested")),
            rollback_status=Status(d["rollback_status"]) if d.get("rollback_status") else None,
            error_code=ErrorCode(d["error_code"]) if d.get("error_code") else None,
            error_message=d.get("error_message"), updated_at=d.get("updated_at") or 0.0,
            completed_at=d.get("completed_at"),
        )


# == decision core (pure) ==========================================================================
@dataclass(frozen=True)
class RunHook:
    phase: Phase
    function: str


@dataclass(frozen=True)
class Shift:
    index: int


@dataclass(frozen=True)
class WaitUntil:
    at: float


@dataclass(frozen=True)
class Restore:
    """Put the alias back at 100 % of the original version."""


@dataclass(frozen=True)
class Finished:
    pass


Action = RunHook | Shift | WaitUntil | Restore | Finished


@dataclass(frozen=True)
class Decision:
    deployment: Deployment
    events: tuple[Event, ...]
    action: Action


def decide(d: Deployment, now: float, alarm: WindowReading | None = None) -> Decision:
    """What to do next. Transitions that need no I/O (start shifting, stop → rollback, alarm →
    rollback, no post hook → Succeeded) are applied here and returned with their events.
    Steps are never skipped: a late step runs at once and the next ones keep their schedule."""
    events: list[Event] = []
    while True:
        if d.status in TERMINAL:
            return Decision(d, tuple(events), Finished())
        if d.phase == Phase.ROLLBACK:
            return Decision(d, tuple(events), Restore())
        if d.stop_requested:
            d, ev = begin_rollback(d, now, Status.STOPPED, ErrorCode.MANUAL_STOP, "The deployment was stopped on request.")
            events += ev
            continue
        if d.phase == Phase.BEFORE_ALLOW_TRAFFIC:
            if d.pre_hook:
                return Decision(d, tuple(events), RunHook(Phase.BEFORE_ALLOW_TRAFFIC, d.pre_hook))
            d = d.replace(phase=Phase.ALLOW_TRAFFIC, shift_started_at=now, updated_at=now)
            continue
        if d.phase == Phase.ALLOW_TRAFFIC:
            if d.alarm is not None and alarm is not None and d.alarm.fires(alarm):
                message = (
                    f"Error rate of version {d.to_version} was {alarm.error_rate:.1%} "
                    f"({alarm.errors} of {alarm.invocations} invocations), above the {d.alarm.error_rate:.1%} threshold."
                )
                events.append(Event(now, "AlarmTriggered", message, {
                    "ErrorRate": alarm.error_rate, "Errors": alarm.errors, "Invocations": alarm.invocations,
                    "Threshold": d.alarm.error_rate,
                }))
                d, ev = begin_rollback(d, now, Status.ROLLED_BACK, ErrorCode.ALARM_ACTIVE, message)
                events += ev
                continue
            if d.applied_steps == len(d.steps):
                d = d.replace(phase=Phase.AFTER_ALLOW_TRAFFIC, updated_at=now)
                continue
            start = d.shift_started_at if d.shift_started_at is not None else now
            due = start + d.steps[d.applied_steps].offset_s * d.time_scale
            if now >= due:
                return Decision(d, tuple(events), Shift(d.applied_steps))
            return Decision(d, tuple(events), WaitUntil(due))
        if d.phase == Phase.AFTER_ALLOW_TRAFFIC:
            if d.post_hook:
                return Decision(d, tuple(events), RunHook(Phase.AFTER_ALLOW_TRAFFIC, d.post_hook))
            d, ev = finish(d, now, Status.SUCCEEDED, f"Alias {d.alias} now points to version {d.to_version}.")
            events += ev
            continue
        # Phase.END with a non-terminal status cannot be built by these functions.
        d, ev = fail(d, now, ErrorCode.INTERNAL_ERROR, f"inconsistent state {d.phase}/{d.status}")
        events += ev


def begin_rollback(d: Deployment, now: float, status: Status, code: ErrorCode, message: str) -> tuple[Deployment, list[Event]]:
    """Record the intent to restore the alias; :class:`Restore` follows."""
    new = d.replace(phase=Phase.ROLLBACK, rollback_status=status, error_code=code, error_message=message, updated_at=now)
    return new, [Event(now, "RollbackStarted", message, {"Code": code.value, "FromPhase": d.phase.value})]


def after_hook(d: Deployment, phase: Phase, ok: bool, now: float, message: str, details: dict[str, Any]) -> tuple[Deployment, list[Event]]:
    events = [Event(now, "HookSucceeded" if ok else "HookFailed", message, {"LifecycleEvent": phase.value, **details})]
    if not ok:
        d, ev = begin_rollback(d, now, Status.ROLLED_BACK, ErrorCode.HOOK_EXECUTION_FAILURE, message)
        return d, events + ev
    if phase == Phase.BEFORE_ALLOW_TRAFFIC:
        return d.replace(phase=Phase.ALLOW_TRAFFIC, shift_started_at=now, updated_at=now), events
    d, ev = finish(d, now, Status.SUCCEEDED, f"Alias {d.alias} now points to version {d.to_version}.")
    return d, events + ev


def after_shift(d: Deployment, index: int, now: float) -> tuple[Deployment, list[Event]]:
    if index != d.applied_steps:
        raise ValueError(f"step {index} applied out of order (next is {d.applied_steps})")
    state = d.alias_state(index)
    weight = d.steps[index].weight
    routing = {state.additional_version: state.additional_weight} if state.additional_version else {}
    event = Event(now, "TrafficShifted", f"{weight:.0%} on version {d.to_version}: alias {d.alias} -> {state.describe()}", {
        "Step": index + 1, "Steps": len(d.steps), "Weight": weight, "DueTime": d.due_at(index),
        "FunctionVersion": state.function_version, "AdditionalVersionWeights": routing,
    })
    return d.replace(applied=(*d.applied, now), updated_at=now), [event]


def after_restore(d: Deployment, now: float) -> tuple[Deployment, list[Event]]:
    status = d.rollback_status or Status.ROLLED_BACK
    events = [Event(now, "RollbackCompleted", f"Alias {d.alias} points to version {d.from_version} again.",
                    {"FunctionVersion": d.from_version})]
    new, ev = finish(d, now, status, d.error_message or "")
    return new, events + ev


def finish(d: Deployment, now: float, status: Status, message: str) -> tuple[Deployment, list[Event]]:
    new = d.replace(status=status, phase=Phase.END, completed_at=now, updated_at=now)
    return new, [Event(now, status.value, message, {})]


def fail(d: Deployment, now: float, code: ErrorCode, message: str) -> tuple[Deployment, list[Event]]:
    """End as Failed, leaving the alias as it is."""
    d = d.replace(error_code=code, error_message=message)
    return finish(d, now, Status.FAILED, message)


# == shell =========================================================================================
class Clock(Protocol):
    """Wall-clock time (epoch seconds, persisted in schedules) and sleeping; fakes in tests."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class HookInvoker(Protocol):
    """The invoke path hooks go through (``InvokeService``)."""

    async def invoke(self, name: str, qualifier: str | None, req: InvokeRequest) -> SyncResult: ...


@dataclass(frozen=True)
class CreateDeployment:
    function_name: str
    alias: str
    to_version: str
    routing: TrafficRouting
    pre_hook: str | None = None
    post_hook: str | None = None
    #: Threshold for the error-rate alarm; None: no alarm.
    error_rate_threshold: float | None = None
    #: None: ``DeploySettings.alarm_min_invocations``.
    alarm_min_invocations: int | None = None


def new_deployment_id() -> str:
    """CodeDeploy's format: ``d-`` and nine upper-case letters or digits."""
    return "d-" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(9))


class DeploymentService:
    """Creates, runs, resumes and stops deployments. Scope: one per server; runners live between
    :meth:`start` and :meth:`shutdown`."""

    def __init__(
        self,
        settings: DeploySettings,
        *,
        functions: FunctionService,
        aliases: AliasService,
        invoker: HookInvoker,
        store: DeploymentStore,
        metrics: ErrorRateWindow,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.functions = functions
        self.aliases = aliases
        self.invoker = invoker
        self.store = store
        self.metrics = metrics
        self.clock: Clock = clock or SystemClock()
        self._runners: dict[str, _Runner] = {}
        self._create_lock = asyncio.Lock()
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume every InProgress deployment where it was."""
        rows = await asyncio.to_thread(self.store.find, None, True)
        for row in rows:
            d = Deployment.from_json(row.doc)
            d = d.replace(stop_requested=d.stop_requested or row.stop_requested)
            now = self.clock.now()
            nxt = d.due_at(d.applied_steps) if d.phase == Phase.ALLOW_TRAFFIC and d.applied_steps < len(d.steps) else None
            await asyncio.to_thread(self.store.save, d.to_json(), True, [Event(now, "Resumed", "Resumed after a server restart.", {
                "Phase": d.phase.value, "AppliedSteps": d.applied_steps, "NextDueTime": nxt,
            })])
            self._launch(d)
        if rows:
            log.info("resumed %d deployments", len(rows))

    async def shutdown(self) -> None:
        """Stop every runner at a safe point (a running hook is abandoned; it runs again after
        the restart). Nothing is rolled back: the deployments resume at the next start."""
        self._stopping = True
        runners = list(self._runners.values())
        for r in runners:
            r.wake.set()
        tasks = [r.task for r in runners if r.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _launch(self, d: Deployment) -> None:
        self.metrics.watch(d.function_name, d.to_version)
        runner = _Runner(self, d)
        self._runners[d.id] = runner
        runner.task = asyncio.get_running_loop().create_task(runner.run(), name=f"deployment {d.id}")

    def _finished(self, runner: _Runner) -> None:
        self._runners.pop(runner.d.id, None)
        self.metrics.unwatch(runner.d.function_name, runner.d.to_version)

    # -- operations ----------------------------------------------------------------------------------
    async def create(self, req: CreateDeployment) -> Deployment:
        f = self.functions
        fn = f.entry(req.function_name)
        alias = self.aliases.get(req.function_name, req.alias)
        active = self._active_for(req.function_name, req.alias)
        if active is not None:
            raise ResourceConflict(f"Deployment {active} is already in progress for alias {self.aliases.arn(alias)}.")
        if not req.to_version.isdigit():
            raise InvalidParameterValue(f"The target version must be a published version number, not {req.to_version!r}.")
        if req.to_version not in fn.versions:
            raise f.not_found(req.function_name, req.to_version)
        if alias.additional_version is not None:
            raise ResourceConflict(
                f"Alias {self.aliases.arn(alias)} already routes {alias.additional_weight:.0%} of its traffic to version "
                f"{alias.additional_version}; clear its RoutingConfig (UpdateAlias) before deploying."
            )
        if alias.function_version == req.to_version:
            raise InvalidParameterValue(f"Alias {self.aliases.arn(alias)} already points to version {req.to_version}.")
        steps = req.routing.steps()
        if alias.function_version == arns.LATEST and len(steps) > 1:
            raise InvalidParameterValue(
                f"Alias {self.aliases.arn(alias)} points to $LATEST, which weighted routing cannot use; "
                "point it at a published version first, or deploy with LambdaAllAtOnce."
            )
        for hook in (req.pre_hook, req.post_hook):
            if hook:
                name, qualifier = f.ref(hook)
                f.resolve(name, qualifier)
        alarm = None
        if req.error_rate_threshold is not None:
            alarm = Alarm(req.error_rate_threshold, req.alarm_min_invocations or self.settings.alarm_min_invocations)
        now = self.clock.now()
        d = Deployment(
            id=new_deployment_id(), function_name=req.function_name, alias=req.alias,
            from_version=alias.function_version, to_version=req.to_version, routing=req.routing, steps=steps,
            time_scale=self.settings.time_scale, created_at=now, pre_hook=req.pre_hook or None,
            post_hook=req.post_hook or None, alarm=alarm, updated_at=now,
        )
        created = Event(now, "Created", f"{d.routing.name}: alias {d.alias} from version {d.from_version} to {d.to_version}.", {
            "DeploymentConfigName": d.routing.name, "FromVersion": d.from_version, "TargetVersion": d.to_version,
        })
        async with self._create_lock:
            active = self._active_for(d.function_name, d.alias)
            if active is not None:
                raise ResourceConflict(f"Deployment {active} is already in progress for alias {self.aliases.arn(alias)}.")
            try:
                await asyncio.to_thread(self.store.insert, d.to_json(), [created])
            except ActiveDeploymentExists:
                raise ResourceConflict(f"A deployment is already in progress for alias {self.aliases.arn(alias)}.") from None
            self._launch(d)
        return d

    def _active_for(self, function_name: str, alias: str) -> str | None:
        for r in self._runners.values():
            if r.d.function_name == function_name and r.d.alias == alias and r.d.status == Status.IN_PROGRESS:
                return r.d.id
        return None

    async def get(self, deployment_id: str) -> Deployment:
        runner = self._runners.get(deployment_id)
        if runner is not None:
            return runner.d.replace(stop_requested=runner.d.stop_requested or runner.stop_requested)
        row = await asyncio.to_thread(self.store.get, deployment_id)
        if row is None:
            raise ResourceNotFound(f"Deployment not found: {deployment_id}")
        d = Deployment.from_json(row.doc)
        return d.replace(stop_requested=d.stop_requested or row.stop_requested)

    async def events(self, deployment_id: str) -> list[Event]:
        await self.get(deployment_id)
        return await asyncio.to_thread(self.store.events, deployment_id)

    async def find(self, function_name: str | None = None) -> list[Deployment]:
        """Newest first."""
        rows = await asyncio.to_thread(self.store.find, function_name, False)
        out = []
        for row in rows:
            runner = self._runners.get(row.doc["id"])
            out.append(runner.d if runner is not None else Deployment.from_json(row.doc))
        return out

    async def stop(self, deployment_id: str, wait_s: float = 5.0) -> Deployment:
        """Ask a deployment to stop and roll back; waits up to ``wait_s`` for it to finish."""
        runner = self._runners.get(deployment_id)
        if runner is None or runner.d.status in TERMINAL:
            d = await self.get(deployment_id)
            if d.status == Status.IN_PROGRESS:
                raise ResourceConflict(f"Deployment {deployment_id} is not running: the server is shutting down.")
            raise ResourceConflict(f"Deployment {deployment_id} is already completed ({d.status.value}).")
        if not runner.stop_requested:
            event = Event(self.clock.now(), "StopRequested", "Stop requested; the alias will be rolled back.", {})
            await asyncio.to_thread(self.store.request_stop, deployment_id, event)
            runner.request_stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runner.done.wait(), wait_s)
        return await self.get(deployment_id)

    async def wait(self, deployment_id: str, timeout_s: float) -> Deployment:
        """Wait until the deployment is no longer InProgress (or the timeout passes)."""
        runner = self._runners.get(deployment_id)
        if runner is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(runner.done.wait(), timeout_s)
        return await self.get(deployment_id)


class _Runner:
    """Drives one deployment: decide, act, persist, repeat. Scope: the deployment's InProgress
    life within one server process."""

    def __init__(self, service: DeploymentService, d: Deployment) -> None:
        self.svc = service
        self.d = d
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.done = asyncio.Event()
        self.stop_requested = d.stop_requested

    def request_stop(self) -> None:
        self.stop_requested = True
        self.wake.set()

    async def run(self) -> None:
        svc = self.svc
        internal_errors = 0
        try:
            while not svc._stopping:
                if self.stop_requested and not self.d.stop_requested:
                    self.d = self.d.replace(stop_requested=True)
                now = svc.clock.now()
                reading = None
                if self.d.alarm is not None and self.d.phase == Phase.ALLOW_TRAFFIC:
                    reading = svc.metrics.reading(self.d.function_name, self.d.to_version)
                decision = decide(self.d, now, reading)
                if decision.deployment != self.d or decision.events:
                    await self._save(decision.deployment, decision.events)
                action = decision.action
                try:
                    if isinstance(action, Finished):
                        return
                    if isinstance(action, WaitUntil):
                        delay = action.at - now
                        if self.d.alarm is not None:
                            delay = min(delay, svc.settings.alarm_poll_s)
                        await self._wait(delay)
                    elif isinstance(action, Shift):
                        await self._shift(action.index)
                    elif isinstance(action, RunHook):
                        await self._hook(action)
                    else:
                        await self._restore()
                except Exception as exc:  # a runner must end in a defined state
                    log.exception("deployment %s: %s failed", self.d.id, type(action).__name__)
                    internal_errors += 1
                    message = f"Internal error during {type(action).__name__}: {type(exc).__name__}: {exc}"
                    now = svc.clock.now()
                    if self.d.phase == Phase.ROLLBACK or internal_errors > 1:
                        await self._save(*fail(self.d, now, ErrorCode.INTERNAL_ERROR, message))
                    else:
                        await self._save(*begin_rollback(self.d, now, Status.ROLLED_BACK, ErrorCode.INTERNAL_ERROR, message))
        except Exception:  # the store failed: leave the deployment for the next start
            log.exception("deployment %s: runner stopped; it resumes at the next start", self.d.id)
        finally:
            if self.d.status in TERMINAL:
                svc._finished(self)
            self.done.set()

    async def _save(self, d: Deployment, events: tuple[Event, ...] | list[Event] = ()) -> None:
        await asyncio.to_thread(self.svc.store.save, d.to_json(), d.status not in TERMINAL, list(events))
        self.d = d

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        sleeper = asyncio.ensure_future(self.svc.clock.sleep(seconds))
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waker):
                t.cancel()
            self.wake.clear()

    # -- actions ---------------------------------------------------------------------------------
    async def _check_alias(self, allowed: set[AliasState]) -> tuple[Alias, AliasState] | None:
        """The alias and its state, or None after failing the deployment (alias gone or changed
        outside the deployment)."""
        d, now = self.d, self.svc.clock.now()
        try:
            alias = self.svc.aliases.get(d.function_name, d.alias)
        except ResourceNotFound as exc:
            await self._save(*fail(d, now, ErrorCode.RESOURCE_MISSING, f"{exc.message}; the deployment cannot go on."))
            return None
        actual = AliasState.of(alias)
        if actual not in allowed:
            await self._save(*fail(d, now, ErrorCode.ALIAS_MODIFIED,
                                   f"Alias {d.alias} was changed outside the deployment (it points to {actual.describe()}); "
                                   "lambent leaves it as it is."))
            return None
        return alias, actual

    async def _shift(self, index: int) -> None:
        d = self.d
        target, before = d.alias_state(index), d.alias_state(index - 1)
        for _ in range(3):
            checked = await self._check_alias({before, target})
            if checked is None:
                return
            alias, actual = checked
            if actual != target:  # == target: applied just before a crash; only record it
                try:
                    await self._apply(alias, target)
                except PreconditionFailed:
                    continue  # another writer got in between: look again
                except ResourceNotFound as exc:
                    await self._save(*fail(d, self.svc.clock.now(), ErrorCode.RESOURCE_MISSING, exc.message))
                    return
            await self._save(*after_shift(d, index, self.svc.clock.now()))
            return
        await self._save(*fail(d, self.svc.clock.now(), ErrorCode.ALIAS_MODIFIED, f"Alias {d.alias} keeps changing under the deployment."))

    async def _restore(self) -> None:
        d = self.d
        target = d.alias_state(-1)
        known = {d.alias_state(i) for i in range(-1, len(d.steps))}
        for _ in range(3):
            checked = await self._check_alias(known)
            if checked is None:
                return
            alias, actual = checked
            if actual != target:
                try:
                    await self._apply(alias, target)
                except PreconditionFailed:
                    continue
                except ResourceNotFound as exc:
                    await self._save(*fail(d, self.svc.clock.now(), ErrorCode.RESOURCE_MISSING,
                                           f"Rollback impossible: {exc.message}"))
                    return
            await self._save(*after_restore(d, self.svc.clock.now()))
            return
        await self._save(*fail(d, self.svc.clock.now(), ErrorCode.ALIAS_MODIFIED, f"Alias {d.alias} keeps changing; not restored."))

    async def _apply(self, alias: Alias, target: AliasState) -> None:
        """One UpdateAlias, exactly as the API would do it, guarded by the alias's RevisionId."""
        weights = {target.additional_version: target.additional_weight} if target.additional_version else None
        await self.svc.aliases.update(
            alias.function, alias.name, function_version=target.function_version, weights=weights,
            clear_routing=weights is None, revision_id=alias.revision_id,
        )

    async def _hook(self, action: RunHook) -> None:
        d, svc = self.d, self.svc
        execution_id = str(uuid.uuid4())
        await self._save(d, [Event(svc.clock.now(), "HookStarted", f"{action.phase.value} hook {action.function} invoked.", {
            "LifecycleEvent": action.phase.value, "Function": action.function, "LifecycleEventHookExecutionId": execution_id,
        })])
        hook = asyncio.ensure_future(self._invoke_hook(action, execution_id))
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({hook, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not hook.done():  # stop or shutdown: abandon the hook (its invocation is cancelled)
                hook.cancel()
                await asyncio.gather(hook, return_exceptions=True)
        self.wake.clear()
        if hook.cancelled():
            if self.stop_requested and not svc._stopping:
                await self._save(self.d, [Event(svc.clock.now(), "HookAbandoned",
                                                f"{action.phase.value} hook {action.function} abandoned: stop requested.", {})])
            return
        ok, message, details = hook.result()
        await self._save(*after_hook(self.d, action.phase, ok, svc.clock.now(), message, details))

    async def _invoke_hook(self, action: RunHook, execution_id: str) -> tuple[bool, str, dict[str, Any]]:
        """Invoke a hook like CodeDeploy does and read its verdict: a function error or a result
        ``{"status": "Failed"}`` fails it (CodeDeploy's hooks report through
        PutLifecycleEventHookExecutionStatus; here the synchronous result is the report)."""
        d, svc = self.d, self.svc
        label = f"{action.phase.value} hook {action.function}"
        payload = {
            "DeploymentId": d.id, "LifecycleEventHookExecutionId": execution_id,
            "LifecycleEvent": action.phase.value, "FunctionName": d.function_name, "Alias": d.alias,
            "CurrentVersion": d.from_version, "TargetVersion": d.to_version,
        }
        details: dict[str, Any] = {"Function": action.function, "LifecycleEventHookExecutionId": execution_id}
        try:
            name, qualifier = svc.functions.ref(action.function)
            request = InvokeRequest(
                request_id=str(uuid.uuid4()), payload=json.dumps(payload).encode(),
                invoked_arn=svc.functions.arn(name, qualifier),
            )
            result = await svc.invoker.invoke(name, qualifier, request)
        except LambentError as exc:
            return False, f"{label} could not be invoked: {exc.message}", details
        outcome = result.outcome
        text = outcome.payload[:HOOK_RESPONSE_KEPT_BYTES].decode(errors="replace")
        details.update(Response=text, ExecutedVersion=result.config.version)
        if outcome.function_error:
            details["FunctionError"] = outcome.function_error
            return False, f"{label} failed with a function error ({outcome.function_error}): {text}", details
        try:
            verdict = json.loads(outcome.payload)
        except ValueError:
            verdict = None
        status = verdict.get("status", verdict.get("Status")) if isinstance(verdict, dict) else None
        if isinstance(status, str) and status.lower() == "failed":
            return False, f"{label} reported status Failed: {text}", details
        return True, f"{label} succeeded.", details
