"""The synchronous invoke path: resolve the version, take a concurrency slot, get an environment
(warm or cold), run, give everything back. Kept lean: it runs for every invocation.

The slot and the environment are context managers of their owners (``ConcurrencyLimiter.lease``,
``WorkerPool.environment``); this module only decides what a change of the function during a
cold start means (:class:`_Attempt`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lambent import arns
from lambent.control.functions import FunctionService
from lambent.control.model import FunctionConfig, State
from lambent.errors import ResourceConflict, ResourceNotFound, ServiceError, TooManyRequests
from lambent.invoke.concurrency import ConcurrencyLimiter
from lambent.worker.assignment import StartFailed
from lambent.worker.environment import InvokeOutcome, InvokeRequest
from lambent.worker.pool import WorkerPool, pool_key

log = logging.getLogger(__name__)

#: Cold starts one invocation may make when each finds its code replaced or deleted meanwhile; the
#: last one's outcome stands (only a storm of updates gets there).
MAX_STARTS = 4

#: Called after every invocation with (function name, executed version, function error?).
#: Told of every invocation that ran or failed to start: (the version's configuration, the
#: outcome, the request id, the qualifier invoked). Hot path: observers must be cheap.
OutcomeObserver = Callable[[FunctionConfig, InvokeOutcome, str, "str | None"], None]


@dataclass(frozen=True)
class SyncResult:
    config: FunctionConfig
    outcome: InvokeOutcome
    #: the X-Ray trace header the invocation ran with (what Invoke returns as X-Amzn-Trace-Id)
    trace_header: str | None = None


class TraceContextLike(Protocol):
    @property
    def header(self) -> str: ...


class InvocationTracer(Protocol):
    """Per-invocation tracing (``lambent.observability.tracing.Tracer``): ``begin`` before the
    environment is taken, ``finish`` once the outcome is known. Hot path: both must be cheap."""

    def begin(self, mode: str, incoming: str | None, function: str, queued_at: float | None = None) -> Any: ...

    def finish(self, ctx: Any, *, function: str, version: str, arn: str, request_id: str, memory_mb: int,
               duration_ms: float, init_ms: float | None, function_error: str | None,
               error_type: str | None = None) -> None: ...


class InvokeService:
    """Scope: one per server."""

    def __init__(self, functions: FunctionService, pool: WorkerPool, limiter: ConcurrencyLimiter) -> None:
        self.functions = functions
        self.pool = pool
        self.limiter = limiter
        # Environments pin their code tree, so an update or delete cannot remove files under them.
        pool.hold_code_with(functions.code)
        self.in_flight = 0
        self.observers: list[OutcomeObserver] = []
        #: X-Ray tracing of every invocation (None: the incoming header, if any, passes unchanged)
        self.tracer: InvocationTracer | None = None
        #: Told of every request refused for concurrency: (function, qualifier, version).
        self.on_throttle: Callable[[str, str | None, str], None] | None = None
        #: Set by drain() while it waits; resolved by the invocation that leaves none in flight
        #: (an Event cleared and set by every invocation would cost the warm path two calls).
        self._drained: asyncio.Future[None] | None = None

    def check_invocable(self, cfg: FunctionConfig) -> None:
        if cfg.state != State.ACTIVE:
            raise ResourceConflict(
                "The operation cannot be performed at this time. The function is currently in the following state: "
                f"{cfg.state.value}"
            )

    # What the async dispatcher asks before it starts an event, so as to wait rather than be throttled.
    def has_concurrency(self, name: arns.FunctionKey) -> bool:
        """Whether an invocation of ``name`` would get a concurrency slot now."""
        try:
            entry = self.functions.entry(name)
        except ResourceNotFound:
            return True  # the invoke reports it
        return self.limiter.can_acquire(name, entry.reserved_concurrency)

    def memory_of(self, name: arns.FunctionKey) -> int:
        """MemorySize of a new environment of ``name`` (its $LATEST; 0 if it no longer exists)."""
        try:
            return self.functions.entry(name).latest.memory_mb
        except ResourceNotFound:
            return 0

    def has_room(self, name: arns.FunctionKey, claimed: Mapping[str, int] | None = None, pending_mb: int = 0) -> bool:
        """Whether the memory budget has room for one more environment of ``name``; see
        :meth:`WorkerPool.has_room` for ``claimed`` and ``pending_mb``."""
        memory_mb = self.memory_of(name)
        return memory_mb == 0 or self.pool.has_room(memory_mb, name, claimed, pending_mb)

    async def invoke(self, name: arns.FunctionKey, qualifier: str | None, req: InvokeRequest) -> SyncResult:
        starts = 1
        while True:
            try:
                return await self._invoke_once(name, qualifier, req, retry_if_changed=starts < MAX_STARTS)
            except _ChangedDuringStart:
                # Its code went away with an update or a delete while a new environment started: as
                # on AWS the invocation runs the current code (or finds the function gone: 404),
                # never reports the vanished code's failure as the function's error.
                starts += 1

    async def _invoke_once(self, name: arns.FunctionKey, qualifier: str | None, req: InvokeRequest,
                           retry_if_changed: bool = True) -> SyncResult:
        # An alias with routing weights picks its version here, per invocation.
        cfg = self.functions.resolve(name, qualifier, draw=random.random(), invoking=True)
        self.check_invocable(cfg)
        tracer, trace = self.tracer, None
        if tracer is not None:
            trace = tracer.begin(cfg.tracing_mode, req.trace_id, cfg.name, req.queued_at)
            req = req.with_trace(trace.header)
        attempt = _Attempt(self, name, qualifier, cfg, retry_if_changed)
        try:
            lease = self.limiter.lease(name, self.functions.entry(name).reserved_concurrency)
        except TooManyRequests:
            self._throttled(name, qualifier, cfg)
            raise
        # Each step is owned by what holds its state: the limiter gives the slot back, the pool
        # keeps or destroys the environment, whichever way the block ends.
        with lease:
            self.in_flight += 1
            try:
                try:
                    async with self.pool.environment(cfg, req.request_id, attempt) as env:
                        outcome = await env.invoke(req)
                except TooManyRequests:  # no memory for a new environment
                    self._throttled(name, qualifier, cfg)
                    raise
                except StartFailed as failed:
                    outcome = failed.outcome or InvokeOutcome(failed.payload, "Unhandled", b"", 0.0, 0, None)
                    self._observe(cfg, outcome, req.request_id, qualifier)
                    if trace is not None and trace.finish:
                        self._trace(trace, cfg, req, outcome)
                    return SyncResult(cfg, outcome, req.trace_id)
                except ServiceError as exc:
                    # The worker translated a sandbox or Runtime API failure; its cause is logged
                    # here, once, with what only this layer knows (the ARN invoked).
                    self._log_service_failure(name, qualifier, req.request_id, exc)
                    raise
                self._observe(cfg, outcome, req.request_id, qualifier)
                if trace is not None and trace.finish:  # nothing to record: no call
                    self._trace(trace, cfg, req, outcome)
                return SyncResult(cfg, outcome, req.trace_id)
            finally:
                self.in_flight -= 1
                if self.in_flight == 0 and self._drained is not None:
                    if not self._drained.done():
                        self._drained.set_result(None)
                    self._drained = None

    def _changed(self, name: arns.FunctionKey, qualifier: str | None, cfg: FunctionConfig) -> bool:
        """Whether the version ``cfg`` started for was replaced or deleted since. Its own version
        is looked up, not ``qualifier``: a weighted alias may have picked the other version, and
        an alias moved meanwhile leaves the version it picked as it was."""
        current = self._current(name, cfg.version)
        return current is None or pool_key(current) != pool_key(cfg)

    def _retry_or_not_found(self, name: arns.FunctionKey, qualifier: str | None, retry: bool,
                            cause: BaseException | None = None) -> None:
        """A start failed and the configuration changed meanwhile: start again on the current one
        (``retry``), or, out of attempts, answer 404 if the function is gone (else return: the
        failure stands)."""
        if retry:
            raise _ChangedDuringStart from cause
        self.functions.resolve(name, qualifier, invoking=True)

    def _log_service_failure(self, name: arns.FunctionKey, qualifier: str | None, request_id: str, exc: ServiceError) -> None:
        ctx = exc.context
        log.error(
            "invocation %s of %s failed in lambent: %s (%s%s)%s", request_id, self.functions.arn(name, qualifier),
            ctx.get("cause", exc.message), ctx.get("error", type(exc).__name__),
            f", environment {ctx['environment']}" if "environment" in ctx else "",
            f"; hint: {ctx['hint']}" if ctx.get("hint") else "",
        )

    def _trace(self, trace: Any, cfg: FunctionConfig, req: InvokeRequest, outcome: InvokeOutcome) -> None:
        assert self.tracer is not None  # noqa: S101 - only called with a trace it began
        error_type = _error_type(outcome.payload) if outcome.function_error else None
        self.tracer.finish(trace, function=cfg.name, version=cfg.version, arn=req.invoked_arn, request_id=req.request_id,
                           memory_mb=cfg.memory_mb, duration_ms=outcome.duration_ms, init_ms=outcome.init_duration_ms,
                           function_error=outcome.function_error, error_type=error_type)
    def _throttled(self, name: str, qualifier: str | None, cfg: FunctionConfig) -> None:
        if self.on_throttle is not None:  # Lambda's Throttles metric (sync and async requests)
            self.on_throttle(name, qualifier, cfg.version)

    def _observe(self, cfg: FunctionConfig, outcome: InvokeOutcome, request_id: str, qualifier: str | None) -> None:
        for observer in self.observers:
            observer(cfg, outcome, request_id, qualifier)

    def _current(self, name: arns.FunctionKey, version: str) -> FunctionConfig | None:
        try:
            return self.functions.resolve(name, version if version != arns.LATEST else None)
        except ResourceNotFound:
            return None

    async def drain(self, timeout_s: float) -> bool:
        """Wait for in-flight invocations (graceful shutdown); False if the grace period ran out."""
        if self.in_flight == 0:
            return True
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()
        try:
            # Shielded: a drain that times out must not cancel the future another drain awaits.
            await asyncio.wait_for(asyncio.shield(self._drained), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False


def _error_type(payload: bytes) -> str | None:
    """errorType of a function error's payload (at most its first 4 KB are looked at)."""
    try:
        doc = json.loads(payload[:4096])
    except (ValueError, RecursionError):
        return None
    value = doc.get("errorType") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


