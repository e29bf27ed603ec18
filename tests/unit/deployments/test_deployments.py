"""Safe deployments without sandboxes: the metrics window, the pure decision core, and the
service + runner against a real store and alias registry, with a fake clock and a fake invoker."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambent.control.aliases import AliasService
from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.deployments import (
    Alarm,
    CreateDeployment,
    Deployment,
    DeploymentService,
    ErrorCode,
    Finished,
    Phase,
    Restore,
    RunHook,
    Shift,
    Status,
    WaitUntil,
    after_hook,
    after_restore,
    after_shift,
    decide,
)
from lambent.control.functions import CreateFunctionInput, FunctionService
from lambent.control.runtimes import RuntimeCatalog
from lambent.control.updates import AliasUpdate
from lambent.deployments.strategies import parse
from lambent.control.versions import VersionService
from lambent.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambent.invoke.metrics import ErrorRateWindow, WindowReading
from lambent.invoke.service import SyncResult
from lambent.settings import DeploySettings, Settings
from lambent.store import Store
from lambent.store.deployments import DeploymentStore, StoredEvent
from lambent.worker.environment import InvokeOutcome, InvokeRequest

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


T0 = 1_800_000_000.0


# == metrics window ================================================================================
class Ticker:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_window_counts_only_watched_versions() -> None:
    tick = Ticker()
    w = ErrorRateWindow(window_s=60, buckets=60, clock=tick)
    w.observe("fn", "2", True)  # not watched yet: ignored
    w.watch("fn", "2")
    for failed in (True, False, False, True):
        w.observe("fn", "2", failed)
    w.observe("fn", "1", True)
    w.observe("other", "2", True)
    assert w.reading("fn", "2") == WindowReading(4, 2)
    assert w.reading("fn", "2").error_rate == 0.5
    assert w.reading("fn", "1") == WindowReading(0, 0)
    assert WindowReading(0, 0).error_rate == 0.0


def test_window_slides_and_reuses_buckets() -> None:
    tick = Ticker()
    w = ErrorRateWindow(window_s=10, buckets=10, clock=tick)
    w.watch("fn", "2")
    w.observe("fn", "2", True)          # t=1000
    tick.t += 5
    w.observe("fn", "2", False)         # t=1005
    assert w.reading("fn", "2") == WindowReading(2, 1)
    tick.t += 5.5                       # t=1010.5: the t=1000 bucket has left the window
    assert w.reading("fn", "2") == WindowReading(1, 0)
    w.observe("fn", "2", False)         # lands in the ring slot t=1000 used: reset first
    assert w.reading("fn", "2") == WindowReading(2, 0)
    tick.t += 100                       # long silence: everything is stale
    assert w.reading("fn", "2") == WindowReading(0, 0)


def test_watch_is_reference_counted() -> None:
    w = ErrorRateWindow(clock=Ticker())
    w.watch("fn", "2")
    w.watch("fn", "2")
    w.observe("fn", "2", True)
    w.unwatch("fn", "2")
    assert w.reading("fn", "2").invocations == 1
    w.unwatch("fn", "2")
    w.unwatch("fn", "2")  # harmless
    assert w.reading("fn", "2").invocations == 0
    w.observe("fn", "2", True)
    assert w.reading("fn", "2").invocations == 0


def test_observe_is_cheap() -> None:
    """Not a benchmark (see the report for figures): a generous bound that catches O(n) work."""
    w = ErrorRateWindow()
    w.watch("fn", "2")
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        w.observe("fn", "2", False)
        w.observe("other", "1", False)
    per_call_us = (time.perf_counter() - start) / (2 * n) * 1e6
    assert per_call_us < 5, per_call_us


# == decision core ===============================================================================
def deployment(config: str = "LambdaCanary10Percent5Minutes", **kw: Any) -> Deployment:
    routing = parse(config)
    base: dict[str, Any] = {
        "id": "d-TEST00001", "function_name": "fn", "alias": "live", "from_version": "1", "to_version": "2",
        "routing": routing, "steps": routing.steps(), "time_scale": 1.0, "created_at": T0,
    }
    base.update(kw)
    return Deployment(**base)


def test_canary_without_hooks_shifts_waits_promotes_and_succeeds() -> None:
    # Given a fresh canary deployment
    d = deployment()
    # When decided at T0, then traffic shifting starts and step 0 is due now
    dec = decide(d, T0)
    assert dec.action == Shift(0)
    d = dec.deployment
    assert (d.phase, d.shift_started_at) == (Phase.ALLOW_TRAFFIC, T0)
    d, events = after_shift(d, 0, T0)
    assert [e.type for e in events] == ["TrafficShifted"] and events[0].details["Weight"] == 0.1
    assert d.current_weight == 0.1
    # Then it waits for the interval
    assert decide(d, T0 + 1).action == WaitUntil(T0 + 300)
    assert decide(d, T0 + 300).action == Shift(1)
    d, _ = after_shift(d, 1, T0 + 300)
    # And with no post-traffic hook it succeeds
    dec = decide(d, T0 + 300)
    assert dec.action == Finished()
    assert dec.deployment.status == Status.SUCCEEDED and dec.deployment.phase == Phase.END
    assert [e.type for e in dec.events] == ["Succeeded"]


def test_time_scale_shrinks_the_schedule() -> None:
    d = decide(deployment("LambdaLinear10PercentEvery10Minutes", time_scale=0.001), T0).deployment
    assert [d.due_at(i) for i in range(3)] == pytest.approx([T0, T0 + 0.6, T0 + 1.2])


def test_late_steps_are_not_skipped() -> None:
    d = decide(deployment("LambdaLinear10PercentEvery1Minute"), T0).deployment
    d, _ = after_shift(d, 0, T0)
    late = T0 + 3600  # e.g. the server was down for an hour
    for i in range(1, 10):
        assert decide(d, late).action == Shift(i)
        d, _ = after_shift(d, i, late)
    assert decide(d, late).deployment.status == Status.SUCCEEDED


def test_pre_hook_runs_first_and_its_failure_rolls_back() -> None:
    d = deployment(pre_hook="check")
    assert decide(d, T0).action == RunHook(Phase.BEFORE_ALLOW_TRAFFIC, "check")
    d, events = after_hook(d, Phase.BEFORE_ALLOW_TRAFFIC, False, T0 + 2, "hook said no", {})
    assert [e.type for e in events] == ["HookFailed", "RollbackStarted"]
    assert (d.phase, d.rollback_status, d.error_code) == (Phase.ROLLBACK, Status.ROLLED_BACK, ErrorCode.HOOK_EXECUTION_FAILURE)
    assert decide(d, T0 + 2).action == Restore()
    d, events = after_restore(d, T0 + 3)
    assert d.status == Status.ROLLED_BACK and d.current_weight == 0.0
    assert [e.type for e in events] == ["RollbackCompleted", "RolledBack"]


def test_successful_pre_hook_starts_the_schedule_when_it_returns() -> None:
    d = deployment(pre_hook="check")
    d, _ = after_hook(d, Phase.BEFORE_ALLOW_TRAFFIC, True, T0 + 7, "ok", {})
    assert (d.phase, d.shift_started_at) == (Phase.ALLOW_TRAFFIC, T0 + 7)
    assert decide(d, T0 + 7).action == Shift(0)


def test_post_hook_runs_after_promotion() -> None:
    d = decide(deployment("LambdaAllAtOnce", post_hook="smoke"), T0).deployment
    d, _ = after_shift(d, 0, T0)
    dec = decide(d, T0)
    assert dec.action == RunHook(Phase.AFTER_ALLOW_TRAFFIC, "smoke")
    d, _ = after_hook(dec.deployment, Phase.AFTER_ALLOW_TRAFFIC, True, T0 + 1, "ok", {})
    assert d.status == Status.SUCCEEDED


def test_stop_request_rolls_back_as_stopped() -> None:
    d = decide(deployment(), T0).deployment
    d, _ = after_shift(d, 0, T0)
    dec = decide(d.replace(stop_requested=True), T0 + 10)
    assert dec.action == Restore()
    assert (dec.deployment.rollback_status, dec.deployment.error_code) == (Status.STOPPED, ErrorCode.MANUAL_STOP)
    d, _ = after_restore(dec.deployment, T0 + 11)
    assert d.status == Status.STOPPED


def test_alarm_needs_enough_invocations_then_fires() -> None:
    d = decide(deployment(alarm=Alarm(0.05, 20)), T0).deployment
    d, _ = after_shift(d, 0, T0)
    # below the minimum: a 50 % error rate over 10 invocations does not fire
    assert decide(d, T0 + 5, WindowReading(10, 5)).action == WaitUntil(T0 + 300)
    # at the threshold: does not fire (it must be exceeded)
    assert decide(d, T0 + 5, WindowReading(20, 1)).action == WaitUntil(T0 + 300)
    dec = decide(d, T0 + 5, WindowReading(20, 2))
    assert dec.action == Restore()
    assert [e.type for e in dec.events] == ["AlarmTriggered", "RollbackStarted"]
    assert dec.events[0].details == {"ErrorRate": 0.1, "Errors": 2, "Invocations": 20, "Threshold": 0.05}
    assert dec.deployment.error_code == ErrorCode.ALARM_ACTIVE


def test_alarm_validates_itself() -> None:
    for bad in (-0.1, 1.0, 2, True):
        with pytest.raises(InvalidParameterValue):
            Alarm(bad, 20)
    with pytest.raises(InvalidParameterValue):
        Alarm(0.05, 0)


def test_record_round_trips_through_json() -> None:
    d = decide(deployment(pre_hook="a", post_hook="b", alarm=Alarm(0.05, 20)), T0).deployment
    d, _ = after_hook(d, Phase.BEFORE_ALLOW_TRAFFIC, True, T0, "ok", {})
    d, _ = after_shift(d, 0, T0 + 1)
    assert Deployment.from_json(json.loads(json.dumps(d.to_json()))) == d


# == service and runner (real registry + store, fake clock and invoker) ===========================
class FakeClock:
    """``auto``: every sleep returns at once, having advanced the time. Otherwise sleepers wait
    for :meth:`advance`."""

    def __init__(self, t: float = T0, auto: bool = True) -> None:
        self.t = t
        self.auto = auto
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if self.auto:
            self.t += max(0.0, seconds)
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.t + seconds, fut)
        self._sleepers.append(entry)
        try:
            await fut
        finally:
            self._sleepers.remove(entry)

    @property
    def sleeping(self) -> bool:
        return bool(self._sleepers)

    def advance(self, seconds: float) -> None:
        self.t += seconds
        for due, fut in list(self._sleepers):
            if due <= self.t and not fut.done():
                fut.set_result(None)


Behaviour = Callable[[dict[str, Any]], tuple[bytes, str | None]]


def succeeded(event: dict[str, Any]) -> tuple[bytes, str | None]:
    return b'{"status": "Succeeded"}', None


@dataclass
class FakeInvoker:
    functions: FunctionService
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    async def invoke(self, name: str, qualifier: str | None, req: InvokeRequest) -> SyncResult:
        cfg = self.functions.resolve(name, qualifier)
        event = json.loads(req.payload)
        self.calls.append((name, event))
        short = name.rsplit(":", 1)[-1]  # behaviours and gates by the hook's function name
        if short in self.gates:
            try:
                await self.gates[short].wait()
            except asyncio.CancelledError:
                self.cancelled.append(short)
                raise
        payload, error = self.behaviour.get(short, succeeded)(event)
        return SyncResult(cfg, InvokeOutcome(payload, error, b"", 1.0, 128, None))


def zip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", text)
    return buf.getvalue()


@dataclass
class World:
    store: Store
    functions: FunctionService
    aliases: AliasService
    invoker: FakeInvoker
    clock: FakeClock
    metrics: ErrorRateWindow
    dstore: DeploymentStore
    svc: DeploymentService

    def alias(self) -> tuple[str, str | None, float]:
        a = self.aliases.get(K("fn"), "live")
        return a.function_version, a.additional_version, a.additional_weight

    async def weights(self, deployment_id: str) -> list[float]:
        events = await asyncio.to_thread(self.dstore.events, deployment_id)
        return [e.details["Weight"] for e in events if e.type == "TrafficShifted"]

    async def event_types(self, deployment_id: str) -> list[str]:
        return [e.type for e in await asyncio.to_thread(self.dstore.events, deployment_id)]


def build(store: Store, tmp_path: Path, clock: FakeClock, settings: DeploySettings) -> World:
    functions = FunctionService(Settings(data_dir=tmp_path), store, CodeStore(tmp_path / "code", store, ZipLimits()), RuntimeCatalog())
    aliases = AliasService(functions)
    invoker = FakeInvoker(functions)
    metrics = ErrorRateWindow(settings.alarm_window_s, clock=clock.now)
    dstore = DeploymentStore(store.engine)
    svc = DeploymentService(settings, functions=functions, aliases=aliases, invoker=invoker, store=dstore,
                            metrics=metrics, clock=clock)
    return World(store, functions, aliases, invoker, clock, metrics, dstore, svc)


async def world(tmp_path: Path, clock: FakeClock | None = None, **settings: Any) -> World:
    store = Store.open_in(tmp_path)
    w = build(store, tmp_path, clock or FakeClock(), DeploySettings(**settings))
    fns, versions = w.functions, VersionService(w.functions)
    role = "arn:aws:iam::000000000000:role/r"
    for name in ("fn", "pre", "post"):
        await fns.create(CreateFunctionInput(account_id="000000000000", name=name, runtime="python3.11", role=role, handler="app.handler",
                                             zip_file=zip_bytes("def handler(e, c):\n    return 1\n")))
    await fns.wait_idle()
    await versions.publish(K("fn"))
    await fns.update_code(K("fn"), zip_bytes("def handler(e, c):\n    return 2\n"))
    await fns.wait_idle()
    await versions.publish(K("fn"))
    await w.aliases.create(K("fn"), "live", "1")
    await w.svc.start()
    return w


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.002)


def req(config: str = "LambdaCanary10Percent5Minutes", **kw: Any) -> CreateDeployment:
    return CreateDeployment(function_name=K("fn"), alias="live", to_version="2", routing=parse(config), **kw)


async def test_linear_deployment_runs_on_schedule_to_success(tmp_path: Path) -> None:
    # Given a function with versions 1 and 2 and alias live -> 1, and hooks that pass
    w = await world(tmp_path)
    # When it is deployed with LambdaLinear10PercentEvery1Minute
    d = await w.svc.create(req("LambdaLinear10PercentEvery1Minute", pre_hook="pre", post_hook="post"))
    d = await w.svc.wait(d.id, 5)
    # Then it went 10 %, 20 % ... 100 %, one minute apart, and the alias points at version 2
    assert d.status == Status.SUCCEEDED and d.error_code is None
    assert await w.weights(d.id) == [k / 10 for k in range(1, 11)]
    assert d.shift_started_at is not None
    assert list(d.applied) == [d.shift_started_at + 60 * k for k in range(10)]
    assert w.alias() == ("2", None, 0.0)
    types = await w.event_types(d.id)
    assert types[:3] == ["Created", "HookStarted", "HookSucceeded"]
    assert types[-3:] == ["HookStarted", "HookSucceeded", "Succeeded"]
    # And the hooks got CodeDeploy's payload
    (pre_name, pre_event), (post_name, _) = w.invoker.calls
    assert (pre_name, post_name) == (K("pre"), K("post"))
    assert pre_event["DeploymentId"] == d.id and pre_event["LifecycleEventHookExecutionId"]
    assert pre_event["LifecycleEvent"] == "BeforeAllowTraffic"
    # And the alias is free for the next deployment
    assert w.metrics.reading(K("fn"), "2").invocations == 0
    await w.svc.shutdown()


async def test_pre_hook_failure_leaves_the_alias_alone(tmp_path: Path) -> None:
    w = await world(tmp_path)
    w.invoker.behaviour["pre"] = lambda e: (b'{"errorMessage": "boom"}', "Unhandled")
    d = await w.svc.wait((await w.svc.create(req(pre_hook="pre"))).id, 5)
    assert (d.status, d.error_code) == (Status.ROLLED_BACK, ErrorCode.HOOK_EXECUTION_FAILURE)
    assert "function error (Unhandled)" in (d.error_message or "")
    assert await w.weights(d.id) == []
    assert w.alias() == ("1", None, 0.0)
    await w.svc.shutdown()


async def test_post_hook_reporting_failed_rolls_back(tmp_path: Path) -> None:
    w = await world(tmp_path)
    w.invoker.behaviour["post"] = lambda e: (json.dumps({"status": "Failed", "why": e["DeploymentId"]}).encode(), None)
    d = await w.svc.wait((await w.svc.create(req(post_hook="post"))).id, 5)
    assert (d.status, d.error_code) == (Status.ROLLED_BACK, ErrorCode.HOOK_EXECUTION_FAILURE)
    assert await w.weights(d.id) == [0.1, 1.0]
    assert (await w.event_types(d.id))[-4:] == ["HookFailed", "RollbackStarted", "RollbackCompleted", "RolledBack"]
    assert w.alias() == ("1", None, 0.0)
    await w.svc.shutdown()


async def test_stop_during_the_canary_wait_rolls_back(tmp_path: Path) -> None:
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock)
    d = await w.svc.create(req())
    runner = w.svc._runners[d.id]
    await until(lambda: w.alias() == ("1", "2", 0.1) and bool(runner.d.applied))
    d = await w.svc.stop(d.id, account_id=ACCOUNT_ID)
    assert (d.status, d.error_code) == (Status.STOPPED, ErrorCode.MANUAL_STOP)
    assert w.alias() == ("1", None, 0.0)
    assert (await w.event_types(d.id))[-4:] == ["StopRequested", "RollbackStarted", "RollbackCompleted", "Stopped"]
    with pytest.raises(ResourceConflict, match="already completed"):
        await w.svc.stop(d.id, account_id=ACCOUNT_ID)
    await w.svc.shutdown()


async def test_stop_during_a_hook_abandons_it(tmp_path: Path) -> None:
    w = await world(tmp_path)
    w.invoker.gates["pre"] = asyncio.Event()
    d = await w.svc.create(req(pre_hook="pre"))
    await until(lambda: bool(w.invoker.calls))
    d = await w.svc.stop(d.id, account_id=ACCOUNT_ID)
    assert d.status == Status.STOPPED
    assert w.invoker.cancelled == ["pre"]
    assert "HookAbandoned" in await w.event_types(d.id)
    assert w.alias() == ("1", None, 0.0)
    await w.svc.shutdown()


async def test_error_rate_alarm_rolls_back(tmp_path: Path) -> None:
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock, alarm_poll_s=1.0)
    d = await w.svc.create(req(error_rate_threshold=0.05, alarm_min_invocations=10))
    runner = w.svc._runners[d.id]
    await until(lambda: bool(runner.d.applied) and clock.sleeping)
    # Given 9 invocations of version 2, 3 of them failed: fewer than the minimum
    for i in range(9):
        w.metrics.observe(K("fn"), "2", i % 3 == 0)
    for _ in range(50):
        w.metrics.observe(K("fn"), "1", True)  # the old version's errors do not count
    clock.advance(1)
    await asyncio.sleep(0.05)
    await until(lambda: clock.sleeping)
    assert (await w.svc.get(d.id, account_id=ACCOUNT_ID)).status == Status.IN_PROGRESS
    # When the 10th arrives (4 errors of 10 > 5 %) and the alarm is next evaluated
    w.metrics.observe(K("fn"), "2", True)
    clock.advance(1)
    d = await w.svc.wait(d.id, 5)
    # Then the deployment rolls back
    assert (d.status, d.error_code) == (Status.ROLLED_BACK, ErrorCode.ALARM_ACTIVE)
    assert "40.0%" in (d.error_message or "")
    assert await w.weights(d.id) == [0.1]
    assert w.alias() == ("1", None, 0.0)
    await w.svc.shutdown()


async def test_alias_changed_outside_the_deployment_fails_it_without_touching_the_alias(tmp_path: Path) -> None:
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock)
    d = await w.svc.create(req())
    runner = w.svc._runners[d.id]
    await until(lambda: bool(runner.d.applied) and clock.sleeping)
    await w.aliases.update(K("fn"), "live", AliasUpdate(routing_config={"2": 0.5}))
    clock.advance(300)
    d = await w.svc.wait(d.id, 5)
    assert (d.status, d.error_code) == (Status.FAILED, ErrorCode.ALIAS_MODIFIED)
    assert w.alias() == ("1", "2", 0.5)
    await w.svc.shutdown()


async def test_validation(tmp_path: Path) -> None:
    w = await world(tmp_path)
    cases: list[tuple[CreateDeployment, type[Exception], str]] = [
        (CreateDeployment(K("fn"), "live", "1", parse("LambdaAllAtOnce")), InvalidParameterValue, "already points"),
        (CreateDeployment(K("fn"), "live", "$LATEST", parse("LambdaAllAtOnce")), InvalidParameterValue, "published"),
        (CreateDeployment(K("fn"), "live", "9", parse("LambdaAllAtOnce")), ResourceNotFound, ":9"),
        (CreateDeployment(K("fn"), "nope", "2", parse("LambdaAllAtOnce")), ResourceNotFound, "Alias not found"),
        (CreateDeployment(K("nofn"), "live", "2", parse("LambdaAllAtOnce")), ResourceNotFound, "nofn"),
        (req(pre_hook="missing"), ResourceNotFound, "missing"),
        (req(error_rate_threshold=1.5), InvalidParameterValue, "threshold"),
    ]
    for request, error, match in cases:
        with pytest.raises(error, match=match):
            await w.svc.create(request)
    # an alias that already splits traffic is refused
    await w.aliases.update(K("fn"), "live", AliasUpdate(routing_config={"2": 0.2}))
    with pytest.raises(ResourceConflict, match="RoutingConfig"):
        await w.svc.create(req())
    await w.aliases.update(K("fn"), "live", AliasUpdate(routing_config={}))
    assert await w.svc.find(K("fn"), account_id=ACCOUNT_ID) == []
    await w.svc.shutdown()


async def test_one_active_deployment_per_alias(tmp_path: Path) -> None:
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock)
    first = await w.svc.create(req())
    with pytest.raises(ResourceConflict, match=first.id):
        await w.svc.create(req("LambdaAllAtOnce"))
    await w.svc.stop(first.id, account_id=ACCOUNT_ID)
    clock.advance(1)
    second = await w.svc.create(req("LambdaAllAtOnce"))
    assert (await w.svc.wait(second.id, 5)).status == Status.SUCCEEDED
    assert [d.id for d in await w.svc.find(K("fn"), account_id=ACCOUNT_ID)] == [second.id, first.id]
    await w.svc.shutdown()


async def test_restart_resumes_at_the_original_schedule(tmp_path: Path) -> None:
    # Given a canary at 10 %, its promotion due at T0 + 300
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock)
    d = await w.svc.create(req())
    await until(lambda: w.alias() == ("1", "2", 0.1) and bool(w.svc._runners[d.id].d.applied))
    # When the server shuts down and comes back 100 s later
    await w.svc.shutdown()
    assert (await w.svc.get(d.id, account_id=ACCOUNT_ID)).status == Status.IN_PROGRESS
    clock2 = FakeClock(T0 + 100, auto=False)
    w2 = build(w.store, tmp_path, clock2, DeploySettings())
    await w2.svc.start()
    assert w2.alias() == ("1", "2", 0.1)
    # Then nothing happens before the original due time
    await until(lambda: clock2.sleeping)
    clock2.advance(150)
    await asyncio.sleep(0.05)
    await until(lambda: clock2.sleeping)
    assert (await w2.svc.get(d.id, account_id=ACCOUNT_ID)).applied_steps == 1
    # And the promotion happens once it has passed
    clock2.advance(60)
    d = await w2.svc.wait(d.id, 5)
    assert d.status == Status.SUCCEEDED
    assert d.due_at(1) == T0 + 300 and d.applied[1] == T0 + 310
    assert "Resumed" in await w2.event_types(d.id)
    assert w2.alias() == ("2", None, 0.0)
    await w2.svc.shutdown()


async def test_a_step_written_just_before_a_crash_is_only_recorded(tmp_path: Path) -> None:
    # Given a deployment at 10 % whose promotion reached the alias but not the deployment record
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock)
    d = await w.svc.create(req())
    await until(lambda: bool(w.svc._runners[d.id].d.applied))
    await w.svc.shutdown()
    await w.aliases.update(K("fn"), "live", AliasUpdate(function_version="2", routing_config={}))
    revision = w.aliases.get(K("fn"), "live").revision_id
    # When the server resumes it after the due time
    w2 = build(w.store, tmp_path, FakeClock(T0 + 400, auto=False), DeploySettings())
    await w2.svc.start()
    d = await w2.svc.wait(d.id, 5)
    # Then the step is recorded without another UpdateAlias
    assert d.status == Status.SUCCEEDED
    assert w2.aliases.get(K("fn"), "live").revision_id == revision
    assert await w2.weights(d.id) == [0.1, 1.0]
    await w2.svc.shutdown()


async def test_stop_requested_before_a_crash_still_rolls_back_after_it(tmp_path: Path) -> None:
    clock = FakeClock(auto=False)
    w = await world(tmp_path, clock)
    w.invoker.gates["post"] = asyncio.Event()
    d = await w.svc.create(req("LambdaAllAtOnce", post_hook="post"))
    await until(lambda: w.alias() == ("2", None, 0.0) and bool(w.invoker.calls))
    # the stop is persisted, but the server goes down before the runner acts on it
    runner = w.svc._runners[d.id]
    await asyncio.to_thread(w.dstore.request_stop, d.id, StoredEvent(clock.t, "StopRequested", "", {}))
    await w.svc.shutdown()
    assert runner.d.status == Status.IN_PROGRESS
    w2 = build(w.store, tmp_path, FakeClock(T0 + 50, auto=False), DeploySettings())
    await w2.svc.start()
    d = await w2.svc.wait(d.id, 5)
    assert d.status == Status.STOPPED
    assert w2.alias() == ("1", None, 0.0)
    await w2.svc.shutdown()
