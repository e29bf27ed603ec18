"""``async with pool.environment(cfg, request_id, guard) as env``: the pool owns taking, starting,
keeping and destroying environments; the caller only runs the invocation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.errors import TooManyRequests
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager
from lambent.settings import WorkerSettings
from lambent.worker.assignment import StartFailed
from lambent.worker.environment import EnvState, ExecutionEnvironment
from lambent.worker.pool import WorkerPool

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


IMPORT_ERROR = b'{"errorType": "Runtime.ImportModuleError"}'


class FakeSandbox:
    exited = False

    def freeze(self) -> None:
        pass

    def thaw(self) -> None:
        pass

    async def destroy(self) -> None:
        pass


class Code:
    def __init__(self, held: bool = True) -> None:
        self.held = held

    def hold(self, sha256_hex: str, blocking: bool = True) -> bool | None:
        return self.held

    def unpin(self, sha256_hex: str) -> None:
        pass

    def release(self, sha256_hex: str) -> None:
        pass


class Guard:
    def __init__(self, current: FunctionConfig | None, *, abandon: bool = False, replace: bool = False) -> None:
        self.cfg = current
        self.abandon = abandon
        self.replace = replace
        self.calls: list[object] = []

    def unpinned(self) -> None:
        self.calls.append("unpinned")
        if self.abandon:
            raise LookupError("abandoned")

    def start_failed(self, exc: Exception | None) -> None:
        self.calls.append(("start_failed", type(exc).__name__ if exc else None))
        if self.replace:
            raise LookupError("replaced")

    def current(self) -> FunctionConfig | None:
        self.calls.append("current")
        return self.cfg


def cfg(rev: str = "r1") -> FunctionConfig:
    return FunctionConfig(account_id="000000000000", name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex="a" * 64,
                          code_sha256_b64="x", code_size=1, last_modified="now", revision_id=rev)


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What each start does, in order: None (ready), bytes (init error payload) or an exception."""
    plan: list[object] = []

    async def start(self: ExecutionEnvironment, request_id: str) -> bytes | None:
        what = plan.pop(0) if plan else None
        if isinstance(what, BaseException):
            raise what
        if what is not None:
            await self.destroy("init error")
            assert isinstance(what, bytes)
            return what
        self._sandbox = FakeSandbox()  # type: ignore[assignment]
        self.state = EnvState.BUSY
        return None

    monkeypatch.setattr(ExecutionEnvironment, "start", start)
    return plan


@pytest.fixture
async def pool(tmp_path: Path) -> WorkerPool:
    p = WorkerPool(WorkerSettings(memory_budget_mb=1024, freeze_after_ms=0), runtimes=RuntimeCatalog(),
                   code_dir=lambda sha: tmp_path / sha, logs=LogStore(tmp_path / "logs"),
                   cgroups=CgroupManager(root=str(tmp_path / "cg")), region="us-east-1")
    p.hold_code_with(Code())
    return p


async def settle(pool: WorkerPool) -> None:
    for _ in range(3):
        await asyncio.sleep(0)
        if pool._bg:
            await asyncio.gather(*list(pool._bg), return_exceptions=True)


async def test_a_cold_environment_is_started_held_busy_and_kept_warm(pool: WorkerPool, starts: list[object]) -> None:
    c = cfg()
    guard = Guard(c)
    async with pool.environment(c, "req1", guard) as env:
        assert env.state is EnvState.BUSY and pool.count(K("f")) == 1
    assert env.state is EnvState.IDLE and guard.calls == ["current"]
    # The next invocation of the same configuration gets the same environment, without a start.
    starts.append(RuntimeError("must not start again"))
    async with pool.environment(c, "req2", Guard(c)) as again:
        assert again is env and env.state is EnvState.BUSY
    assert pool.environments() == [env]


async def test_an_init_failure_raises_start_failed_with_the_payload(pool: WorkerPool, starts: list[object]) -> None:
    starts.append(IMPORT_ERROR)
    guard = Guard(cfg())
    with pytest.raises(StartFailed) as exc:
        async with pool.environment(cfg(), "req1", guard):
            pytest.fail("the block must not run")
    assert exc.value.payload == IMPORT_ERROR
    assert guard.calls == [("start_failed", None)]
    assert pool.environments() == [] and pool.count(K("f")) == 0 and pool.memory_in_use_mb == 0


async def test_a_start_that_raises_discards_the_environment_and_keeps_the_error(pool: WorkerPool,
                                                                                 starts: list[object]) -> None:
    starts.append(TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded"))
    guard = Guard(cfg())
    with pytest.raises(TooManyRequests) as exc:
        async with pool.environment(cfg(), "req1", guard):
            pytest.fail("the block must not run")
    assert exc.value.reason == "ConcurrentInvocationLimitExceeded"
    assert guard.calls == [("start_failed", "TooManyRequests")]
    assert pool.environments() == [] and pool.memory_in_use_mb == 0


async def test_the_guard_may_replace_a_start_failure(pool: WorkerPool, starts: list[object]) -> None:
    starts.append(IMPORT_ERROR)
    with pytest.raises(LookupError, match="replaced"):
        async with pool.environment(cfg(), "req1", Guard(cfg(), replace=True)):
            pass
    assert pool.environments() == []


async def test_an_error_in_the_block_destroys_the_environment(pool: WorkerPool, starts: list[object]) -> None:
    with pytest.raises(ValueError, match="boom"):
        async with pool.environment(cfg(), "req1", Guard(cfg())) as env:
            raise ValueError("boom")
    await settle(pool)
    assert env.state is EnvState.DEAD and pool.environments() == [] and pool.memory_in_use_mb == 0


async def test_an_environment_of_a_changed_function_is_not_kept(pool: WorkerPool, starts: list[object]) -> None:
    async with pool.environment(cfg("r1"), "req1", Guard(cfg("r2"))) as env:
        pass
    await settle(pool)
    assert env.state is EnvState.DEAD and pool.environments() == []
    async with pool.environment(cfg("r1"), "req2", Guard(None)) as env2:  # deleted meanwhile
        pass
    await settle(pool)
    assert env2.state is EnvState.DEAD and pool.environments() == []


async def test_an_unpinned_tree_asks_the_guard_before_starting(pool: WorkerPool, starts: list[object]) -> None:
    pool.hold_code_with(Code(held=False))
    starts.append(RuntimeError("must not start"))
    abandon = Guard(cfg(), abandon=True)
    with pytest.raises(LookupError, match="abandoned"):
        async with pool.environment(cfg(), "req1", abandon):
            pass
    assert abandon.calls == ["unpinned"] and pool.environments() == [] and starts  # never started
    starts.clear()
    go_on = Guard(cfg())
    async with pool.environment(cfg(), "req2", go_on) as env:
        assert env.state is EnvState.BUSY
    assert go_on.calls == ["unpinned", "current"]
