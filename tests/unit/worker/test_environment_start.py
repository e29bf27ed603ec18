"""ExecutionEnvironment.start at its edges: a sandbox that cannot start is lambent's failure
(EnvironmentStartFailed, the cause in context only), and a server shutdown that destroys the
environment while it starts ends the start cleanly (429), whatever await it was in, with nothing
left running and never an IllegalTransition.

The sandbox layer is replaced by a stand-in (these are the worker's decisions; the real sandbox
failing is tests/integration/test_start_failures.py); the Runtime API endpoint is the real one,
on a real loopback socket."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.errors import SERVICE_FAILURE_MESSAGE, EnvironmentStartFailed, ServiceError, TooManyRequests
from lambent.runtime_api import EndpointBusy
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager, Sandbox, SandboxError
from lambent.sandbox.spec import SandboxSpec
from lambent.settings import WorkerSettings
from lambent.worker import environment as environment_module
from lambent.worker.assignment import StartFailed
from lambent.worker.environment import EnvState, InvokeRequest
from lambent.worker.logcapture import LogCapture
from lambent.worker.pool import WorkerPool


class StandInSandbox:
    """What the environment uses of a started Sandbox: a listening loopback socket, an output
    pipe, an exit status that never comes (the runtime never calls /next)."""

    def __init__(self) -> None:
        self.listener: socket.socket | None = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.output_fd, self._w = os.pipe()
        os.set_blocking(self.output_fd, False)
        self.destroyed = False
        self._exit: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    @property
    def exited(self) -> bool:
        return self.destroyed

    async def wait(self) -> object:
        return await asyncio.shield(self._exit)

    def set_cpu_millicores(self, millicores: int) -> None:
        pass

    def memory_peak_bytes(self) -> int:
        return 37 * 1024 * 1024 - 5  # 37 MB, rounded up

    async def destroy(self) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        if self.listener is not None:
            self.listener.close()
        os.close(self._w)
        os.close(self.output_fd)


class Sandboxes:
    """Sandbox.start replaced: each start waits for ``gate`` (if set), then raises ``fail`` or
    returns a stand-in; ``entered`` is set when a start is under way."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.fail: SandboxError | None = None
        self.entered = asyncio.Event()
        self.made: list[StandInSandbox] = []

    async def start(self, spec: SandboxSpec, cgroups: object, options: object = None) -> StandInSandbox:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        sandbox = StandInSandbox()
        self.made.append(sandbox)
        return sandbox


@pytest.fixture
def sandboxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandboxes]:
    stand_in = Sandboxes()
    monkeypatch.setattr(Sandbox, "start", stand_in.start)
    yield stand_in
    for sandbox in stand_in.made:
        if not sandbox.destroyed and sandbox.listener is not None:
            sandbox.listener.close()


def cfg() -> FunctionConfig:
    return FunctionConfig(name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex="a" * 64,
                          code_sha256_b64="x", code_size=1, last_modified="now", revision_id="r1")


@pytest.fixture
def pool(tmp_path: Path) -> WorkerPool:
    (tmp_path / ("a" * 64)).mkdir()
    return WorkerPool(WorkerSettings(memory_budget_mb=1024, init_timeout_s=30), runtimes=RuntimeCatalog(),
                      code_dir=lambda sha: tmp_path / sha, logs=LogStore(tmp_path / "logs"),
                      cgroups=CgroupManager(root=str(tmp_path / "cg")), region="us-east-1")


async def _until(predicate: object) -> None:
    """Let the loop run until ``predicate()`` holds (no wall-clock wait: yields only)."""
    for _ in range(10_000):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_shutdown_while_the_sandbox_starts_ends_the_start_cleanly(pool: WorkerPool, sandboxes: Sandboxes) -> None:
    sandboxes.gate = asyncio.Event()
    env = await pool.new_environment(cfg())
    start = asyncio.ensure_future(env.start("req-1"))
    await sandboxes.entered.wait()
    # When the server shuts down while bwrap is still setting the sandbox up
    await pool.shutdown()
    assert env.state is EnvState.DEAD
    sandboxes.gate.set()
    # Then the start ends with the pool's closing answer, not an IllegalTransition (DEAD -> BUSY)
    with pytest.raises(TooManyRequests):
        await start
    # and the sandbox that came up too late is destroyed, not leaked
    assert len(sandboxes.made) == 1 and sandboxes.made[0].destroyed
    assert env.state is EnvState.DEAD


async def test_shutdown_during_the_init_phase_is_no_init_error(pool: WorkerPool, sandboxes: Sandboxes) -> None:
    env = await pool.new_environment(cfg())
    start = asyncio.ensure_future(env.start("req-2"))
    # The runtime is up but has not reached /next yet (the init phase)
    await _until(lambda: env._death is not None)
    await pool.shutdown()
    # Then the invocation is not told the function failed to initialise (no Runtime.* payload)
    with pytest.raises(TooManyRequests):
        await start
    assert sandboxes.made[0].destroyed and env.state is EnvState.DEAD


async def test_a_sandbox_that_cannot_start_is_lambents_failure_with_its_cause_in_context(
    pool: WorkerPool, sandboxes: Sandboxes
) -> None:
    sandboxes.fail = SandboxError("/usr/bin/bwrap is missing or not executable", sandbox_id="e1",
                                  hint="install bubblewrap")
    env = await pool.new_environment(cfg())
    with pytest.raises(EnvironmentStartFailed) as caught:
        await env.start("req-3")
    exc = caught.value
    # The caller is told nothing of the host (paths, bwrap's words); the log line gets it all
    assert exc.message == SERVICE_FAILURE_MESSAGE
    assert "bwrap" not in exc.message and "/usr" not in exc.message
    assert exc.context["request_id"] == "req-3" and exc.context["function"] == "f:$LATEST"
    assert exc.context["cause"] == "/usr/bin/bwrap is missing or not executable"
    assert exc.context["hint"] == "install bubblewrap" and exc.context["error"] == "SandboxError"
    assert env.state is EnvState.DEAD


