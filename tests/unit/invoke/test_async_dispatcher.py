"""The async dispatcher against a fake invoke side (the real queue store on a temp SQLite file).

The fake keeps AWS's rules that matter to the dispatcher: an invocation needs an idle environment
of its function or room in a memory budget for a new one, else it is throttled.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lambent.errors import TooManyRequests
from lambent.invoke.async_queue import AsyncInvoker
from lambent.settings import AsyncSettings, Settings
from lambent.store.async_queue import AsyncEventStore


@dataclass
class FakeConfig:
    version: str = "$LATEST"


@dataclass
class FakeOutcome:
    function_error: str | None = None
    payload: bytes = b"null"


@dataclass
class FakeResult:
    config: FakeConfig = field(default_factory=FakeConfig)
    outcome: FakeOutcome = field(default_factory=FakeOutcome)


class FakeFunctions:
    def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None, invoking: bool = False) -> object:
        return object()

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


class FakePool:
    def __init__(self, max_envs: int) -> None:
        self.max_envs = max_envs
        self.envs: dict[str, int] = {}
        self.busy: dict[str, int] = {}

    def count(self, name: str) -> int:
        return self.envs.get(name, 0)

    def total(self) -> int:
        return sum(self.envs.values())

    def evictable(self, for_function: str) -> str | None:
        """A function with an idle environment that a new one for ``for_function`` may evict."""
        return next((n for n, c in self.envs.items() if n != for_function and c > self.busy.get(n, 0)), None)


class FakeInvoker:
    """Environments of every function share ``max_envs`` slots (the memory budget)."""

    def __init__(self, max_envs: int, duration_s: float = 0.002, *, concurrency_left: bool = True) -> None:
        self.pool = FakePool(max_envs)
        #: Functions too large for the budget: never room for them.
        self.too_large: set[str] = set()
        self.duration_s = duration_s
        self.concurrency_left = concurrency_left
        self.throttles = 0
        self.delivered: list[tuple[str, str]] = []
        self.max_busy: dict[str, int] = {}

    def has_concurrency(self, name: str) -> bool:
        return self.concurrency_left

    def memory_of(self, name: str) -> int:
        return 1  # every environment takes one of the budget's max_envs slots

    def has_room(self, name: str, claimed: dict[str, int] | None = None, pending_mb: int = 0) -> bool:
        """As WorkerPool.has_room: free slots, plus idle environments of other functions that the
        dispatch pass under way has not claimed."""
        pool = self.pool
        if name in self.too_large:
            return False
        free = pool.max_envs - pool.total() - pending_mb
        skip = claimed or {}
        idle = sum(max(0, c - pool.busy.get(n, 0) - skip.get(n, 0)) for n, c in pool.envs.items() if n != name)
        return free + idle >= 1

    async def invoke(self, name: str, qualifier: str | None, req: object) -> FakeResult:
        pool = self.pool
        if not self.concurrency_left:
            self.throttles += 1
            raise TooManyRequests("Rate Exceeded.", reason="ReservedFunctionConcurrentInvocationLimitExceeded")
        if pool.busy.get(name, 0) >= pool.envs.get(name, 0):
            if name in self.too_large:
                self.throttles += 1
                raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")
            if pool.total() >= pool.max_envs:
                victim = pool.evictable(name)
                if victim is None:
                    self.throttles += 1
                    raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")
                pool.envs[victim] -= 1
            pool.envs[name] = pool.envs.get(name, 0) + 1
        pool.busy[name] = pool.busy.get(name, 0) + 1
        self.max_busy[name] = max(self.max_busy.get(name, 0), pool.busy[name])
        try:
            await asyncio.sleep(self.duration_s)
        finally:
            pool.busy[name] -= 1
        self.delivered.append((name, req.request_id))  # type: ignore[attr-defined]
        return FakeResult()


class NoConfigs:
    def lookup(self, name: str, qualifier: str | None) -> None:
        return None


def make_invoker(tmp_path: Path, fake: FakeInvoker) -> tuple[AsyncInvoker, AsyncEventStore]:
    settings = Settings.from_env({}, data_dir=tmp_path)
    settings = Settings(**{**settings.__dict__, "async_": AsyncSettings(time_scale=0.001)})
    store = AsyncEventStore(tmp_path / "async-queue.db")
    invoker = AsyncInvoker(settings, FakeFunctions(), fake, store, NoConfigs())  # type: ignore[arg-type]
    return invoker, store


async def wait_until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def queued_rows(path: Path) -> list[tuple[int, int]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute("select attempts, backoff_step from async_events"))
    finally:
        db.close()


async def test_a_full_memory_budget_makes_events_wait_instead_of_throttling(tmp_path: Path) -> None:
    fake = FakeInvoker(max_envs=3)
    invoker, _ = make_invoker(tmp_path, fake)
    await invoker.start()
    try:
        ids = [await invoker.enqueue("f", None, b"{}") for _ in range(200)]
        await wait_until(lambda: len(fake.delivered) == 200 and invoker.queued == 0)
    finally:
        await invoker.stop()
    assert fake.throttles == 0
    assert sorted(rid for _, rid in fake.delivered) == sorted(ids)
    assert fake.pool.envs["f"] == 3  # scaled out to the budget, no further
    assert queued_rows(tmp_path / "async-queue.db") == []


async def test_functions_take_turns_when_one_has_a_backlog(tmp_path: Path) -> None:
    fake = FakeInvoker(max_envs=2, duration_s=0.005)
    invoker, _ = make_invoker(tmp_path, fake)
    await invoker.start()
    try:
        await asyncio.gather(*(invoker.enqueue("busy", None, b"{}") for _ in range(100)))
        busy_done_before = len(fake.delivered)
        quiet = await invoker.enqueue("quiet", None, b"{}")
        await wait_until(lambda: ("quiet", quiet) in fake.delivered)
        busy_done_before_quiet = fake.delivered.index(("quiet", quiet)) - busy_done_before
        await wait_until(lambda: invoker.queued == 0)
    finally:
        await invoker.stop()
    # "quiet" finds both environments held by "busy": "busy" leaves one idle for it to take over
    # instead of draining its whole backlog first, and "quiet" is never throttled.
    assert busy_done_before_quiet < 10, busy_done_before_quiet
    assert fake.throttles == 0


async def test_a_throttled_function_with_nothing_running_backs_off_as_on_aws(tmp_path: Path) -> None:
    fake = FakeInvoker(max_envs=1, concurrency_left=False)
    invoker, store = make_invoker(tmp_path, fake)
    await invoker.start()
    try:
        await invoker.enqueue("f", None, b"{}")
        await wait_until(lambda: fake.throttles >= 2)
        fake.concurrency_left = True
        await wait_until(lambda: len(fake.delivered) == 1 and invoker.queued == 0)
    finally:
        await invoker.stop()
    assert len(fake.delivered) == 1


async def test_events_of_a_previous_run_are_delivered_after_start(tmp_path: Path) -> None:
    fake = FakeInvoker(max_envs=2)
    first, _ = make_invoker(tmp_path, fake)
    ids = [await first.enqueue("f", None, b"{}") for _ in range(5)]  # dispatcher never started
    await first.stop()
    second, _ = make_invoker(tmp_path, fake)
    await second.start()
    try:
        await wait_until(lambda: len(fake.delivered) == 5 and second.queued == 0)
    finally:
        await second.stop()
    assert sorted(rid for _, rid in fake.delivered) == sorted(ids)


async def test_starvation_is_bounded_for_everyone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function that can never get memory is attempted (throttled, as on AWS) once its wait is
    over, and a function with an idle environment is not held back by it any longer."""
    monkeypatch.setattr("lambent.invoke.async_queue._STARVED_MAX_WAIT_S", 0.2)
    fake = FakeInvoker(max_envs=1)
    fake.too_large.add("big")
    invoker, _ = make_invoker(tmp_path, fake)
    await invoker.start()
    try:
        await invoker.enqueue("small", None, b"{}")
        await wait_until(lambda: len(fake.delivered) == 1)  # "small" now has an idle environment
        await invoker.enqueue("big", None, b"{}")
        small = [await invoker.enqueue("small", None, b"{}") for _ in range(3)]
        await wait_until(lambda: fake.throttles >= 1, timeout_s=5)
        await wait_until(lambda: {rid for name, rid in fake.delivered if name == "small"} >= set(small), timeout_s=5)
        fake.too_large.clear()
        await wait_until(lambda: invoker.queued == 0)
    finally:
        await invoker.stop()
    assert [name for name, _ in fake.delivered].count("big") == 1


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)


