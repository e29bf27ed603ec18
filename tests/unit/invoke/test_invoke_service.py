"""InvokeService's lifecycle: the concurrency slot and the environment are given back whichever
way an invocation ends (success, function error, init failure, an exception), a throttle takes no
environment, and drain() waits for what is in flight."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from lambent.control.model import FunctionConfig, State
from lambent.errors import TooManyRequests
from lambent.invoke.concurrency import ConcurrencyLimiter
from lambent.invoke.service import InvokeService
from lambent.worker.assignment import Assignment
from lambent.worker.environment import InvokeOutcome, InvokeRequest

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


IMPORT_ERROR = b'{"errorType": "Runtime.ImportModuleError"}'
CFG = FunctionConfig(account_id="000000000000", name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex="a" * 64,
                     code_sha256_b64="x", code_size=1, last_modified="now", revision_id="r1", state=State.ACTIVE)
REQ = InvokeRequest(request_id="r1", payload=b"{}", invoked_arn="arn")


@dataclass
class Entry:
    reserved_concurrency: int | None = None


class Functions:
    def __init__(self, reserved: int | None = None) -> None:
        self.code = object()
        self.reserved = reserved

    def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None, invoking: bool = False) -> FunctionConfig:
        return CFG

    def entry(self, name: str) -> Entry:
        return Entry(self.reserved)


@dataclass
class Env:
    cfg: FunctionConfig
    pool: Pool
    code_held: bool = True
    failed_outcome: InvokeOutcome | None = None

    async def start(self, request_id: str) -> bytes | None:
        self.pool.started += 1
        return self.pool.init_error

    async def invoke(self, req: InvokeRequest) -> InvokeOutcome:
        await self.pool.gate.wait()
        if self.pool.crash:
            raise RuntimeError("runtime api broke")
        return InvokeOutcome(b"ok", self.pool.function_error, b"", 1.0, 1, None)


@dataclass
class Pool:
    init_error: bytes | None = None
    function_error: str | None = None
    crash: bool = False
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    idle: list[Env] = field(default_factory=list)
    started: int = 0
    discarded: int = 0
    kept: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    def hold_code_with(self, code: object) -> None:
        pass

    def environment(self, cfg: FunctionConfig, request_id: str, guard: Any) -> Assignment:
        return Assignment(self, cfg, request_id, guard)  # type: ignore[arg-type]

    def take_idle(self, cfg: FunctionConfig) -> Env | None:
        return self.idle.pop() if self.idle else None

    async def new_environment(self, cfg: FunctionConfig) -> Env:
        return Env(cfg, self)

    def release(self, env: Env, current: FunctionConfig | None) -> None:
        assert current == env.cfg
        self.kept += 1
        self.idle.append(env)

    def discard(self, env: Env) -> None:
        self.discarded += 1


def service(pool: Pool, functions: Functions | None = None, limit: int = 10) -> tuple[InvokeService, ConcurrencyLimiter]:
    limiter = ConcurrencyLimiter(limit, lambda _account: 0)
    svc = InvokeService(functions or Functions(), pool, limiter)  # type: ignore[arg-type]
    return svc, limiter


async def test_a_warm_environment_serves_the_second_invocation_and_everything_is_given_back() -> None:
    pool = Pool()
    svc, limiter = service(pool)
    seen: list[tuple[str, str, bool]] = []
    svc.observers.append(lambda cfg, out, rid, q: seen.append((cfg.name, cfg.version, out.function_error is not None)))
    for _ in range(2):
        result = await svc.invoke(K("f"), None, REQ)
        assert result.outcome.payload == b"ok" and result.config is CFG
    assert pool.started == 1 and pool.kept == 2 and pool.discarded == 0
    assert limiter.running() == 0 and svc.in_flight == 0
    assert seen == [("f", "$LATEST", False), ("f", "$LATEST", False)]


async def test_a_function_error_keeps_the_environment_and_is_observed() -> None:
    pool = Pool(function_error="Unhandled")
    svc, limiter = service(pool)
    seen: list[tuple[str, str, bool]] = []
    svc.observers.append(lambda cfg, out, rid, q: seen.append((cfg.name, cfg.version, out.function_error is not None)))
    result = await svc.invoke(K("f"), None, REQ)
    assert result.outcome.function_error == "Unhandled" and pool.kept == 1
    assert seen == [("f", "$LATEST", True)] and limiter.running() == 0


async def test_an_init_failure_is_the_unhandled_payload_and_frees_the_slot() -> None:
    pool = Pool(init_error=IMPORT_ERROR)
    svc, limiter = service(pool)
    result = await svc.invoke(K("f"), None, REQ)
    assert result.outcome == InvokeOutcome(IMPORT_ERROR, "Unhandled", b"", 0.0, 0, None)
    assert pool.discarded == 1 and pool.kept == 0 and limiter.running() == 0 and svc.in_flight == 0


async def test_an_exception_during_the_invoke_destroys_the_environment_and_frees_the_slot() -> None:
    pool = Pool(crash=True)
    svc, limiter = service(pool)
    with pytest.raises(RuntimeError, match="runtime api broke"):
        await svc.invoke(K("f"), None, REQ)
    assert pool.discarded == 1 and pool.kept == 0 and limiter.running() == 0 and svc.in_flight == 0


async def test_a_throttled_invocation_takes_no_environment() -> None:
    pool = Pool()
    pool.gate.clear()
    svc, limiter = service(pool, Functions(reserved=1))
    first = asyncio.create_task(svc.invoke(K("f"), None, REQ))
    await asyncio.sleep(0)
    assert limiter.running(K("f")) == 1 and svc.in_flight == 1
    with pytest.raises(TooManyRequests) as exc:
        await svc.invoke(K("f"), None, REQ)
    assert exc.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert pool.started == 1 and svc.in_flight == 1
    pool.gate.set()
    await first
    assert limiter.running() == 0


async def test_drain_waits_for_in_flight_invocations() -> None:
    pool = Pool()
    pool.gate.clear()
    svc, _ = service(pool)
    task = asyncio.create_task(svc.invoke(K("f"), None, REQ))
    await asyncio.sleep(0)
    assert await svc.drain(0.01) is False
    pool.gate.set()
    assert await svc.drain(1.0) is True
    await task


async def test_a_drain_that_times_out_does_not_cut_short_another() -> None:
    pool = Pool()
    pool.gate.clear()
    svc, _ = service(pool)
    assert await svc.drain(0.0) is True  # nothing in flight
    task = asyncio.create_task(svc.invoke(K("f"), None, REQ))
    await asyncio.sleep(0)
    patient = asyncio.create_task(svc.drain(5.0))
    assert await svc.drain(0.01) is False
    pool.gate.set()
    assert await patient is True
    await task
    assert svc.in_flight == 0 and await svc.drain(0.0) is True


async def test_every_throttle_is_told_to_on_throttle_with_the_version() -> None:
    """Lambda's Throttles metric: a refusal by the limiter and one for the memory budget (the
    pool's TooManyRequests) are both reported, with the qualifier asked and the version resolved;
    an invocation that ran is not."""
    pool = Pool()
    pool.gate.clear()
    svc, _ = service(pool, Functions(reserved=1))
    throttles: list[tuple[str, str | None, str]] = []
    svc.on_throttle = lambda name, qualifier, version: throttles.append((name, qualifier, version))
    first = asyncio.create_task(svc.invoke("f", "live", REQ))
    await asyncio.sleep(0)
    with pytest.raises(TooManyRequests):
        await svc.invoke("f", "live", REQ)
    pool.gate.set()
    await first
    assert throttles == [("f", "live", "$LATEST")]

    async def no_memory(cfg: FunctionConfig) -> Env:
        raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")

    pool.idle.clear()
    pool.new_environment = no_memory  # type: ignore[method-assign]
    with pytest.raises(TooManyRequests):
        await svc.invoke("f", None, REQ)
    assert throttles == [("f", "live", "$LATEST"), ("f", None, "$LATEST")]


async def test_tracing_finishes_only_invocations_with_something_to_record() -> None:
    # issue 12: PassThrough without a header (the common case) gets its header and no finish call
    from lambent.observability.tracing import Sampler, Tracer

    finished: list[str] = []

    class Counting(Tracer):
        def finish(self, ctx: Any, **kw: Any) -> None:
            finished.append(kw["request_id"])
            super().finish(ctx, **kw)

    tracer = Counting(lambda account, seg: True, account="123456789012", sampler=Sampler(1000, 1.0))
    svc, _ = service(Pool())
    svc.tracer = tracer
    passthrough = await svc.invoke("f", None, REQ)
    assert passthrough.trace_header is not None and passthrough.trace_header.endswith(";Sampled=0")
    assert finished == []

    class ActiveFunctions(Functions):
        def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None,
                    invoking: bool = False) -> FunctionConfig:
            return replace(CFG, tracing_mode="Active")

    svc, _ = service(Pool(), ActiveFunctions())
    svc.tracer = tracer
    traced = await svc.invoke("f", None, REQ)
    assert traced.trace_header is not None and traced.trace_header.endswith(";Sampled=1")
    assert finished == [REQ.request_id]