class Guard:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def unpinned(self) -> None:
        pass

    def start_failed(self, exc: Exception | None) -> None:
        self.failed.append(type(exc).__name__ if exc else "init")

    def current(self) -> FunctionConfig | None:
        return cfg()


async def test_a_failed_start_through_the_pool_frees_its_place(pool: WorkerPool, sandboxes: Sandboxes) -> None:
    sandboxes.fail = SandboxError("sandbox start timed out after 5.0s")
    guard = Guard()
    with pytest.raises(EnvironmentStartFailed):
        async with pool.environment(cfg(), "req-4", guard):
            raise AssertionError("never entered")
    assert guard.failed == ["EnvironmentStartFailed"]
    assert pool.count("f") == 0 and pool.memory_in_use_mb == 0


async def test_an_init_error_is_still_the_functions(pool: WorkerPool, sandboxes: Sandboxes) -> None:
    """The destroyed-checks do not swallow a real init failure: a runtime that dies in init is
    reported as before (Runtime.ExitError payload, StartFailed)."""
    env = await pool.new_environment(cfg())
    start = asyncio.ensure_future(env.start("req-5"))
    await _until(lambda: env._death is not None)
    # the runtime exits on its own (not a shutdown)
    env.death_reason = "exit status 1"
    assert env._endpoint is not None
    env._endpoint.abort(environment_module._Died("exit status 1"))
    payload = await start
    assert payload is not None and b"Runtime.ExitError" in payload
    assert env.state is EnvState.DEAD
    assert isinstance(StartFailed(payload).payload, bytes)
    # And the invocation's outcome carries the tail Lambda shows: INIT_REPORT, START, END, REPORT
    out = env.failed_outcome
    assert out is not None and out.payload == payload and out.function_error == "Unhandled"
    lines = out.log_tail.decode().splitlines()
    assert [line.split(" ")[0] for line in lines] == ["INIT_REPORT", "START", "END", "REPORT"]
    assert lines[0].endswith("\tPhase: init\tStatus: error\tError Type: Runtime.ExitError")
    assert lines[1] == "START RequestId: req-5 Version: $LATEST"
    assert "\tMax Memory Used: 37 MB\t" in lines[3] and lines[3].endswith("Status: error\tError Type: Runtime.ExitError\t")
    assert out.init_duration_ms is not None and out.max_memory_mb == 37


class BrokenEndpoint:
    """A Runtime API endpoint whose invoke breaks its own invariant (a RuntimeError)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def invoke(self, inv: object) -> object:
        raise self.exc

    def abort(self, exc: BaseException) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("exc", [RuntimeError("Running state without a current invocation"),
                                 EndpointBusy("an invocation is already in flight")])
async def test_a_runtime_api_failure_mid_invoke_is_a_service_error_with_its_cause(
    pool: WorkerPool, exc: Exception
) -> None:
    env = await pool.new_environment(cfg())
    sandbox = StandInSandbox()
    env._sandbox = sandbox  # type: ignore[assignment]
    env._capture = LogCapture(sandbox.output_fd, env._writer, 1024)
    env._endpoint = BrokenEndpoint(exc)  # type: ignore[assignment]
    env.state = EnvState.BUSY
    with pytest.raises(ServiceError) as caught:
        await env.invoke(InvokeRequest(request_id="req-9", payload=b"{}", invoked_arn="arn"))
    error = caught.value
    assert error.message == SERVICE_FAILURE_MESSAGE
    assert error.context["hint"] == str(exc) and error.context["error"] == type(exc).__name__
    assert error.context["request_id"] == "req-9"
    # and it is not healthy any more: the Assignment destroys it
    assert not env.healthy
    await env.destroy()
    await sandbox.destroy()


class CgroupTrouble(StandInSandbox):
    """A sandbox whose cgroup files refuse writes and reads (a cgroup removed under it)."""

    def freeze(self) -> None:
        raise SandboxError("cannot write cgroup.freeze", path="/sys/fs/cgroup/x/cgroup.freeze")

    def thaw(self) -> None:
        raise SandboxError("cannot write cgroup.freeze", path="/sys/fs/cgroup/x/cgroup.freeze")

    def memory_peak_bytes(self) -> int:
        raise SandboxError("cannot read memory.peak")


async def test_an_environment_whose_cgroup_fails_is_retired_not_served(pool: WorkerPool) -> None:
    env = await pool.new_environment(cfg())
    sandbox = CgroupTrouble()
    env._sandbox = sandbox  # type: ignore[assignment]
    env.state = EnvState.BUSY
    # When it is parked and the freeze fails
    pool.release(env, cfg())
    env._freeze()
    # Then it is no longer healthy, and the next invocation does not get it
    assert not env.healthy
    assert pool.take_idle(cfg()) is None
    await asyncio.gather(*list(pool._bg))
    assert pool.count("f") == 0 and env.state is EnvState.DEAD and sandbox.destroyed


async def test_an_environment_that_cannot_be_thawed_is_discarded(pool: WorkerPool) -> None:
    env = await pool.new_environment(cfg())
    sandbox = CgroupTrouble()
    env._sandbox = sandbox  # type: ignore[assignment]
    env.state = EnvState.BUSY
    pool.release(env, cfg())
    env._frozen = True  # frozen by an earlier write that worked
    assert pool.take_idle(cfg()) is None
    await asyncio.gather(*list(pool._bg))
    assert pool.count("f") == 0 and sandbox.destroyed