async def test_an_account_cannot_queue_more_than_its_bytes_and_gets_room_back_as_events_run(tmp_path: Path) -> None:
    # Given a cap of 10 bytes of queued payload per account, and an invoke side that cannot run yet
    fake = FakeInvoker(max_envs=1, concurrency_left=False)
    settings = Settings.from_env({}, data_dir=tmp_path)
    settings = Settings(**{**settings.__dict__,
                           # real-time backoff (1 s first): no event can age out while the test runs
                           "async_": AsyncSettings(time_scale=1.0, max_queued_bytes_per_account=10)})
    store = AsyncEventStore(tmp_path / "async-queue.db")
    invoker = AsyncInvoker(settings, FakeFunctions(), fake, store, NoConfigs())  # type: ignore[arg-type]
    a, b = "111111111111:function:f", "222222222222:function:f"
    await invoker.start()
    try:
        # When account A queues 8 bytes, a 4-byte event more is refused (429) and B is not affected
        await invoker.enqueue(a, None, b'"12345"')  # 7 bytes
        await invoker.enqueue(a, None, b"1")
        with pytest.raises(TooManyRequests) as refused:
            await invoker.enqueue(a, None, b'"ab"')
        assert refused.value.reason == "CallerRateLimitExceeded" and "at most 10 bytes per account" in refused.value.message
        await invoker.enqueue(b, None, b'"123456"')
        assert len(queued_rows(tmp_path / "async-queue.db")) == 3  # the refused one was not stored
    finally:
        await invoker.stop()
    # Then a restart counts what is queued again
    store = AsyncEventStore(tmp_path / "async-queue.db")
    again = AsyncInvoker(settings, FakeFunctions(), fake, store, NoConfigs())  # type: ignore[arg-type]
    await again.start()
    try:
        with pytest.raises(TooManyRequests):
            await again.enqueue(a, None, b'"ab"')
        # and events that ran give their room back
        fake.concurrency_left = True
        await wait_until(lambda: again.queued == 0 and len(fake.delivered) == 3, timeout_s=60)
        await again.enqueue(a, None, b'"12345678"')  # 10 bytes: the whole share again
    finally:
        await again.stop()


async def test_stop_right_after_an_accept_does_not_hang(tmp_path: Path) -> None:
    # Python 3.11's wait_for swallowed the stop's cancellation when it met the accept's wake-up; the
    # dispatcher then slept until its next timer (a throttled event's 1 s, 2 s ... backoff) or for ever.
    fake = FakeInvoker(max_envs=1, concurrency_left=False)
    settings = Settings.from_env({}, data_dir=tmp_path)
    settings = Settings(**{**settings.__dict__, "async_": AsyncSettings(time_scale=1.0)})
    store = AsyncEventStore(tmp_path / "async-queue.db")
    invoker = AsyncInvoker(settings, FakeFunctions(), fake, store, NoConfigs())  # type: ignore[arg-type]
    await invoker.start()
    for _ in range(3):
        await invoker.enqueue("000000000000:function:f", None, b"{}")
    await asyncio.wait_for(invoker.stop(), 10)  # raises TimeoutError if the dispatcher ignores the stop
    assert len(queued_rows(tmp_path / "async-queue.db")) == 3  # the events stay queued for the next start
