"""One invocation's hold on an execution environment, as an async context manager.

``async with pool.environment(cfg, request_id, guard) as env`` takes a warm environment of exactly
``cfg`` or starts a new one; on a normal exit the environment goes back to the pool (kept warm if
``guard.current()`` still matches it), on an exception it is destroyed. A cold start whose init
fails raises :class:`StartFailed` carrying the AWS error payload (already logged); the environment
is then destroyed. The caller no longer pairs take/start/release/discard by hand.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from lambent.control.model import FunctionConfig

if TYPE_CHECKING:
    from lambent.worker.environment import ExecutionEnvironment, InvokeOutcome


class StartFailed(Exception):
    """The init phase of a cold start failed (Runtime.ImportModuleError, Runtime.ExitError,
    Sandbox.Timedout, Runtime.InvalidEntrypoint...). ``payload`` is the error payload the
    Invoke API returns with X-Amz-Function-Error: Unhandled."""

    def __init__(self, payload: bytes, outcome: InvokeOutcome | None = None) -> None:
        super().__init__("execution environment failed to start")
        self.payload = payload
        #: What the invocation reports (its log tail: the init's error lines, INIT_REPORT and the
        #: invocation's START/END/REPORT; its durations), when the environment logged one.
        self.outcome = outcome


class StartGuard(Protocol):
    """What the invoker decides around a cold start (see InvokeService: a function may change
    while one of its environments starts)."""

    def unpinned(self) -> None:
        """The new environment's code tree was released before it could be pinned; raise to
        abandon the start (the environment is then discarded), return to start anyway."""

    def start_failed(self, exc: Exception | None) -> None:
        """The start raised ``exc`` (None: init failed, :class:`StartFailed` follows); raise to
        report something else instead."""

    def current(self) -> FunctionConfig | None:
        """The configuration an environment of this invocation's version should now have
        (None: deleted); the pool keeps the environment warm only if it matches."""


class EnvironmentSource(Protocol):
    """What :class:`Assignment` needs of :class:`lambent.worker.pool.WorkerPool`."""

    def take_idle(self, cfg: FunctionConfig) -> ExecutionEnvironment | None: ...
    async def new_environment(self, cfg: FunctionConfig) -> ExecutionEnvironment: ...
    def release(self, env: ExecutionEnvironment, current: FunctionConfig | None) -> None: ...
    def discard(self, env: ExecutionEnvironment) -> None: ...


class Assignment:
    """Scope: one invocation. A class rather than @asynccontextmanager: it runs for every warm
    invoke, and a generator-based manager costs several times as much."""

    __slots__ = ("_pool", "_cfg", "_request_id", "_guard", "_env")

    def __init__(self, pool: EnvironmentSource, cfg: FunctionConfig, request_id: str, guard: StartGuard) -> None:
        self._pool = pool
        self._cfg = cfg
        self._request_id = request_id
        self._guard = guard
        self._env: ExecutionEnvironment | None = None

    async def __aenter__(self) -> ExecutionEnvironment:
        pool = self._pool
        env = pool.take_idle(self._cfg)
        if env is None:
            env = await pool.new_environment(self._cfg)
            if not env.code_held:
                try:
                    self._guard.unpinned()
                except BaseException:
                    pool.discard(env)
                    raise
            try:
                failure = await env.start(self._request_id)
            except BaseException as exc:
                pool.discard(env)
                if isinstance(exc, Exception):
                    self._guard.start_failed(exc)
                raise
            if failure is not None:
                pool.discard(env)
                self._guard.start_failed(None)
                raise StartFailed(failure, env.failed_outcome)
        self._env = env
        return env

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        env = self._env
        assert env is not None  # noqa: S101 - __aexit__ runs only after __aenter__ returned
        self._env = None
        if exc_type is None:
            self._pool.release(env, self._guard.current())
        else:
            self._pool.discard(env)
