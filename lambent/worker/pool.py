"""Warm execution environments, per function version, under one memory budget.

An invoke takes an idle environment of the exact configuration (name, version, revision) if there
is one (most recently used first, so the warmest serves), otherwise starts a new one. Idle
environments are frozen, reaped after ``idle_ttl_s``, and evicted least-recently-used first when a
new environment would exceed ``memory_budget_mb``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.errors import LambentError, TooManyRequests, VpcAccessFailed
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager, SandboxOptions
from lambent.settings import RuntimeApiSettings, WorkerSettings
from lambent.worker.assignment import Assignment, StartGuard
from lambent.worker.credentials import CredentialsFor
from lambent.worker.environment import EnvironmentNetwork, EnvState, ExecutionEnvironment, InsideServer, XrayDaemonServer
from lambent.worker.vpc import InterfaceCap, VpcEnvironmentNetwork, VpcPlacer

log = logging.getLogger(__name__)

PoolKey = tuple[str, str, str]


def pool_key(cfg: FunctionConfig) -> PoolKey:
    return (cfg.key, cfg.version, cfg.environment_revision)


class CodeHolder(Protocol):
    """What the pool needs of the code store (:class:`lambent.control.code.CodeStore`): an
    environment's code tree stays on disk while its sandbox mounts it, even if an update or a
    delete releases the package meanwhile; the last environment to go deletes it."""

    def hold(self, sha256_hex: str, blocking: bool = True) -> bool | None: ...
    def unpin(self, sha256_hex: str) -> None: ...
    def release(self, sha256_hex: str) -> None: ...


class WorkerPool:
    """All execution environments of the server. Scope: one per server; event-loop only."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        runtimes: RuntimeCatalog,
        code_dir: Callable[[str], Path],
        logs: LogStore,
        cgroups: CgroupManager,
        region: str,
        sandbox_options: SandboxOptions | None = None,
        runtime_api: RuntimeApiSettings | None = None,
    ) -> None:
        self.settings = settings
        self.sandbox_options = sandbox_options
        #: What each environment may hold of the server through its Runtime API.
        self.runtime_api = runtime_api
        self.runtimes = runtimes
        self.code_dir = code_dir
        self.logs = logs
        self.cgroups = cgroups
        self.region = region
        self._idle: dict[PoolKey, list[ExecutionEnvironment]] = {}
        self._all: set[ExecutionEnvironment] = set()
        #: Live environments per function name (``count`` runs for every async dispatch).
        self._per_function: dict[str, int] = {}
        self._reserved_mb = 0
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        self._bg: set[asyncio.Task[None]] = set()
        self._code: CodeHolder | None = None
        self._inside: InsideServer | None = None
        self._credentials_for: CredentialsFor | None = None
        self._network: EnvironmentNetwork | None = None
        self._xray: XrayDaemonServer | None = None
        self._vpc: VpcPlacer | None = None
        #: VPC interfaces of this server's environments (worker/vpc.py).
        self.vpc_interfaces = InterfaceCap(settings.vpc_interfaces_max)

    def serve_inside_with(self, inside: InsideServer | None) -> None:
        """Give every environment started from now on lambent's API inside its sandbox
        (``lambent.api.inside.InsideApi``) and ``AWS_ENDPOINT_URL`` naming it."""
        self._inside = inside

    def xray_with(self, xray: XrayDaemonServer | None) -> None:
        """Give every environment started from now on an X-Ray daemon at 127.0.0.1:2000 in its
        sandbox (``AWS_XRAY_DAEMON_ADDRESS``)."""
        self._xray = xray

    def network_with(self, network: EnvironmentNetwork | None) -> None:
        """Put every environment started from now on on the default network
        (``lambent.network.DefaultNetwork``, started and closed by the platform)."""
        self._network = network

    def vpc_with(self, placer: VpcPlacer | None) -> None:
        """Put every environment started from now on of a configuration with an attached
        VpcConfig in its VPC (``placer``: the platform's, over ``lambent.network.vpc``). Without
        one, such environments cannot start (EC2UnexpectedException: the server's VPC network is off)."""
        self._vpc = placer

    def _placement(self, cfg: FunctionConfig) -> tuple[EnvironmentNetwork | None, Callable[[], bool] | None]:
        """The network a new environment of ``cfg`` joins, and the gate of lambent's API inside it."""
        vpc = cfg.vpc_config
        if vpc is None or not vpc.attached:
            return self._network, None
        if self._vpc is None:
            raise VpcAccessFailed(
                "Lambda was not able to set up VPC access for the Lambda function: this lambent server runs "
                "without its VPC network (LAMBENT_VPC_NETWORK_ENABLED), so functions cannot join a VPC.",
                function=f"{cfg.name}:{cfg.version}")
        try:
            placement = self._vpc(cfg)
        except VpcAccessFailed:
            raise
        except LambentError as exc:
            raise VpcAccessFailed(f"Lambda was not able to set up VPC access for the Lambda function: {exc.message}",
                                  function=f"{cfg.name}:{cfg.version}") from exc
        return VpcEnvironmentNetwork(placement.network, self.vpc_interfaces, cfg.name), placement.api_reachable

    def credentials_with(self, credentials_for: CredentialsFor | None) -> None:
        """Give every environment started from now on its execution role's credentials
        (``lambent.worker.credentials``); environments then retire before they age out."""
        self._credentials_for = credentials_for

    def hold_code_with(self, code: CodeHolder) -> None:
        """Keep each environment's code tree alive for as long as the environment (see CodeHolder)."""
        self._code = code

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())
        # In the background: until it is done, Python cold starts compile what they import.
        self.runtimes.compile_python()

    async def shutdown(self) -> None:
        self._closing = True
        if self._reaper:
            self._reaper.cancel()
        envs = list(self._all)
        await asyncio.gather(*(self._destroy(e, "shutdown") for e in envs), return_exceptions=True)
        self._all.clear()
        self._per_function.clear()
        self._idle.clear()
        self._reserved_mb = 0

    @property
    def memory_in_use_mb(self) -> int:
        return self._reserved_mb

    def environments(self) -> list[ExecutionEnvironment]:
        return list(self._all)

    def count(self, name: str) -> int:
        """Live environments of a function (its key: ``FunctionConfig.key``; all versions)."""
        return self._per_function.get(name, 0)

    # -- acquire / release ---------------------------------------------------------------------
    def environment(self, cfg: FunctionConfig, request_id: str, guard: StartGuard) -> Assignment:
        """``async with pool.environment(cfg, request_id, guard) as env``: a warm environment of
        exactly ``cfg``, or a new one started for ``request_id`` (a failed init raises
        :class:`~lambent.worker.assignment.StartFailed` with the error payload); back to the pool
        or destroyed when the block ends (see :class:`~lambent.worker.assignment.Assignment`)."""
        return Assignment(self, cfg, request_id, guard)

    def take_idle(self, cfg: FunctionConfig) -> ExecutionEnvironment | None:
        """A warm environment for exactly this configuration, thawed and marked busy; or None."""
        idle = self._idle.get(pool_key(cfg))
        while idle:
            env = idle.pop()
            if env.healthy and env.unpark():
                return env
            self.discard(env)
        return None

    async def new_environment(self, cfg: FunctionConfig) -> ExecutionEnvironment:
        """Reserve memory for a new environment (evicting idle ones if needed); not started yet.
        ``code_held`` says whether its code tree is pinned for its lifetime; False means the tree
        was already gone (an update or delete released it after ``cfg`` was resolved)."""
        if self._closing:
            raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")
        network, inside_gate = self._placement(cfg)
        # Reserve before waiting for the evicted ones to go, so that nobody else counts on the
        # memory they free.
        victims = self._make_room(cfg.memory_mb)
        env = ExecutionEnvironment(
            uuid.uuid4().hex,
            cfg,
            self.runtimes.launch(cfg.runtime),
            self.code_dir(cfg.code_hash_hex),
            cgroups=self.cgroups,
            logs=self.logs,
            settings=self.settings,
            region=self.region,
            sandbox_options=self.sandbox_options,
            runtime_api=self.runtime_api,
            inside=self._inside,
            credentials_for=self._credentials_for,
            network=network,
            xray=self._xray,
            inside_gate=inside_gate,
        )
        self._all.add(env)
        self._per_function[cfg.key] = self._per_function.get(cfg.key, 0) + 1
        self._reserved_mb += cfg.memory_mb
        if self._code is not None:
            # At once if the code store's lock is free (a cold start has no time for a thread
            # hop), else from a thread: an unpack may hold the lock for seconds.
            held = self._code.hold(cfg.code_hash_hex, blocking=False)
            if held is None:
                held = await asyncio.to_thread(self._code.hold, cfg.code_hash_hex)
            env.code_held = bool(held)
        if victims:
            await asyncio.gather(*(self._destroy(e, "evicted") for e in victims), return_exceptions=True)
        return env

    def release(self, env: ExecutionEnvironment, current: FunctionConfig | None) -> None:
        """Give an environment back after an invocation. Unhealthy or outdated ones are destroyed."""
        key = env.pool_key
        if self._closing or not env.healthy or current is None or pool_key(current) != key:
            self.discard(env)
            return
        env.park()
        idle = self._idle.get(key)
        if idle is None:
            self._idle[key] = [env]
        else:
            idle.append(env)

    def discard(self, env: ExecutionEnvironment) -> None:
        self._forget(env)
        self._background(self._destroy(env))

    def invalidate(self, name: str, keep: PoolKey | None = None) -> None:
        """A function changed or was deleted: drop its idle environments that no longer match."""
        for key in [k for k in self._idle if k[0] == name and k != keep]:
            for env in self._idle.pop(key):
                self.discard(env)

    # -- internals ---------------------------------------------------------------------------------
    async def _destroy(self, env: ExecutionEnvironment, reason: str = "destroyed") -> None:
        """Destroy a forgotten environment, then let go of its code tree (deleted if it was the
        last user of a package that was released meanwhile)."""
        try:
            await env.destroy(reason)
        finally:
            if env.code_held and self._code is not None:
                env.code_held = False
                await asyncio.to_thread(self._let_go, self._code, env.cfg.code_hash_hex)

    @staticmethod
    def _let_go(code: CodeHolder, sha256_hex: str) -> None:
        code.unpin(sha256_hex)
        try:
            code.release(sha256_hex)
        except Exception:  # noqa: BLE001 - a tree left behind is retried at the next release, never fatal here
            log.exception("releasing code %s after its last environment failed", sha256_hex)

    def _forget(self, env: ExecutionEnvironment) -> None:
        if env in self._all:
            self._all.discard(env)
            left = self._per_function.get(env.cfg.key, 1) - 1
            if left > 0:
                self._per_function[env.cfg.key] = left
            else:
                self._per_function.pop(env.cfg.key, None)
            self._reserved_mb -= env.memory_mb
        idle = self._idle.get(env.pool_key)
        if idle and env in idle:
            idle.remove(env)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    def has_room(self, memory_mb: int, for_function: str, claimed: Mapping[str, int] | None = None,
                 pending_mb: int = 0) -> bool:
        """Whether a new environment of ``memory_mb`` for ``for_function`` surely fits, evicting
        idle environments of other functions if need be. Its own idle ones are not counted (they
        may be about to serve invocations already under way), nor ``claimed[f]`` idle ones of each
        function ``f``, nor ``pending_mb`` of environments about to be started (a caller deciding
        several invocations at once counts what it has already decided)."""
        budget = self.settings.memory_budget_mb
        if self._reserved_mb + pending_mb + memory_mb <= budget:
            return True
        skip = dict(claimed or {})
        idle_mb = 0
        for e in self._all:
            name = e.cfg.key
            if e.state != EnvState.IDLE or name == for_function:
                continue
            if skip.get(name, 0) > 0:
                skip[name] -= 1
                continue
            idle_mb += e.memory_mb
        return self._reserved_mb + pending_mb - idle_mb + memory_mb <= budget

    def _make_room(self, memory_mb: int) -> list[ExecutionEnvironment]:
        """Make ``memory_mb`` fit the budget by forgetting least-recently-used idle environments;
        returns them for the caller to destroy. Raises TooManyRequests if it cannot fit."""
        budget = self.settings.memory_budget_mb
        if self._reserved_mb + memory_mb <= budget:
            return []
        idle = sorted((e for e in self._all if e.state == EnvState.IDLE), key=lambda e: e.last_used)
        victims = []
        freed = 0
        for env in idle:
            if self._reserved_mb - freed + memory_mb <= budget:
                break
            victims.append(env)
            freed += env.memory_mb
        if self._reserved_mb - freed + memory_mb > budget:
            raise TooManyRequests(
                "Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded",
                hint=f"memory budget of {budget} MB for execution environments is exhausted",
            )
        for env in victims:
            self._forget(env)
        return victims

    async def _reap_loop(self) -> None:
        interval = max(0.05, min(30.0, self.settings.idle_ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            wall = time.time()
            for env in [e for e in self._all if e.state == EnvState.IDLE
                        and (now - e.last_used > self.settings.idle_ttl_s or e.retired(wall))]:
                log.debug("reaping idle environment %s", env.env_id)
                self.discard(env)
