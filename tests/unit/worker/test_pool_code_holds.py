"""An environment keeps its code tree for as long as it lives: the pool pins the tree when it makes
the environment and lets go (unpin, then release: deleted if nothing else uses it) only once the
environment is destroyed, whichever way it goes (discard, eviction, shutdown)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager
from lambent.settings import WorkerSettings
from lambent.worker.environment import EnvState
from lambent.worker.pool import WorkerPool


class FakeCode:
    """The CodeHolder side of a CodeStore: records calls; ``gone`` trees cannot be held."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.gone = gone or set()
        self.busy = False
        self.calls: list[tuple[str, str]] = []

    def hold(self, sha256_hex: str, blocking: bool = True) -> bool | None:
        if not blocking and self.busy:
            self.busy = False  # the lock is taken: the pool asks again from a thread
            return None
        self.calls.append(("hold", sha256_hex))
        return sha256_hex not in self.gone

    def unpin(self, sha256_hex: str) -> None:
        self.calls.append(("unpin", sha256_hex))

    def release(self, sha256_hex: str) -> None:
        self.calls.append(("release", sha256_hex))


def cfg(name: str = "f", sha: str = "a" * 64, memory_mb: int = 128) -> FunctionConfig:
    return FunctionConfig(name=name, runtime="python3.11", role="r", handler="app.handler", code_hash_hex=sha,
                          code_sha256_b64="x", code_size=1, last_modified="now", revision_id="rev-" + sha[:4],
                          memory_mb=memory_mb)


@pytest.fixture
def pool(tmp_path: Path) -> WorkerPool:
    return WorkerPool(WorkerSettings(memory_budget_mb=256), runtimes=RuntimeCatalog(), code_dir=lambda sha: tmp_path / sha,
                      logs=LogStore(tmp_path / "logs"), cgroups=CgroupManager(root=str(tmp_path / "cg")), region="us-east-1")


async def settle(pool: WorkerPool) -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)
        if pool._bg:
            await asyncio.gather(*list(pool._bg), return_exceptions=True)


async def test_a_new_environment_holds_its_tree_until_it_is_destroyed(pool: WorkerPool) -> None:
    code = FakeCode()
    pool.hold_code_with(code)
    # When an environment is made
    env = await pool.new_environment(cfg())
    # Then its tree is pinned, and nothing is let go while it lives
    assert env.code_held
    assert code.calls == [("hold", "a" * 64)]
    # When it is discarded
    pool.discard(env)
    await settle(pool)
    # Then the pin goes, and the package is released (deleted if no version uses it any more)
    assert code.calls == [("hold", "a" * 64), ("unpin", "a" * 64), ("release", "a" * 64)]
    assert not env.code_held
    # and a second destroy does not let go twice
    pool.discard(env)
    await settle(pool)
    assert len(code.calls) == 3


async def test_a_tree_already_gone_is_not_held_nor_let_go(pool: WorkerPool) -> None:
    code = FakeCode(gone={"b" * 64})
    pool.hold_code_with(code)
    env = await pool.new_environment(cfg(sha="b" * 64))
    assert not env.code_held
    pool.discard(env)
    await settle(pool)
    assert code.calls == [("hold", "b" * 64)]


async def test_evicted_and_shut_down_environments_let_go(pool: WorkerPool) -> None:
    code = FakeCode()
    pool.hold_code_with(code)
    # Given two idle 128 MB environments filling the 256 MB budget
    first = await pool.new_environment(cfg("f1", "1" * 64))
    second = await pool.new_environment(cfg("f2", "2" * 64))
    for env in (first, second):
        env._sandbox = None
        env.state = EnvState.IDLE
        pool._idle.setdefault((env.cfg.name, env.cfg.version, env.cfg.revision_id), []).append(env)
    first.last_used -= 10
    # When a third one needs room, the least recently used is evicted and lets go of its tree
    third = await pool.new_environment(cfg("f3", "3" * 64))
    assert ("unpin", "1" * 64) in code.calls and ("release", "1" * 64) in code.calls
    assert ("unpin", "2" * 64) not in code.calls
    # When the pool shuts down, every other environment lets go too
    await pool.shutdown()
    for sha in ("2" * 64, "3" * 64):
        assert ("unpin", sha) in code.calls and ("release", sha) in code.calls
    assert not third.code_held


async def test_a_failing_release_does_not_break_the_destroy(pool: WorkerPool) -> None:
    class Failing(FakeCode):
        def release(self, sha256_hex: str) -> None:
            raise OSError("disk gone")

    code = Failing()
    pool.hold_code_with(code)
    env = await pool.new_environment(cfg())
    pool.discard(env)
    await settle(pool)
    assert ("unpin", "a" * 64) in code.calls
    assert pool.count("f") == 0


async def test_without_a_code_holder_nothing_is_held(pool: WorkerPool) -> None:
    env = await pool.new_environment(cfg())
    assert not env.code_held
    pool.discard(env)
    await settle(pool)


async def test_a_busy_code_store_is_asked_again_from_a_thread(pool: WorkerPool) -> None:
    code = FakeCode()
    code.busy = True
    pool.hold_code_with(code)
    env = await pool.new_environment(cfg())
    assert env.code_held and code.calls == [("hold", "a" * 64)]