class _ChangedDuringStart(Exception):
    """An environment failed to start for a configuration that has since been replaced or deleted."""


class _Attempt:
    """One start of an invocation, as the pool's :class:`~lambent.worker.assignment.StartGuard`:
    decides whether a cold start that failed, or found its code tree gone, ran on code an update
    or a delete replaced meanwhile (then the invocation starts again, or answers 404)."""

    __slots__ = ("_service", "_name", "_qualifier", "_cfg", "_retry")

    def __init__(self, service: InvokeService, name: arns.FunctionKey, qualifier: str | None, cfg: FunctionConfig,
                 retry: bool) -> None:
        self._service = service
        self._name = name
        self._qualifier = qualifier
        self._cfg = cfg
        self._retry = retry

    def unpinned(self) -> None:
        # Released between resolve and the pin: do not even start on a vanishing tree.
        if self._retry and self._service._changed(self._name, self._qualifier, self._cfg):
            raise _ChangedDuringStart

    def start_failed(self, exc: Exception | None) -> None:
        # An init error (Runtime.ImportModuleError, ExitError...) or a start that raised, for code
        # that was replaced or deleted meanwhile, is not the current function's error.
        service = self._service
        if service._changed(self._name, self._qualifier, self._cfg):
            service._retry_or_not_found(self._name, self._qualifier, self._retry, exc)

    def current(self) -> FunctionConfig | None:
        version = self._cfg.version
        try:  # InvokeService._current, inlined: this runs on every warm invoke
            return self._service.functions.resolve(self._name, version if version != arns.LATEST else None)
        except ResourceNotFound:
            return None
