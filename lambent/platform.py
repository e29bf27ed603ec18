"""The composition root: builds every long-lived component from :class:`Settings` and owns their
lifetimes. One ``Platform`` per server process; nothing else creates these objects.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Protocol

from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.control.aliases import AliasService
from lambent.credentials import RootCredentials, load_root_credentials
from lambent.deployments import DeploymentService
from lambent.control.event_invoke import EventInvokeConfigs
from lambent.control.functions import FunctionService
from lambent.control.versions import VersionService
from lambent.control.runtimes import RuntimeCatalog, install_runtime_clients
from lambent.iam.authorize import Authorizer
from lambent.iam.function_policies import FunctionPolicies
from lambent.iam.service import IamService
from lambent.iam.service_calls import LAMBDA as LAMBDA_SERVICE
from lambent.iam.service_calls import SCHEDULER as SCHEDULER_SERVICE
from lambent.iam.service_calls import Parts, ServiceCalls
from lambent.iam.sts import IssuedCredentials, assume_role_for_service
from lambent.invoke.async_queue import AsyncInvoker
from lambent.invoke.concurrency import ConcurrencyLimiter
from lambent.invoke.metrics import ErrorRateWindow
from lambent.invoke.redrive import QueueOperations
from lambent.invoke.service import InvokeService
from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.billing.recorder import UsageRecorder
from lambent.arns import FunctionKey, key_account, key_name
from lambent.control.model import FunctionConfig
from lambent.network import DefaultNetwork
from lambent.network.errors import NetworkSetupFailed
from lambent.network.vpc import VpcNetwork
from lambent.observability.logs import LogStore, account_group, own_unowned_groups
from lambent.observability.retention import RetentionSweeper
from lambent.observability.metrics.cloudwatch import CloudWatch
from lambent.observability.emf import EmfRecorder
from lambent.observability.metrics.lambda_metrics import LambdaMetrics
from lambent.observability.metrics.service import MetricsService
from lambent.observability.quota import LogQuota
from lambent.observability.tracing import DaemonServer, FinishedInvocation, Sampler, Stored, Tracer
from lambent.sandbox import CgroupManager, SandboxError, SandboxOptions, UidAllocator, UidRange, kill_leftover_sandboxes
from lambent.sandbox.uids import close_private
from lambent.sandbox.orphans import kill_helpers_in
from lambent.sandbox.reaper import Reaper, SweepResult, read_report
from lambent.sandbox.sandbox_dir import SandboxDir, sweep_orphans
from lambent.schedules import ScheduleEngine, SchedulerService, SqsDeadLetters
from lambent.settings import Settings
from lambent.store import Store
from lambent.store.async_queue import AsyncEventStore
from lambent.store.invoke_configs import InvokeConfigStore
from lambent.store.reserve import DiskGuard
from lambent.store.deployments import DeploymentStore
from lambent.store.metrics import MetricsStore
from lambent.store.vpc import VpcStore
from lambent.store.usage import UsageStore
from lambent.store.traces import SegmentRow, TraceStore
from lambent.store.iam_function_policies import FunctionPolicyStore
from lambent.store.errors import StoreUnavailable
from lambent.worker.credentials import CredentialCache, credentials_via, known_to
from lambent.vpc.model import InterfaceType
from lambent.vpc.service import VpcService
from lambent.worker.environment import InvokeOutcome
from lambent.worker.pool import WorkerPool, pool_key
from lambent.worker.vpc import vpc_placement

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The server cannot start on this host or data dir (locked, untraversable, no uids). Raised,
    never ``SystemExit``: components leave exiting to the command (cli/server_cmd.py)."""


