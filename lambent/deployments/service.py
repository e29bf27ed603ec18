"""Safe deployments, the shell: :class:`DeploymentService` validates requests and owns one
:class:`_Runner` task per InProgress deployment; the runner performs the decided actions, persists
every transition with its events, and is resumed from the database after a restart."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import string
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from lambent import arns
from lambent.control.aliases import AliasService
from lambent.control.updates import AliasUpdate
from lambent.control.functions import FunctionService
from lambent.control.model import Alias
from lambent.deployments.decide import (
    after_hook,
    after_restore,
    after_shift,
    begin_rollback,
    decide,
    fail,
)
from lambent.deployments.model import (
    HOOK_RESPONSE_KEPT_BYTES,
    TERMINAL,
    Alarm,
    AliasState,
    Deployment,
    ErrorCode,
    Event,
    Finished,
    Phase,
    RunHook,
    Shift,
    Status,
    WaitUntil,
)
from lambent.deployments.strategies import TrafficRouting
from lambent.errors import (
    InvalidParameterValue,
    LambentError,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambent.invoke.metrics import ErrorRateWindow
from lambent.invoke.service import SyncResult
from lambent.settings import DeploySettings
from lambent.store.deployments import (
    ActiveDeploymentExists,
    DeploymentStore,
)
from lambent.worker.environment import InvokeRequest

log = logging.getLogger(__name__)


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

    async def invoke(self, name: arns.FunctionKey, qualifier: str | None, req: InvokeRequest) -> SyncResult: ...


@dataclass(frozen=True)
class CreateDeployment:
    #: The function's key: a deployment belongs to the function's account.
    function_name: arns.FunctionKey
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
        alias_arn = self.aliases.arn(req.function_name, alias)
        active = self._active_for(req.function_name, req.alias)
        if active is not None:
            raise ResourceConflict(f"Deployment {active} is already in progress for alias {alias_arn}.")
        if not req.to_version.isdigit():
            raise InvalidParameterValue(f"The target version must be a published version number, not {req.to_version!r}.")
        if req.to_version not in fn.versions:
            raise f.not_found(req.function_name, req.to_version)
        if alias.additional_version is not None:
            raise ResourceConflict(
                f"Alias {alias_arn} already routes {alias.additional_weight:.0%} of its traffic to version "
                f"{alias.additional_version}; clear its RoutingConfig (UpdateAlias) before deploying."
            )
        if alias.function_version == req.to_version:
            raise InvalidParameterValue(f"Alias {alias_arn} already points to version {req.to_version}.")
        steps = req.routing.steps()
        if alias.function_version == arns.LATEST and len(steps) > 1:
            raise InvalidParameterValue(
                f"Alias {alias_arn} points to $LATEST, which weighted routing cannot use; "
                "point it at a published version first, or deploy with LambdaAllAtOnce."
            )
        for hook in (req.pre_hook, req.post_hook):
            if hook:
                self._hook_target(req.function_name, hook)
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
                raise ResourceConflict(f"Deployment {active} is already in progress for alias {alias_arn}.")
            try:
                await asyncio.to_thread(self.store.insert, d.to_json(), [created])
            except ActiveDeploymentExists:
                raise ResourceConflict(f"A deployment is already in progress for alias {alias_arn}.") from None
            self._launch(d)
        return d

    def _hook_target(self, function: arns.FunctionKey, hook: str) -> tuple[arns.FunctionKey, str | None]:
        """The hook function ``hook`` names (a name or an ARN), which must exist and be of the
        deployed function's account: a deployment never invokes another account's function."""
        account = arns.key_account(function)
        name, qualifier = self.functions.ref(hook, account_id=account)
        if arns.key_account(name) != account:
            raise InvalidParameterValue(f"The hook {hook} is not a function of account {account}.")
        self.functions.resolve(name, qualifier)
        return name, qualifier

    def _active_for(self, function_name: arns.FunctionKey, alias: str) -> str | None:
        for r in self._runners.values():
            if r.d.function_name == function_name and r.d.alias == alias and r.d.status == Status.IN_PROGRESS:
                return r.d.id
        return None

    async def get(self, deployment_id: str, *, account_id: str) -> Deployment:
        """The deployment, if it is one of ``account_id``'s functions' (else, as for an unknown
        id, ResourceNotFound: another account's deployments are invisible)."""
        d = await self._get(deployment_id)
        if arns.key_account(d.function_name) != account_id:
            raise ResourceNotFound(f"Deployment not found: {deployment_id}")
        return d

    async def _get(self, deployment_id: str) -> Deployment:
        """The deployment, whichever account's (the runner's own reads)."""
        runner = self._runners.get(deployment_id)
        if runner is not None:
            return runner.d.replace(stop_requested=runner.d.stop_requested or runner.stop_requested)
        row = await asyncio.to_thread(self.store.get, deployment_id)
        if row is None:
            raise ResourceNotFound(f"Deployment not found: {deployment_id}")
        d = Deployment.from_json(row.doc)
        return d.replace(stop_requested=d.stop_requested or row.stop_requested)

    async def events(self, deployment_id: str, *, account_id: str) -> list[Event]:
        await self.get(deployment_id, account_id=account_id)
        return await asyncio.to_thread(self.store.events, deployment_id)

    async def find(self, function_name: arns.FunctionKey | None = None, *, account_id: str) -> list[Deployment]:
        """Newest first: the deployments of ``account_id``'s functions (of one, if given)."""
        rows = await asyncio.to_thread(self.store.find, function_name, False)
        out = []
        for row in rows:
            runner = self._runners.get(row.doc["id"])
            d = runner.d if runner is not None else Deployment.from_json(row.doc)
            if arns.key_account(d.function_name) == account_id:
                out.append(d)
        return out

    async def stop(self, deployment_id: str, wait_s: float = 5.0, *, account_id: str) -> Deployment:
        """Ask a deployment to stop and roll back; waits up to ``wait_s`` for it to finish."""
        await self.get(deployment_id, account_id=account_id)  # another account's: not found
        runner = self._runners.get(deployment_id)
        if runner is None or runner.d.status in TERMINAL:
            d = await self.get(deployment_id, account_id=account_id)
            if d.status == Status.IN_PROGRESS:
                raise ResourceConflict(f"Deployment {deployment_id} is not running: the server is shutting down.")
            raise ResourceConflict(f"Deployment {deployment_id} is already completed ({d.status.value}).")
        if not runner.stop_requested:
            event = Event(self.clock.now(), "StopRequested", "Stop requested; the alias will be rolled back.", {})
            await asyncio.to_thread(self.store.request_stop, deployment_id, event)
            runner.request_stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runner.done.wait(), wait_s)
        return await self.get(deployment_id, account_id=account_id)

    async def wait(self, deployment_id: str, timeout_s: float) -> Deployment:
        """Wait until the deployment is no longer InProgress (or the timeout passes)."""
        runner = self._runners.get(deployment_id)
        if runner is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(runner.done.wait(), timeout_s)
        return await self._get(deployment_id)


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
        weights = {target.additional_version: target.additional_weight} if target.additional_version else {}
        await self.svc.aliases.update(
            self.d.function_name, alias.name, AliasUpdate(function_version=target.function_version, routing_config=weights),
            revision_id=alias.revision_id,
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
            name, qualifier = svc._hook_target(d.function_name, action.function)
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

