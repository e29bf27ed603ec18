"""InvokeService when the function changes under a cold start: a start that fails for code an
update or delete replaced runs again on the current configuration, or answers ResourceNotFound;
a failure of the current code is the function's own error; retries are bounded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from lambent.control.model import FunctionConfig, State
from lambent.errors import ResourceNotFound
from lambent.invoke.concurrency import ConcurrencyLimiter
from lambent.invoke.service import MAX_STARTS, InvokeService
from lambent.worker.assignment import Assignment
from lambent.worker.environment import InvokeOutcome, InvokeRequest

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


IMPORT_ERROR = b'{"errorType": "Runtime.ImportModuleError"}'


def cfg(rev: str) -> FunctionConfig:
    return FunctionConfig(account_id="000000000000", name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex=rev * 64,
                          code_sha256_b64="x", code_size=1, last_modified="now", revision_id=rev,
                          state=State.ACTIVE)


@dataclass
class Entry:
    reserved_concurrency: int | None = None


class FakeFunctions:
    """$LATEST of one function ``f``; ``current`` None means deleted."""

    def __init__(self, current: FunctionConfig | None) -> None:
        self.current = current
        self.code = object()

    def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None, invoking: bool = False) -> FunctionConfig:
        if self.current is None:
            raise ResourceNotFound(f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}")
        return self.current

    def entry(self, name: str) -> Entry:
        self.resolve(name)
        return Entry()


@dataclass
class FakeEnv:
    cfg: FunctionConfig
    pool: FakePool
    code_held: bool = True
    failed_outcome: InvokeOutcome | None = None

    async def start(self, request_id: str) -> bytes | None:
        self.pool.started.append(self.cfg.revision_id)
        return self.pool.on_start(self)

    async def invoke(self, req: InvokeRequest) -> InvokeOutcome:
        return InvokeOutcome(f"ran {self.cfg.revision_id}".encode(), None, b"", 1.0, 1, None)


@dataclass
class FakePool:
    on_start: Any
    hold: bool = True
    started: list[str] = field(default_factory=list)
    discarded: int = 0
    released: int = 0

    def hold_code_with(self, code: object) -> None:
        pass

    def take_idle(self, cfg: FunctionConfig) -> None:
        return None

    async def new_environment(self, cfg: FunctionConfig) -> FakeEnv:
        return FakeEnv(cfg, self, code_held=self.hold)

    def discard(self, env: FakeEnv) -> None:
        self.discarded += 1

    def release(self, env: FakeEnv, current: FunctionConfig | None) -> None:
        self.released += 1

    def environment(self, cfg: FunctionConfig, request_id: str, guard: Any) -> Assignment:
        return Assignment(self, cfg, request_id, guard)  # type: ignore[arg-type]


def service(functions: FakeFunctions, pool: FakePool) -> InvokeService:
    return InvokeService(functions, pool, ConcurrencyLimiter(1000, lambda _account: 0))  # type: ignore[arg-type]


REQ = InvokeRequest(request_id="r1", payload=b"{}", invoked_arn="arn")


async def test_an_init_failure_of_code_deleted_meanwhile_answers_not_found() -> None:
    functions = FakeFunctions(cfg("a"))

    def delete_during_start(env: FakeEnv) -> bytes:
        functions.current = None  # DeleteFunction ran while the runtime imported the handler
        return IMPORT_ERROR

    pool = FakePool(delete_during_start)
    with pytest.raises(ResourceNotFound, match="Function not found"):
        await service(functions, pool).invoke(K("f"), None, REQ)
    assert pool.started == ["a"] and pool.discarded == 1


async def test_an_init_failure_of_code_replaced_meanwhile_runs_the_new_code() -> None:
    functions = FakeFunctions(cfg("a"))

    def update_during_first_start(env: FakeEnv) -> bytes | None:
        if env.cfg.revision_id == "a":
            functions.current = cfg("b")  # UpdateFunctionCode ran during the start
            return IMPORT_ERROR
        return None

    pool = FakePool(update_during_first_start)
    result = await service(functions, pool).invoke(K("f"), None, REQ)
    assert result.outcome.payload == b"ran b" and result.outcome.function_error is None
    assert result.config.revision_id == "b"
    assert pool.started == ["a", "b"]


async def test_an_init_failure_of_the_current_code_is_the_functions_error() -> None:
    pool = FakePool(lambda env: IMPORT_ERROR)
    result = await service(FakeFunctions(cfg("a")), pool).invoke(K("f"), None, REQ)
    assert result.outcome.function_error == "Unhandled" and result.outcome.payload == IMPORT_ERROR
    assert pool.started == ["a"]


async def test_starts_are_bounded_when_every_start_sees_a_new_update() -> None:
    functions = FakeFunctions(cfg("0"))

    def always_updated(env: FakeEnv) -> bytes:
        functions.current = cfg(str(int(env.cfg.revision_id) + 1))
        return IMPORT_ERROR

    pool = FakePool(always_updated)
    result = await service(functions, pool).invoke(K("f"), None, REQ)
    assert len(pool.started) == MAX_STARTS
    assert result.outcome.function_error == "Unhandled"  # the last start's failure stands


async def test_a_tree_released_before_the_pin_is_not_started_on() -> None:
    functions = FakeFunctions(cfg("a"))
    calls = 0

    async def new_environment(c: FunctionConfig) -> FakeEnv:
        nonlocal calls
        calls += 1
        if calls == 1:
            functions.current = cfg("b")  # the update released "a" before the pool could pin it
            return FakeEnv(c, pool, code_held=False)
        return FakeEnv(c, pool)

    pool = FakePool(lambda env: None)
    pool.new_environment = new_environment  # type: ignore[method-assign]
    result = await service(functions, pool).invoke(K("f"), None, REQ)
    assert pool.started == ["b"] and result.outcome.payload == b"ran b"
    assert pool.discarded == 1


async def test_a_weighted_alias_picking_its_other_version_does_not_look_like_a_change() -> None:
    # Given alias "live" whose primary is version 1 and whose weight picked version 2 for this call
    v1, v2 = cfg("1").replace(version="1"), cfg("2").replace(version="2")

    class AliasFunctions(FakeFunctions):
        def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None, invoking: bool = False) -> FunctionConfig:
            if qualifier == "live":
                return v2 if draw is not None else v1  # the draw picks 2; without one, the primary
            return {"1": v1, "2": v2}[qualifier or "2"]

    pool = FakePool(lambda env: IMPORT_ERROR)
    # When version 2 fails its init and nothing changed
    result = await service(AliasFunctions(v2), pool).invoke(K("f"), "live", REQ)
    # Then that is version 2's own error, after one start
    assert pool.started == ["2"]
    assert result.outcome.function_error == "Unhandled" and result.config.version == "2"