class Platform:
    """Every component of one lambent server. Scope: the server process.

    Two steps, so that building a server does not touch the host: the constructor only computes
    paths and builds what needs no I/O; :meth:`start` does every piece of start-up I/O in order
    (data dir and its lock, root credentials, disk reserve, databases, sandbox dir, runtime
    clients, uid range), then builds the components that depend on constructors that still touch
    the disk, loads the registries (functions, event invoke configs, schedules), then starts the
    background work. :meth:`stop` undoes it; call it only after ``start`` returned.
    """

    #: the functions' default network (lambent/network/), when ``settings.network.enabled``
    network: DefaultNetwork | None = None
    #: the Linux side of VPCs (lambent/network/vpc/), when ``settings.vpc_network.enabled``
    vpc_network: VpcNetwork | None = None
    # Built by start(), in _open: CodeStore, LogStore and UidAllocator still touch the disk when
    # built, and everything else here is built on them (the registries are loaded explicitly).
    code: CodeStore
    functions: FunctionService
    versions: VersionService
    aliases: AliasService
    logs: LogStore
    uids: UidAllocator
    sandbox_options: SandboxOptions
    pool: WorkerPool
    limiter: ConcurrencyLimiter
    invoker: InvokeService
    event_invoke_configs: EventInvokeConfigs
    async_invoker: AsyncInvoker
    #: what operators read and redrive of the async queue (lambent/api/lambent_queue_api.py)
    queue_ops: QueueOperations
    deployments: DeploymentService
    schedules: SchedulerService
    schedule_engine: ScheduleEngine
    sandbox_home: SandboxDir

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data = settings.data_dir
        self._lock_fd: int | None = None
        self._credentials: RootCredentials | None = None
        # Free space and the disk reserve: a full data dir refuses growth, never deletes.
        self.disk = DiskGuard(data, settings.storage)
        self.store = Store.in_dir(data, self.disk)
        self.async_store = AsyncEventStore(data / "async-queue.db", self.disk, open_now=False)
        self._prefix = cgroup_prefix(data)
        self.sandbox_dir = Path(settings.worker.sandbox_dir or f"{settings.sandbox.dir_root}/{self._prefix}").resolve()
        self.reaper: Reaper | None = None
        self.runtimes = RuntimeCatalog(settings.worker.python_bin, settings.worker.node_bin, self.sandbox_dir / "runtimes")
        # One cgroup parent per data dir: a server only ever sweeps what its own predecessors left.
        self.cgroups = CgroupManager(prefix=self._prefix)
        # Safe deployments: error-rate windows fed by every invocation.
        self.metrics = ErrorRateWindow(settings.deploy.alarm_window_s)
        # CloudWatch metrics (AWS/Lambda and custom) and usage records for billing: their stores
        # are opened by start(); the invoke path only hands them each outcome.
        m = settings.metrics
        self.metrics_store = MetricsStore(data / "metrics.db", self.disk)
        self.cloudwatch_metrics = MetricsService(self.metrics_store, retention_s=m.retention_days * 86400,
                                                 max_series=m.max_series, max_series_per_account=m.max_series_per_account,
                                                 flush_interval_s=m.flush_interval_s,
                                                 max_live_minutes=m.max_live_minutes, account=settings.account_id)
        self.lambda_metrics = LambdaMetrics(self.cloudwatch_metrics)
        self.cloudwatch = CloudWatch(self.cloudwatch_metrics)
        self.emf = EmfRecorder(self.cloudwatch_metrics)
        b = settings.billing
        self.usage_store = UsageStore(data / "usage.db", self.disk, max_queued=b.max_queued,
                                      commit_interval_s=b.commit_interval_s, retention_days=b.retention_days)
        self.usage = UsageRecorder(self.usage_store)
        self.prices = PriceTable.from_file(Path(b.prices_file)) if b.prices_file else DEFAULT_PRICES
        # X-Ray: segments of Active functions and of every sandbox's daemon (traces.db, opened by
        # start()); a trace header for every invocation; OTLP export when a collector is configured.
        t = settings.tracing
        self.trace_store = TraceStore(data / "traces.db", self.disk, max_queued=t.max_queued,
                                      commit_interval_s=t.commit_interval_s, retention_days=t.retention_days,
                                      max_segments=t.max_segments, max_segments_per_account=t.max_segments_per_account)
        self.otlp: OtlpExporterLike | None = None
        self.xray_daemons: DaemonServer | None = None
        self.tracer = Tracer(self.record_segment if t.enabled else None, account=settings.account_id,
                             sampler=Sampler(t.sampling_reservoir_per_s, t.sampling_rate))
        self.ready = asyncio.Event()

    @property
    def credentials(self) -> RootCredentials:
        """The root credentials, loaded (or generated, on the first start) by :meth:`start`."""
        if self._credentials is None:
            raise StartupError("the root credentials are loaded by Platform.start()")
        return self._credentials

    def _open(self) -> None:
        """Start-up I/O, in order, then the components built on it. Blocking (run in a thread)."""
        settings = self.settings
        data = settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        os.chmod(data, 0o700)
        self._lock_fd = lock_data_dir(data)
        self._credentials = load_root_credentials(settings)
        self.disk.open()
        try:
            self.metrics_store.open()
            self.usage_store.open()
            self.trace_store.open()
        except StoreUnavailable as exc:
            raise StartupError(exc.message) from exc
        # Accounts, users, roles, keys and sessions (<data>/iam.db, secrets sealed with iam.key):
        # the SigV4 verifier finds every caller here, and every operation is authorised from it.
        creds = self._credentials
        self.iam = IamService.open_in(data, settings.account_id, (creds.access_key_id, creds.secret_access_key), self.disk)
        self.authorizer = Authorizer(self.iam)
        # VPCs, subnets, security groups, NAT gateways, endpoints (EC2 API; vpc.db). No environment
        # survives a restart, so no address is held by one.
        self.vpc = VpcService(VpcStore.open_in(data, self.disk), region=settings.region)
        self.vpc.release_all(InterfaceType.LAMBDA)
        if settings.vpc_network.enabled:
            self.vpc_network = VpcNetwork(settings.network, self.vpc, data_dir=settings.data_dir,
                                          files_dir=self.sandbox_dir)
        try:
            self.store.open()
        except StoreUnavailable as exc:
            raise StartupError(exc.message) from exc
        # Rows written before accounts (functions, deployments named by a bare name) are the
        # server account's: keyed by the function key from now on (lambent.arns.FunctionKey).
        self.store.own_unkeyed(settings.account_id)
        DeploymentStore(self.store.engine).own_unkeyed(settings.account_id)
        prepare_sandbox_dir(self.sandbox_dir)
        # Locked for the life of this server (and of its reaper's sweep after it): waits for a
        # killed predecessor's reaper, and no other server removes the dir meanwhile.
        try:
            self.sandbox_home = SandboxDir.claim(self.sandbox_dir, data)
        except SandboxError as exc:
            raise StartupError(str(exc)) from None
        limits = settings.limits
        self.code = CodeStore(
            data / "code",
            self.store,
            ZipLimits(limits.unzipped_max_bytes, limits.zip_max_ratio, limits.zip_max_entries),
            unpack_root=self.sandbox_dir / "code",
        )
        install_runtime_clients(self.sandbox_dir / "runtimes")
        self.functions = FunctionService(settings, self.store, self.code, self.runtimes, load=False)
        self.versions = VersionService(self.functions)
        self.aliases = AliasService(self.functions)
        # Log groups are per account; groups written before accounts are the server account's.
        own_unowned_groups(data / "logs", settings.account_id)
        self.logs = LogStore(data / "logs", LogQuota.from_settings(settings.storage, self.disk.filesystem_bytes()))
        if settings.metrics.enabled and settings.metrics.emf_enabled:
            # EMF documents in function logs become custom metrics (observability/emf.py)
            self.logs.line_hook = self.emf.line
        self.log_retention = RetentionSweeper(self.logs, interval_s=settings.storage.log_retention_sweep_s)
        # One host uid per environment, from a range every server on this host shares (sandbox/uids.py).
        try:
            self.uids = UidAllocator(
                UidRange(settings.sandbox.uid_range_start, settings.sandbox.uid_range_size), settings.sandbox.uid_lock_dir
            )
        except (SandboxError, ValueError) as exc:
            raise StartupError(f"sandbox uids: {exc}") from None
        self.sandbox_options = SandboxOptions(
            uids=self.uids, owner=f"{self.sandbox_dir}/", seccomp=settings.sandbox.seccomp,
            nofile_limit=settings.sandbox.nofile_limit, bin_sh=settings.sandbox.bin_sh,
        )
        self.pool = WorkerPool(
            settings.worker,
            runtimes=self.runtimes,
            code_dir=self.code.code_dir,
            logs=self.logs,
            cgroups=self.cgroups,
            region=settings.region,
            sandbox_options=self.sandbox_options,
            runtime_api=settings.runtime_api,
        )
        # Each environment runs with its execution role's temporary credentials (as on Lambda: the
        # session is named after the function); a role Lambda cannot assume gives none (logged).
        # One session per (function, role) while young: a cold-start loop cannot exhaust STS's quota.
        # Issued ahead of need, off the loop (prefetch, on a function's change); a held session is
        # handed out only while IAM still knows it (a deleted role's are revoked at once).
        self.role_credentials = CredentialCache(credentials_via(self._assume_for_lambda),
                                                still_valid=known_to(self.iam.lookup))
        self._issue_credentials = not settings.worker.bench_no_role_credentials
        self.pool.credentials_with(self.role_credentials if self._issue_credentials else None)
        self.limiter = ConcurrencyLimiter(limits.account_concurrency, self.functions.total_reserved)
        self.invoker = InvokeService(self.functions, self.pool, self.limiter)
        self.invoker.tracer = self.tracer
        t = settings.tracing
        if t.enabled:
            self.xray_daemons = DaemonServer(self.record_segment, settings.account_id, rate_per_s=t.daemon_rate_per_s,
                                             burst=t.daemon_burst)
            self.pool.xray_with(self.xray_daemons)
        if t.otlp_endpoint:
            from lambent.observability.tracing.otlp import OtlpExporter  # the OpenTelemetry SDK only when used

            self.otlp = OtlpExporter(t.otlp_endpoint, max_queued=t.otlp_max_queued, timeout_s=t.otlp_timeout_s,
                                     region=settings.region)
            self.tracer.exporter = self.otlp
        try:
            self.async_store.open()
        except StoreUnavailable as exc:
            raise StartupError(exc.message) from exc
        self.async_store.own_unkeyed(settings.account_id)
        InvokeConfigStore(self.async_store.engine).own_unkeyed(settings.account_id)
        self.event_invoke_configs = EventInvokeConfigs(self.functions, InvokeConfigStore(self.async_store.engine, self.disk),
                                                       load=False)
        self.async_invoker = AsyncInvoker(settings, self.functions, self.invoker, self.async_store,
                                          self.event_invoke_configs)
        self.queue_ops = QueueOperations(self.async_store, self.async_invoker.destinations)
        self.functions.on_change(self._function_changed)
        # A subnet or group a function's VpcConfig names is in use (DependencyViolation), as on AWS.
        self.vpc.used_elsewhere.append(self._used_by_functions)
        # Lambda's resource-based policies (AddPermission), in iam.db; a function's go with it.
        self.function_policies = FunctionPolicies(
            FunctionPolicyStore(self.iam.store.engine, self.disk),
            region=settings.region, exists=self._function_exists,
        )
        self.functions.on_change(self.function_policies.function_changed)
        self.invoker.observers.append(self.metrics.observe_outcome)
        if settings.metrics.enabled:
            self.invoker.observers.append(self._observe_metrics)
            self.invoker.on_throttle = self.lambda_metrics.throttle_observer
            self.async_invoker.metrics = self.lambda_metrics
        if settings.billing.enabled:
            self.invoker.observers.append(self._observe_usage)
        self.deployments = DeploymentService(
            settings.deploy, functions=self.functions, aliases=self.aliases, invoker=self.invoker,
            store=DeploymentStore(self.store.engine, self.disk), metrics=self.metrics,
        )
        # EventBridge Scheduler: due occurrences go to the async queue (docs/schedules.md).
        self.schedules = SchedulerService.for_server(settings, self.store.engine)
        # AWS services invoke functions as their principals, through a role (iam/service_calls.py):
        # a schedule with its Target.RoleArn, a Lambda destination with the source's execution role.
        self.service_calls = ServiceCalls(Parts(self.iam, self.authorizer, self.function_policies.for_arn))
        self.async_invoker.destinations.invoke_check = self.service_calls.checker(LAMBDA_SERVICE)
        self.schedule_engine = ScheduleEngine(self.schedules, enqueuer=self.async_invoker, settings=settings.schedules,
                                              dead_letters=SqsDeadLetters(settings.aws, settings.region),
                                              invoke_check=self.service_calls.checker(SCHEDULER_SERVICE))

    def record_segment(self, account: str, seg: Stored) -> bool:
        """Queue one validated segment of ``account`` for traces.db (False: dropped, counted)."""
        return self.trace_store.offer(SegmentRow(account, seg.trace_id, seg.segment_id, seg.parent_id, seg.is_subsegment,
                                                 seg.start, seg.end, seg.fault, seg.error, seg.throttle, seg.document))

    def _observe_metrics(self, cfg: FunctionConfig, outcome: InvokeOutcome, request_id: str, qualifier: str | None) -> None:
        self.lambda_metrics.observe(cfg, outcome, qualifier)

    def _observe_usage(self, cfg: FunctionConfig, outcome: InvokeOutcome, request_id: str, qualifier: str | None) -> None:
        self.usage.observe(cfg, outcome, request_id)

    def _assume_for_lambda(self, role_arn: str, function_name: str) -> IssuedCredentials:
        return assume_role_for_service(self.iam, "lambda.amazonaws.com", role_arn, function_name)

    def _function_exists(self, name: FunctionKey, qualifier: str | None) -> bool:
        fn = self.functions.registry.get(name)
        if fn is None:
            return False
        return qualifier is None or qualifier in fn.versions or qualifier in fn.aliases

    def _used_by_functions(self, account_id: str, resource_id: str) -> bool:
        """Whether a configuration (``$LATEST`` or a version) of a function joins a VPC through
        ``resource_id`` (a subnet or security group of ``account_id``)."""
        return any(
            cfg.vpc_config is not None and cfg.vpc_config.account_id == account_id
            and (resource_id in cfg.vpc_config.subnet_ids or resource_id in cfg.vpc_config.security_group_ids)
            for entry in self.functions.registry.values() for cfg in entry.versions.values())

    def _function_changed(self, name: FunctionKey) -> None:
        try:
            latest = self.functions.resolve(name)
            keep = pool_key(latest)
        except Exception:  # noqa: BLE001 - deleted: drop everything
            keep = None
        self.pool.invalidate(name, keep)
        if keep is not None and self._issue_credentials:
            self.role_credentials.prefetch(latest)  # created or changed: its next cold start finds them
        if keep is None:
            self.role_credentials.forget(function_name=name)
            self.lambda_metrics.forget(name)
            # DeleteFunction frees the function's logs as well (on a full disk that is what makes
            # room again; AWS keeps the log group: docs/parity.md), in its own account.
            self.logs.delete_group(account_group(key_account(name), f"/aws/lambda/{key_name(name)}"))

    async def start(self) -> None:
        """Start-up I/O and the background work; StartupError if this host or data dir cannot
        serve. Once per Platform."""
        await asyncio.to_thread(self._open)
        # The registries, in the order their constructors used to read them.
        await self.functions.load()
        await self.function_policies.load()  # after the functions: drops policies of deleted ones
        await self.event_invoke_configs.load()
        await self.schedules.load()
        # First, before any sandbox exists: whatever ends this process, the reaper then kills
        # every sandbox it left, frozen or not (sandbox/reaper.py).
        # What a killed predecessor's reaper swept is reported here (it is done: we hold its lock).
        report = self.sandbox_dir / ".reaped"
        reaped = read_report(report) or SweepResult(0, 0, clean=True)
        self.reaper = Reaper.spawn(self.cgroups, f"{self.sandbox_dir}/", hold_fds=(self.sandbox_home.lock_fd,),
                                   report=report)
        gone = await asyncio.to_thread(sweep_orphans, Path(self.settings.sandbox.dir_root), self.sandbox_dir)
        for path in gone:
            log.warning("removed sandbox dir %s: its data dir no longer exists", path)
        # A crashed predecessor (same data dir, so same sandbox dir) may have left sandbox inits
        # blocked outside any cgroup (sandbox/orphans.py); none of ours can be alive yet. Its
        # reaper killed them already, unless it was killed too (or predates reapers).
        left = reaped.processes_killed + await asyncio.to_thread(kill_leftover_sandboxes, f"{self.sandbox_dir}/")
        if left:
            log.warning("killed %d sandbox processes left by a previous run", left)
        stale = reaped.cgroups_removed + await asyncio.to_thread(self.cgroups.cleanup_stale)
        if stale:
            log.warning("removed %d stale sandbox cgroups from a previous run", stale)
        # Uids a dead server held (on this host, any data dir): what it granted them is revoked.
        swept = await asyncio.to_thread(self.uids.sweep)
        if swept:
            log.warning("released %d sandbox uids left by a server that died", swept)
        # An orderly stop removed the unpacked code with the sandbox dir (a cache): unpack again.
        await asyncio.to_thread(self._unpack_code)
        # Functions left Pending / InProgress by a crash finish their transition now.
        for entry in self.functions.registry.values():
            self.functions.resume_transitions(entry.key)
        if self.settings.network.enabled:
            # A bridge, NAT and the deny list for every environment started from now on.
            net = DefaultNetwork(self.settings.network, data_dir=self.settings.data_dir, files_dir=self.sandbox_dir)
            try:
                await net.start()
            except NetworkSetupFailed as exc:
                detail = f" ({exc.context['error']})" if exc.context.get("error") else ""
                raise StartupError(f"the functions' network: {exc.message}{detail}; "
                                   "LAMBENT_NETWORK_ENABLED=false runs without it") from exc
            self.network = net
            self.pool.network_with(net)
        if self.vpc_network is not None:
            # Bridges, security groups and NAT of every VPC in vpc.db (leftovers of a crash removed).
            try:
                await self.vpc_network.start()
            except NetworkSetupFailed as exc:
                raise StartupError(f"the VPC network: {exc.message}") from exc
        self._wire_vpc_functions()
        self.pool.start()
        self.disk.start()
        await self.cloudwatch_metrics.start()
        self.log_retention.start()
        limiter = self.limiter
        if self.settings.metrics.enabled:  # off: only PutMetricData's data (settings.MetricsSettings.enabled)
            self.lambda_metrics.start_sampling(limiter.snapshot, lambda: limiter.unreserved_running,
                                               limiter.total_reserved, self.settings.metrics.concurrency_sample_s,
                                               unreserved_in=limiter.unreserved_running_in,
                                               reserved_in=self.functions.total_reserved)
        await self.async_invoker.start()
        await self.deployments.start()
        await self.schedule_engine.start()
        if self._issue_credentials:  # the first cold start after a restart finds its credentials
            self.role_credentials.prefetch_all(fn.latest for fn in self.functions.registry.values())
        self.ready.set()

    async def stop(self) -> None:
        self.ready.clear()
        await self.schedule_engine.stop()  # no new occurrences while the queue shuts down
        await self.deployments.shutdown()  # first: a running hook is an in-flight invocation
        await self.async_invoker.stop(grace_s=min(5.0, self.settings.worker.shutdown_grace_s))
        drained = await self.invoker.drain(self.settings.worker.shutdown_grace_s)
        if not drained:
            log.warning("shutdown grace period over with %d invocations in flight", self.invoker.in_flight)
        await self.pool.shutdown()
        if self.network is not None:
            await self.network.close()
        if self.vpc_network is not None:
            await self.vpc_network.close()
        await self.lambda_metrics.stop_sampling()
        await self.cloudwatch_metrics.stop()
        await self.log_retention.stop()
        await asyncio.to_thread(self.usage_store.close)
        if self.otlp is not None:
            await asyncio.to_thread(self.otlp.close)
        await asyncio.to_thread(self.trace_store.close)
        # Every sandbox is destroyed by now; anything still mounting our directories was a start
        # aborted before bwrap could report its init.
        left = await asyncio.to_thread(kill_leftover_sandboxes, f"{self.sandbox_dir}/")
        if left:
            log.warning("killed %d sandbox processes left by aborted starts", left)
        cgroups_gone = await asyncio.to_thread(self.cgroups.remove_parents)
        await self.functions.wait_idle()
        self.role_credentials.stop_prefetch_all()
        await self.role_credentials.wait_prefetches()  # their iam.db writes end before iam.db closes
        await self.disk.stop()
        self.store.close()
        self.iam.close()
        self.metrics_store.close()
        self.vpc.flush()  # environments' lease writes left behind (lambent/vpc/service.py)
        self.vpc.store.close()
        # The sandbox dir is only caches: renamed away now, deleted by the reaper once we are gone.
        # If our own teardown left something, the reaper sweeps first, and we wait for that (a
        # successor must not find the sweep under way); else it has nothing to sweep. A helper
        # still working in it (the runtime byte-compile) would outlive us and refill it.
        await asyncio.to_thread(kill_helpers_in, str(self.sandbox_dir))
        trash = await asyncio.to_thread(self.sandbox_home.retire)
        orderly = cgroups_gone and not left
        taken = False
        if self.reaper is not None:
            taken = await asyncio.to_thread(self.reaper.close, trash, orderly=orderly)
        if trash is not None and not taken:
            await asyncio.to_thread(shutil.rmtree, trash, True)

    def _wire_vpc_functions(self) -> None:
        """Functions in a VPC: their environments join it through the VPC data plane
        (``vpc_network``, lambent/network/vpc/, when ``vpc_network.enabled``); without it they
        cannot start (EC2UnexpectedException, worker/pool.py)."""
        net = self.vpc_network
        if net is None:
            return
        self.pool.vpc_with(lambda cfg: vpc_placement(net, cfg))

        async def prepare(cfg: FunctionConfig) -> None:
            vpc_placement(net, cfg)  # the subnets and groups are there and routed on this host

        self.functions.prepare_network = prepare

    def _unpack_code(self) -> None:
        for sha in sorted({cfg.code_hash_hex for e in self.functions.registry.values() for cfg in e.versions.values()}):
            try:
                # No environment mounts it yet: root-only, whatever a crash left on it (uids.py).
                close_private(str(self.code.ensure_unpacked(sha)))
            except Exception:  # noqa: BLE001 - that function's environments will fail to start
                log.exception("cannot unpack code %s", sha)


class OtlpExporterLike(Protocol):
    """lambent.observability.tracing.otlp.OtlpExporter (imported only when configured)."""

    dropped: int

    def offer(self, inv: FinishedInvocation) -> None: ...

    def flush(self, timeout_s: float = 5.0) -> bool: ...

    def close(self) -> None: ...


def prepare_sandbox_dir(path: Path) -> Path:
    """Create the sandbox dir and check an unprivileged uid can traverse every ancestor."""
    path = path.resolve()  # a no-op for the Platform's (resolved when it is built)
    path.mkdir(parents=True, exist_ok=True, mode=0o711)
    os.chmod(path, 0o711)
    for parent in [path, *path.parents]:
        if not os.stat(parent).st_mode & 0o001:
            raise StartupError(
                f"{parent} is not world-traversable: sandboxes could not reach {path}; "
                "set LAMBENT_WORKER_SANDBOX_DIR to a path under a 0711/0755 directory"
            )
    return path


def cgroup_prefix(data_dir: Path) -> str:
    return "lambent-" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on the data dir for the life of the process: two servers on one
    data dir would corrupt each other's sandboxes and state."""
    fd = os.open(data_dir / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartupError(f"another lambent server is using {data_dir}") from None
    return fd
