"""Functions: create, read, update, delete, tags and reserved concurrency. Domain logic only:
no HTTP, no SQL (that is :mod:`lambent.store`).

The registry of function configurations is held in memory (read from the store by
:meth:`FunctionService.load` at start-up, written through on every change by
:mod:`lambent.control.registry`) so that the invoke path never touches the database. Partial
updates arrive typed (:mod:`lambent.control.updates`).
State transitions copy AWS: https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lambent import arns
from lambent.control.code import CodeStore
from lambent.control.model import CodeInfo, FunctionConfig, State, UpdateStatus, VpcConfig
from lambent.control.registry import FunctionEntry, Registry
from lambent.control.runtimes import DEPRECATED, RuntimeCatalog, deprecated_message
from lambent.control.updates import ConfigUpdate, given, given_members
from lambent.control.validation import (
    APPLICATION_LOG_LEVELS,
    LOG_FORMATS,
    SNAP_START_APPLY_ON,
    SYSTEM_LOG_LEVELS,
    check_environment,
    check_one_of,
)
from lambent.errors import (
    InvalidParameterValue,
    LambentError,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambent.settings import Settings
from lambent.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreateFunctionInput:
    account_id: str
    name: str
    runtime: str
    role: str
    handler: str
    zip_file: bytes
    description: str = ""
    timeout_s: int = 3
    memory_mb: int = 128
    ephemeral_storage_mb: int = 512
    environment: dict[str, str] | None = None
    architectures: tuple[str, ...] = ("x86_64",)
    tags: dict[str, str] = field(default_factory=dict)
    tracing_mode: str = "PassThrough"
    log_format: str = "Text"
    log_group: str | None = None
    dead_letter_arn: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    snap_start_apply_on: str = "None"
    vpc_config: VpcConfig | None = None


def settle_log_levels(cfg: FunctionConfig, *, levels_given: bool) -> FunctionConfig:
    """LoggingConfig's levels exist only for the JSON log format: AWS filters by them (INFO by
    default) only then (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html:
    "To use log-level filtering, your function must be configured to use the JSON log format").
    So a JSON function gets INFO for a level it has not set, a Text one has none; a level given
    (``levels_given``) for a Text function is refused rather than silently dropped."""
    check_one_of("LogFormat", cfg.log_format, LOG_FORMATS)
    check_one_of("ApplicationLogLevel", cfg.application_log_level, APPLICATION_LOG_LEVELS)
    check_one_of("SystemLogLevel", cfg.system_log_level, SYSTEM_LOG_LEVELS)
    check_one_of("SnapStart ApplyOn", cfg.snap_start_apply_on, SNAP_START_APPLY_ON)
    if cfg.log_format == "JSON":
        return dataclasses.replace(
            cfg, application_log_level=cfg.application_log_level or "INFO",
            system_log_level=cfg.system_log_level or "INFO",
        )
    if levels_given and (cfg.application_log_level or cfg.system_log_level):
        raise InvalidParameterValue(
            "ApplicationLogLevel and SystemLogLevel can be set only with LogFormat JSON; "
            f"the function's LogFormat is {cfg.log_format}."
        )
    return dataclasses.replace(cfg, application_log_level=None, system_log_level=None)


ChangeListener = Callable[[arns.FunctionKey], None]
#: Prepares the network of a configuration with a VpcConfig while it is Pending / InProgress
#: (the platform's: the VPC's Linux side must serve its subnets and groups); raising fails the
#: transition with the error's ``reason_code`` (Lambda's StateReasonCode, e.g. InvalidSubnet).
NetworkPreparer = Callable[[FunctionConfig], Awaitable[None]]


class FunctionService:
    """The function registry and its operations. Scope: one per server."""

    def __init__(self, settings: Settings, store: Store, code: CodeStore, runtimes: RuntimeCatalog, *,
                 load: bool = True) -> None:
        """No I/O when ``load=False``: the registry is empty until :meth:`load`."""
        self.settings = settings
        self.store = store
        self.code = code
        self.runtimes = runtimes
        #: Every function's entry, and every write of one (store first, then memory, locked).
        self.registry = Registry(store)
        self._loaded = False
        self._listeners: list[ChangeListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: The latest background state transition of each function (see ``settle``).
        self._transitions: dict[arns.FunctionKey, asyncio.Task[None]] = {}
        #: Set by the platform when VPCs have a data plane (see NetworkPreparer).
        self.prepare_network: NetworkPreparer | None = None
        if load:  # transitional: remove (and the flag) when Platform.start() awaits load()
            self._adopt(self.registry.read())

    async def load(self) -> None:
        """Read every function, version and alias from the store (once; later calls do nothing).
        Call before serving anything: until then the registry is empty."""
        if not self._loaded:
            self._adopt(await asyncio.to_thread(self.registry.read))

    def _adopt(self, fns: dict[arns.FunctionKey, FunctionEntry]) -> None:
        if not self._loaded:
            self.registry.adopt(fns)
            self._loaded = True

    # -- helpers ---------------------------------------------------------------------------------
    def on_change(self, listener: ChangeListener) -> None:
        """``listener(key)`` runs after a function's code/config changes or it is deleted."""
        self._listeners.append(listener)

    def notify(self, name: arns.FunctionKey) -> None:
        for listener in self._listeners:
            listener(name)

    def arn(self, name: arns.FunctionKey, qualifier: str | None = None) -> str:
        """The function ARN of ``name`` (a key: it carries the owning account)."""
        return arns.key_arn(self.settings.region, name, qualifier)

    @contextlib.asynccontextmanager
    async def locked(self, name: arns.FunctionKey) -> AsyncIterator[FunctionEntry]:
        """Hold ``name``'s lock and yield its entry as it is once the lock is held: a delete (or a
        delete and re-create) that happened while waiting is seen, as ResourceNotFound or as the
        new entry, never written over through a stale one."""
        self._require_loaded()
        async with self.registry.hold(name):
            yield self.entry(name)

    def _require_loaded(self) -> None:
        # A change before load() would be overwritten by it (or overwrite what the store holds).
        if not self._loaded:
            raise RuntimeError("FunctionService changed before load()")

    def _spawn(self, coro: Any, name: arns.FunctionKey) -> None:
        """Run ``name``'s state transition (Pending -> Active, InProgress -> Successful) in the background."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._transitions[name] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._transitions.get(name) is done:
                del self._transitions[name]

        task.add_done_callback(forget)

    async def settle(self, name: arns.FunctionKey) -> None:
        """Wait until ``name``'s latest state transition has finished (for ``Publish`` on create and
        code updates, which publish the version once the code is ready)."""
        task = self._transitions.get(name)
        if task is not None:
            await asyncio.shield(task)

    def not_found(self, name: arns.FunctionKey, qualifier: str | None = None, *, invoking: bool = False) -> ResourceNotFound:
        """AWS names the qualifier it looked for. For Invoke and PutFunctionConcurrency an
        unqualified name is ``…:function:NAME:$LATEST`` (``invoking``); for the other operations
        it is the bare function ARN (AWS's answers as recorded in November 2025, LocalStack's
        validated snapshots test_invoke_exceptions and test_function_concurrency_exceptions)."""
        return ResourceNotFound(f"Function not found: {self.arn(name, qualifier or (arns.LATEST if invoking else None))}")

    def entry(self, name: arns.FunctionKey) -> FunctionEntry:
        fn = self.registry.get(name)
        if fn is None:
            raise self.not_found(name)
        return fn

    def ref(self, raw: str, qualifier: str | None = None, *, account_id: str) -> tuple[arns.FunctionKey, str | None]:
        """Parse a FunctionName path parameter (+ ?Qualifier) into (key, qualifier): a bare name
        is the caller's (``account_id``) function, an ARN names its own account's (whether the
        caller may reach it is authorisation's: api/authz.py)."""
        ref = arns.parse_function_name(raw, max_len=256, create=False, qualifier=qualifier)
        return arns.key_of(ref, self.settings.region, account_id), arns.resolve_qualifier(ref, qualifier)

    def resolve(self, name: arns.FunctionKey, qualifier: str | None = None, draw: float | None = None, *,
                invoking: bool = False) -> FunctionConfig:
        """The configuration a read or an invoke with this qualifier addresses. Hot path.

        An alias resolves to its primary version, or, given a uniform ``draw`` in [0, 1) (an
        invoke), to the version its routing weights pick for that draw. ``invoking``: the
        not-found answer is Invoke's (see :meth:`not_found`).
        """
        fn = self.registry.get(name)
        if fn is None:
            raise self.not_found(name, qualifier, invoking=invoking)  # AWS keeps the qualifier in the ARN it names
        cfg = fn.versions.get(qualifier or arns.LATEST)
        if cfg is None:
            alias = fn.aliases.get(qualifier) if qualifier else None
            if alias is None:
                raise self.not_found(name, qualifier)
            version = alias.pick_version(draw) if draw is not None else alias.function_version
            cfg = fn.versions.get(version)
            if cfg is None:
                raise self.not_found(name, version)
        return cfg

    def entries(self, account_id: str) -> list[FunctionEntry]:
        """The functions of one account, by name."""
        return self.registry.entries(account_id)

    def _check_runtime(self, runtime: str) -> None:
        if runtime in DEPRECATED:
            raise InvalidParameterValue(deprecated_message(runtime))
        if not self.runtimes.supports(runtime):
            supported = [n for n in self.runtimes.names if n not in DEPRECATED]
            raise InvalidParameterValue(
                f"The runtime parameter of {runtime} is not supported by this lambent server. "
                f"Supported runtimes here: {', '.join(supported)}"
            )

    @staticmethod
    def now() -> str:
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"

    # -- create / update / delete ---------------------------------------------------------------
    async def create(self, inp: CreateFunctionInput) -> FunctionConfig:
        self._check_runtime(inp.runtime)
        check_one_of("LogFormat", inp.log_format, LOG_FORMATS)
        if inp.log_format != "JSON" and (inp.application_log_level or inp.system_log_level):
            raise InvalidParameterValue(
                "ApplicationLogLevel and SystemLogLevel can be set only with LogFormat JSON; "
                f"the function's LogFormat is {inp.log_format}."
            )
        # an Environment given, even empty, is echoed as {"Variables": {...}} as on AWS; none stays absent
        env = (None if inp.environment is None
               else check_environment(inp.environment, self.settings.limits.env_vars_max_bytes))
        self._require_loaded()
        key = arns.function_key(inp.account_id, inp.name)
        async with self.registry.hold(key):
            if self.registry.get(key) is not None:
                raise ResourceConflict(f"Function already exist: {inp.name}")
            # guarded: a full data dir answers StorageFull (ServiceException naming ENOSPC).
            info: CodeInfo = await asyncio.to_thread(self.store.guarded, "CreateFunction", self.code.put, inp.zip_file)
            try:
                cfg = await self._record_new(inp, info, env)
            finally:
                await asyncio.to_thread(self.code.unpin, info.sha256_hex)
        self._spawn(self._activate(key), key)
        self.notify(key)  # the change hooks see a new function too (its credentials are issued ahead)
        return cfg

    async def _record_new(self, inp: CreateFunctionInput, info: CodeInfo, env: dict[str, str] | None) -> FunctionConfig:
        """Write a new function's $LATEST (create()'s work under its lock, with the code pinned)."""
        cfg = FunctionConfig(
            name=inp.name, account_id=inp.account_id, runtime=inp.runtime, role=inp.role, handler=inp.handler,
            code_hash_hex=info.sha256_hex, code_sha256_b64=info.sha256_b64, code_size=info.size,
            last_modified=self.now(), revision_id=str(uuid.uuid4()), description=inp.description,
            timeout_s=inp.timeout_s, memory_mb=inp.memory_mb, ephemeral_storage_mb=inp.ephemeral_storage_mb,
            environment=env, architectures=inp.architectures, tracing_mode=inp.tracing_mode,
            log_format=inp.log_format, log_group=inp.log_group, dead_letter_arn=inp.dead_letter_arn,
            application_log_level=inp.application_log_level, system_log_level=inp.system_log_level,
            snap_start_apply_on=inp.snap_start_apply_on, vpc_config=inp.vpc_config,
        )
        cfg = settle_log_levels(cfg, levels_given=True)
        if not await self.registry.create(FunctionEntry(cfg.key, time.time(), dict(inp.tags), None, {arns.LATEST: cfg})):
            raise ResourceConflict(f"Function already exist: {inp.name}")
        return cfg

    async def _activate(self, name: arns.FunctionKey) -> None:
        """The Pending -> Active transition: make sure the code tree is there, then go Active."""
        async with self.registry.hold(name):
            fn = self.registry.get(name)
            if fn is None:
                return
            cfg = fn.latest
            try:
                await asyncio.to_thread(self.code.ensure_unpacked, cfg.code_hash_hex)
                await self._prepare_network(cfg)
                # AWS gives the function a new RevisionId when it turns Active (a create's
                # RevisionId no longer matches once the function is Active).
                new = cfg.replace(
                    state=State.ACTIVE, state_reason=None, state_reason_code=None,
                    last_update_status=UpdateStatus.SUCCESSFUL, revision_id=str(uuid.uuid4()),
                )
            except Exception as exc:  # noqa: BLE001 - any failure makes the function Failed, as on AWS
                log.exception("activating %s failed", name)
                new = cfg.replace(state=State.FAILED, state_reason=_reason(exc), state_reason_code=_reason_code(exc))
            await self.registry.put_latest(fn, new, essential=True)

    async def _finish_update(self, name: arns.FunctionKey, revision_id: str) -> None:
        async with self.registry.hold(name):
            fn = self.registry.get(name)
            if fn is None or fn.latest.revision_id != revision_id:
                return
            cfg = fn.latest
            try:
                await asyncio.to_thread(self.code.ensure_unpacked, cfg.code_hash_hex)
                await self._prepare_network(cfg)
                # As on AWS, the update's completion is itself a new revision.
                new = cfg.replace(
                    last_update_status=UpdateStatus.SUCCESSFUL, last_update_status_reason=None,
                    last_update_status_reason_code=None, revision_id=str(uuid.uuid4()),
                )
            except Exception as exc:  # noqa: BLE001
                new = cfg.replace(
                    last_update_status=UpdateStatus.FAILED, last_update_status_reason=_reason(exc),
                    last_update_status_reason_code=_reason_code(exc), revision_id=str(uuid.uuid4()),
                )
            await self.registry.put_latest(fn, new, essential=True)

    # -- RevisionIds of resource-policy changes ---------------------------------------------------
    def revision_of(self, fn: FunctionEntry, qualifier: str | None) -> str:
        """The RevisionId of what ``qualifier`` names (an alias, a version, else $LATEST): what
        GetPolicy reports and AddPermission / RemovePermission's RevisionId must match (AWS)."""
        alias = fn.aliases.get(qualifier) if qualifier else None
        if alias is not None:
            return alias.revision_id
        cfg = fn.versions.get(qualifier or arns.LATEST)
        if cfg is None:
            raise self.not_found(fn.key, qualifier)
        return cfg.revision_id

    async def set_revision(self, fn: FunctionEntry, qualifier: str | None, revision_id: str) -> None:
        """Give the alias or version ``qualifier`` names (else $LATEST) RevisionId ``revision_id``:
        AddPermission / RemovePermission change it on AWS. The caller holds ``fn``'s lock
        (:meth:`locked`). An update in progress on $LATEST is finished under the new RevisionId
        (its pending completion looks for the old one)."""
        alias = fn.aliases.get(qualifier) if qualifier else None
        if alias is not None:
            await self.registry.put_alias(fn, dataclasses.replace(alias, revision_id=revision_id))
            return
        cfg = fn.versions.get(qualifier or arns.LATEST)
        if cfg is None:
            raise self.not_found(fn.key, qualifier)
        kept = {"permission_revision": revision_id, "environment_revision": cfg.environment_revision}
        await self.registry.replace_version(fn, cfg.replace(revision_id=revision_id, extra={**cfg.extra, **kept}))
        if cfg.version == arns.LATEST and cfg.last_update_status == UpdateStatus.IN_PROGRESS:
            self._spawn(self._finish_update(fn.key, revision_id), fn.key)

    async def _prepare_network(self, cfg: FunctionConfig) -> None:
        """While Pending / InProgress: the VPC network of a configuration that joins one."""
        if cfg.vpc_config is not None and cfg.vpc_config.attached and self.prepare_network is not None:
            await self.prepare_network(cfg)

    def _check_updatable(self, cfg: FunctionConfig, revision_id: str | None) -> None:
        if revision_id is not None and revision_id != cfg.revision_id:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        if cfg.last_update_status == UpdateStatus.IN_PROGRESS:
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for resource: "
                + self.arn(cfg.key)
            )

    async def update_code(self, name: arns.FunctionKey, zip_file: bytes, revision_id: str | None = None) -> FunctionConfig:
        self.entry(name)  # ResourceNotFound before anything else
        async with self.locked(name) as fn:
            self._check_updatable(fn.latest, revision_id)
            info = await asyncio.to_thread(self.store.guarded, "UpdateFunctionCode", self.code.put, zip_file)
            old_hash = fn.latest.code_hash_hex
            cfg = fn.latest.replace(
                code_hash_hex=info.sha256_hex, code_sha256_b64=info.sha256_b64, code_size=info.size,
                last_modified=self.now(), revision_id=str(uuid.uuid4()),
                last_update_status=UpdateStatus.IN_PROGRESS,
                last_update_status_reason="The function is being created.",
                last_update_status_reason_code="Creating",
            )
            try:
                await self.registry.put_latest(fn, cfg)
            finally:
                await asyncio.to_thread(self.code.unpin, info.sha256_hex)
            if old_hash != info.sha256_hex:
                await asyncio.to_thread(self.code.release, old_hash)
        self.notify(name)
        self._spawn(self._finish_update(name, cfg.revision_id), name)
        return cfg

    async def update_configuration(self, name: arns.FunctionKey, update: ConfigUpdate, revision_id: str | None = None) -> FunctionConfig:
        """Apply a partial update: the members ``update`` gives replace $LATEST's, the rest stay
        (SnapStart's ApplyOn, the log levels, the dead-letter queue... as they were)."""
        self.entry(name)  # ResourceNotFound before anything else
        if given(update.runtime):
            self._check_runtime(str(update.runtime))
        changes = given_members(update)
        if given(update.environment):
            changes["environment"] = check_environment(
                changes["environment"], self.settings.limits.env_vars_max_bytes)  # a copy: never the caller's map
        levels_given = given(update.application_log_level) or given(update.system_log_level)
        async with self.locked(name) as fn:
            self._check_updatable(fn.latest, revision_id)
            cfg = dataclasses.replace(
                fn.latest, **changes, last_modified=self.now(), revision_id=str(uuid.uuid4()),
                last_update_status=UpdateStatus.IN_PROGRESS,
                last_update_status_reason="The function is being created.",
                last_update_status_reason_code="Creating",
            )
            cfg = settle_log_levels(cfg, levels_given=levels_given)
            await self.registry.put_latest(fn, cfg)
        self.notify(name)
        self._spawn(self._finish_update(name, cfg.revision_id), name)
        return cfg

    async def delete(self, name: arns.FunctionKey) -> None:
        """Delete the function with all its versions and aliases (versions: VersionService)."""
        self.entry(name)  # ResourceNotFound before anything else
        async with self.locked(name) as fn:
            await self.registry.delete(fn)
            for cfg in fn.versions.values():
                await asyncio.to_thread(self.code.release, cfg.code_hash_hex)
        self.notify(name)

    def resume_transitions(self, name: arns.FunctionKey) -> None:
        """After a restart: finish a Pending -> Active or InProgress -> Successful transition."""
        cfg = self.entry(name).latest
        if cfg.state == State.PENDING:
            self._spawn(self._activate(name), name)
        elif cfg.last_update_status == UpdateStatus.IN_PROGRESS:
            self._spawn(self._finish_update(name, cfg.revision_id), name)

    # -- tags --------------------------------------------------------------------------------------
    def _tag_target(self, resource: str, account_id: str) -> FunctionEntry:
        ref = arns.parse_function_name(resource, field="resource", max_len=256, create=False)
        if not resource.startswith("arn:"):
            raise InvalidParameterValue(f"Invalid resource ARN: {resource}")
        return self.entry(arns.key_of(ref, self.settings.region, account_id))

    async def tag(self, resource: str, tags: dict[str, str], *, account_id: str) -> None:
        target = self._tag_target(resource, account_id)
        async with self.locked(target.key) as fn:
            merged = {**fn.tags, **tags}
            if len(merged) > 50:
                raise InvalidParameterValue("Number of tags exceeds resource tag limit.")
            await self.registry.set_tags(fn, merged)

    async def untag(self, resource: str, keys: list[str], *, account_id: str) -> None:
        target = self._tag_target(resource, account_id)
        async with self.locked(target.key) as fn:
            await self.registry.set_tags(fn, {k: v for k, v in fn.tags.items() if k not in set(keys)})

    def tags(self, resource: str, *, account_id: str) -> dict[str, str]:
        return dict(self._tag_target(resource, account_id).tags)

    # -- concurrency ------------------------------------------------------------------------------
    def total_reserved(self, account_id: str, excluding: arns.FunctionKey | None = None) -> int:
        """The concurrency reserved by the functions of ``account_id`` (each account has its own
        limit: settings' account concurrency)."""
        return sum(f.reserved_concurrency or 0 for f in self.registry.values()
                   if f.account_id == account_id and f.key != excluding)

    async def put_concurrency(self, name: arns.FunctionKey, value: int) -> int:
        if self.registry.get(name) is None:  # ResourceNotFound before anything else, naming $LATEST as AWS
            raise self.not_found(name, invoking=True)
        async with self.locked(name) as fn:
            limits = self.settings.limits
            unreserved = limits.account_concurrency - self.total_reserved(arns.key_account(name), excluding=name) - value
            if unreserved < limits.min_unreserved_concurrency:
                raise InvalidParameterValue(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{limits.min_unreserved_concurrency}]."
                )
            await self.registry.set_reserved_concurrency(fn, value)
        return value

    async def delete_concurrency(self, name: arns.FunctionKey) -> None:
        self.entry(name)  # ResourceNotFound before anything else
        async with self.locked(name) as fn:
            await self.registry.set_reserved_concurrency(fn, None)

    async def wait_idle(self) -> None:
        """Wait for background state transitions (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _reason(exc: BaseException) -> str:
    """A failed transition's StateReason: a lambent error's message (what the caller may see)."""
    return exc.message if isinstance(exc, LambentError) else str(exc)


def _reason_code(exc: BaseException) -> str:
    """Lambda's StateReasonCode for a failed transition: the error's own (``reason_code``, e.g.
    InvalidSubnet, SubnetOutOfIPAddresses), else InternalError."""
    code = getattr(exc, "reason_code", None)
    return code if isinstance(code, str) and code else "InternalError"
