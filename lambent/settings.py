"""All of lambent's configuration, in one frozen tree.

Settings are read once at start-up (``Settings.from_env``) and passed explicitly to whatever needs
them; nothing reads the environment later. Every leaf can be set by an environment variable named
``LAMBENT_`` + its dotted path in upper case with dots as underscores, e.g. ``LAMBENT_LIMITS_ACCOUNT_CONCURRENCY``
for ``limits.account_concurrency``. The documented user-facing names (``LAMBENT_ROOT_ACCESS_KEY_ID``,
``LAMBENT_ROOT_SECRET_ACCESS_KEY``, ``LAMBENT_ACCOUNT_ID``, ``LAMBENT_REGION``) are fields of
:class:`Settings` itself and keep exactly those names.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints


@dataclass(frozen=True)
class LimitSettings:
    """Account-wide quotas; the defaults are AWS Lambda's defaults."""

    account_concurrency: int = 1000
    #: AWS keeps at least this much of the account limit unreserved.
    min_unreserved_concurrency: int = 100
    #: Zip upload size in a CreateFunction/UpdateFunctionCode request (AWS: 50 MB).
    zip_max_bytes: int = 50 * 1024 * 1024
    #: Unpacked code size (AWS: 250 MB).
    unzipped_max_bytes: int = 262_144_000
    #: Largest compression ratio a zip may have before it is treated as a bomb.
    zip_max_ratio: int = 200
    zip_max_entries: int = 20_000
    #: Synchronous request and response payloads (AWS: 6 MB).
    sync_payload_max_bytes: int = 6_291_456
    #: InvocationType=Event payloads (AWS: 1 MB) and the legacy InvokeAsync (256 KB).
    async_payload_max_bytes: int = 1_048_576
    invoke_async_max_bytes: int = 262_144
    env_vars_max_bytes: int = 4096


@dataclass(frozen=True)
class WorkerSettings:
    """Execution environments: warm pools, reaping and the memory budget."""

    #: Idle environments older than this are destroyed.
    idle_ttl_s: float = 300.0
    #: Total MemorySize of all live environments; least-recently-used idle ones are evicted first.
    memory_budget_mb: int = 16384
    #: Upper bound for a runtime to reach its first /next (AWS: 10 s init phase).
    init_timeout_s: float = 10.0
    #: pids.max inside each environment (AWS allows 1024 processes/threads).
    pids_max: int = 1024
    #: An idle environment is frozen this long after its last invocation (0: at once).
    freeze_after_ms: float = 50.0
    #: Log bytes kept per invocation; the rest is dropped and a line says how much.
    log_max_bytes_per_invoke: int = 1024 * 1024
    #: Host interpreter/binaries used for managed runtimes.
    python_bin: str = "/usr/bin/python3"
    node_bin: str = "/usr/bin/node"
    #: How long shutdown waits for in-flight invocations.
    shutdown_grace_s: float = 30.0
    #: Where unpacked code and runtime clients live for sandboxes to mount. Sandboxes are set up
    #: by an unprivileged uid, so this path must be world-traversable (the data dir need not be).
    #: Empty: /var/lib/lambent/<server id>.
    sandbox_dir: str = ""
    #: Benchmark only (benchmarks/coldstart_credentials.py's baseline): environments start without
    #: execution-role credentials and none are issued. Never set it on a server that runs code.
    bench_no_role_credentials: bool = False
    #: At most this many environments of VPC functions hold an interface in a VPC at once (the
    #: host's links and nftables elements); one more fails with ENILimitReachedException.
    vpc_interfaces_max: int = 1024


@dataclass(frozen=True)
class DeploySettings:
    """Safe deployments (docs/deployments.md)."""

    #: Multiplies every strategy interval: 1.0 is real minutes; 0.001 makes 10 minutes last 0.6 s.
    time_scale: float = 1.0
    #: The error-rate alarm looks at the new version's invocations of the last this many (real) seconds,
    alarm_window_s: float = 60.0
    #: needs at least this many of them before it can fire,
    alarm_min_invocations: int = 20
    #: and is evaluated this often while traffic is shifting.
    alarm_poll_s: float = 1.0
    #: Shutdown waits this long for deployment runners to reach a safe point before cancelling them.
    shutdown_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not (self.time_scale > 0 and self.alarm_window_s > 0 and self.alarm_poll_s > 0 and self.alarm_min_invocations >= 1):
            raise ValueError(f"invalid deploy settings: {self}")


@dataclass(frozen=True)
class AsyncSettings:
    """Asynchronous invocation: the durable queue, retries and event age.
    Defaults copy https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html"""

    #: Multiplies every retry delay (tests run with e.g. 0.001; 1.0 = real minutes).
    time_scale: float = 1.0
    #: Waits before the 2nd and 3rd attempt after a function error.
    first_retry_delay_s: float = 60.0
    second_retry_delay_s: float = 120.0
    #: Throttles and system errors: exponential backoff between these bounds, until the event expires.
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    #: Events the dispatcher runs at once (each also needs a concurrency slot).
    max_in_flight: int = 64
    #: Attempts to hand a record to a destination or DLQ before it is recorded as undeliverable.
    delivery_attempts: int = 5
    #: Payload bytes one account's queued events may hold; past it an async accept is throttled
    #: (429) until some have run: one tenant cannot fill the queue and the disk for the others.
    max_queued_bytes_per_account: int = 1 << 30


@dataclass(frozen=True)
class AwsEndpointSettings:
    """Where lambent reaches other AWS services (destinations, DLQs): AWS itself (empty URL) or a
    self-hosted implementation. Env: LAMBENT_AWS_SQS_ENDPOINT_URL etc."""

    sqs_endpoint_url: str = ""
    sns_endpoint_url: str = ""
    events_endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""


@dataclass(frozen=True)
class ScheduleSettings:
    """EventBridge Scheduler (docs/schedules.md). Durations are schedule time unless named ``real``."""

    #: Schedule time runs 1/time_scale times as fast as the wall clock: 0.01 makes rate(1 minute)
    #: fire every 0.6 s (tests). at(), StartDate and EndDate stay wall-clock instants.
    time_scale: float = 1.0
    #: An occurrence missed while the server was down still fires this late (FlexibleTimeWindow
    #: OFF; a flexible schedule's grace is its window; never less than 60 s, AWS's precision);
    #: older ones are skipped with a warning.
    missed_grace_s: float = 300.0
    #: Longest the engine sleeps between looks at its schedules (real seconds).
    max_sleep_real_s: float = 1.0
    #: Bound on one enqueue or dead-letter call (real seconds).
    call_timeout_real_s: float = 10.0

    def __post_init__(self) -> None:
        if not (self.time_scale > 0 and self.missed_grace_s >= 0 and self.max_sleep_real_s > 0
                and self.call_timeout_real_s > 0):
            raise ValueError(f"invalid schedule settings: {self}")


@dataclass(frozen=True)
class HttpSettings:
    """The API listener's defences against hostile clients (docs/security.md, api/listener.py).

    AWS publishes no numbers for its API front end; these follow API Gateway's header quotas
    (10 KB per header, roughly) and S3's idle-connection behaviour (~20 s), rounded up."""

    #: The request head (request line and headers) must be complete this long after the
    #: connection opened, or after the first byte of a keep-alive connection's next request,
    #: however slowly its bytes trickle in (a per-byte idle timer would not stop slowloris).
    head_timeout_s: float = 30.0
    #: A body must arrive within body_grace_s + its length / body_min_rate_bytes_per_s
    #: (chunked bodies: the route's cap / rate); otherwise 408 RequestTimeoutException and close.
    body_grace_s: float = 10.0
    body_min_rate_bytes_per_s: int = 65_536
    #: Header limits; over them: 431 before the app runs.
    max_headers: int = 100
    max_header_line_bytes: int = 16_384
    max_head_bytes: int = 65_536
    #: Open API connections: 0 derives the cap from RLIMIT_NOFILE (raised to its hard limit at
    #: start) minus fd_reserve, which stays for sandboxes, Runtime API sockets, the database, logs.
    max_connections: int = 0
    fd_reserve: int = 4096
    #: Connections one client address may hold open at once.
    max_connections_per_address: int = 256
    #: Bodies larger than this are spooled to an unlinked file under <data dir>/http-spool
    #: (hashed while they arrive) instead of being held in memory.
    body_spool_bytes: int = 1_048_576
    #: Requests with a spooled body being read or handled at once; the next waits at most
    #: large_body_wait_s for a slot, then gets 429 TooManyRequestsException.
    max_large_bodies: int = 8
    large_body_wait_s: float = 5.0
    #: A response the client does not read (the socket's send buffer stays full) for this long
    #: is aborted: a code download or a 6 MB result must not hold a connection for ever.
    write_stall_timeout_s: float = 30.0
    #: lambent's API inside each sandbox (127.0.0.1:9002, lambent/api/inside.py): connections one
    #: environment may hold (a function's boto3 needs a few), and its listen backlog.
    inside_max_connections: int = 16
    inside_listen_backlog: int = 64
    #: The web console at /console (lambent/console/: static files; every datum it shows comes
    #: through the signed API, signed in the browser).
    console_enabled: bool = True

    def __post_init__(self) -> None:
        if not (self.inside_max_connections >= 2 and self.inside_listen_backlog > 0):
            raise ValueError(f"invalid http settings: {self}")
        if not (0 < self.head_timeout_s <= 30 and self.write_stall_timeout_s > 0 and self.body_grace_s > 0 and self.body_min_rate_bytes_per_s > 0
                and self.max_headers > 0 and 0 < self.max_header_line_bytes <= self.max_head_bytes
                and self.max_connections >= 0 and self.fd_reserve >= 0 and self.max_connections_per_address > 0
                and self.body_spool_bytes > 0 and self.max_large_bodies > 0 and self.large_body_wait_s >= 0):
            raise ValueError(f"invalid http settings: {self}")


@dataclass(frozen=True)
class RuntimeApiSettings:
    """What one execution environment may hold of the server through its Runtime API.

    Everything here is per environment (one Runtime API endpoint each) and lives in the server
    process, outside the function's cgroup (lambent/runtime_api/README.md, "Limits")."""

    #: Connections one environment may hold open to its Runtime API. awslambdaric and lambent's
    #: clients use 1-2; a connection over the cap is closed as soon as it is accepted.
    max_connections: int = 16
    #: Listen backlog of the Runtime API socket (pending connections cost kernel memory).
    listen_backlog: int = 8
    #: Request line plus headers of one request (431 over it), and the number of headers.
    max_head_bytes: int = 65_536
    max_headers: int = 64
    #: Request bodies up to this size are buffered freely (at most max_connections of them);
    #: a larger one needs the environment's single large-body slot (bodies up to the 6 MB
    #: response limit), and waits, not read, while another connection holds it.
    small_body_bytes: int = 65_536

    def __post_init__(self) -> None:
        if not (self.max_connections >= 1 and self.listen_backlog >= 1 and self.max_head_bytes >= 1024
                and self.max_headers >= 8 and self.small_body_bytes >= 0):
            raise ValueError(f"invalid runtime_api settings: {self}")


@dataclass(frozen=True)
class StorageSettings:
    """Disk quotas and the reserve that keeps deletes and state changes working on a full disk."""

    #: Log bytes kept per log group (a function's ``/aws/lambda/<name>``): past it the group's
    #: oldest segments are deleted first.
    log_group_max_bytes: int = 100 * 1024 * 1024
    #: Log bytes kept across all groups (oldest segments of any group deleted first), and at most
    #: this fraction of the data dir's filesystem (0: no fraction cap).
    logs_max_bytes: int = 1024 * 1024 * 1024
    logs_max_fs_fraction: float = 0.25
    #: Of those, one account's groups keep at most this fraction (its oldest segments go first):
    #: one tenant's log flood cannot push the other accounts' logs out.
    logs_account_max_fraction: float = 0.5
    #: A stream is written in segments of at most this size (and at most a quarter of the group
    #: quota): the unit of rotation.
    log_segment_max_bytes: int = 8 * 1024 * 1024
    #: Segment files kept per log group and in total (oldest deleted first): a function that
    #: starts a new stream per invocation (it crashes every time) cannot exhaust the inodes.
    log_group_max_files: int = 10_000
    logs_max_files: int = 100_000
    #: Ballast file preallocated in the data dir, released so that deletes and state changes can
    #: commit on a full disk; recreated when there is room again (0: no reserve).
    reserve_bytes: int = 32 * 1024 * 1024
    #: Writes that grow state (CreateFunction, PublishVersion, async accepts...) are refused with a
    #: ServiceException once free space falls below this (plus the reserve while it is released).
    min_free_bytes: int = 4 * 1024 * 1024
    #: How often free space is looked at (restores the ballast, ends the full state).
    check_interval_s: float = 1.0

    #: how often log groups past their retention policy lose their old segments
    log_retention_sweep_s: float = 600.0

    def __post_init__(self) -> None:
        if not (self.log_group_max_bytes > 0 and self.logs_max_bytes > 0 and 0 <= self.logs_max_fs_fraction <= 1
                and 0 < self.logs_account_max_fraction <= 1
                and self.log_segment_max_bytes > 0 and self.log_group_max_files > 0 and self.logs_max_files > 0
                and self.reserve_bytes >= 0 and self.min_free_bytes >= 0
                and self.check_interval_s > 0):
            raise ValueError(f"invalid storage settings: {self}")


@dataclass(frozen=True)
class SandboxSettings:
    """Sandbox hardening: host uids per environment, the seccomp filter, resource limits."""

    #: Where each data dir's sandbox dir is made (``<dir_root>/lambent-<id>``) unless
    #: worker.sandbox_dir names one; every start removes the dirs here whose data dir is gone.
    dir_root: str = "/var/lib/lambent"
    #: Each environment runs as its own host uid (and gid) from uid_range_start ..
    #: uid_range_start + uid_range_size - 1, allocated host-wide (every lambent server on the host
    #: shares the range through uid_lock_dir; sandbox/uids.py). The default lies far above real
    #: users and the usual /etc/subuid ranges (100000+), below 2^31 and systemd's container ranges;
    #: a range overlapping /etc/subuid or /etc/subgid is refused at start.
    uid_range_start: int = 2_000_000_000
    uid_range_size: int = 65_536
    uid_lock_dir: str = "/run/lambent/uids"
    #: Every environment runs under the syscall filter of sandbox/_seccomp.py (Docker's denied
    #: syscalls, io_uring, foreign ABIs); turn off only to find out whether it breaks a runtime.
    seccomp: bool = True
    #: RLIMIT_NOFILE (soft and hard) inside environments, Lambda's quota; 0 inherits the server's.
    nofile_limit: int = 1024
    #: What /bin/sh runs inside environments: bash, as on Lambda's Amazon Linux 2023; "" keeps
    #: the host's (dash on Debian).
    bin_sh: str = "/usr/bin/bash"


@dataclass(frozen=True)
class MetricsSettings:
    """CloudWatch metrics (lambent/observability/metrics/): AWS/Lambda metrics and custom ones."""

    #: 1-minute datapoints are kept this long (CloudWatch keeps them 15 days).
    retention_days: int = 15
    #: finished minutes are written to metrics.db this often
    flush_interval_s: float = 10.0
    #: metric + dimension sets kept (PutMetricData beyond it is refused)
    max_series: int = 10_000
    #: of which one account's series may be at most this many (its PutMetricData, EMF lines and
    #: functions' metrics beyond it are refused): no tenant fills the host's cap for the others
    max_series_per_account: int = 5_000
    #: unwritten (series, minute) cells held in memory before PutMetricData is throttled
    max_live_minutes: int = 200_000
    #: how often ConcurrentExecutions is sampled
    concurrency_sample_s: float = 1.0
    #: Prometheus text format at GET /metrics (unauthenticated: it names every function)
    prometheus_enabled: bool = True
    #: record AWS/Lambda metrics from the invoke path and EMF lines (off: only PutMetricData data)
    enabled: bool = True
    #: EMF documents in function logs become custom metrics (needs ``enabled``)
    emf_enabled: bool = True

    def __post_init__(self) -> None:
        if not (self.retention_days >= 1 and self.flush_interval_s > 0 and self.max_series > 0
                and self.max_series_per_account > 0 and self.max_live_minutes > 0 and self.concurrency_sample_s > 0):
            raise ValueError(f"invalid metrics settings: {self}")


@dataclass(frozen=True)
class BillingSettings:
    """Usage records per invocation (lambent/billing/, usage.db) and the price table."""

    enabled: bool = True
    #: records are committed this often (they are visible within it; at most 30 s)
    commit_interval_s: float = 1.0
    #: records waiting for the writer; beyond it they are dropped (counted, logged)
    max_queued: int = 100_000
    retention_days: int = 400
    #: a JSON price table overriding the default (docs/billing.md); "" = AWS us-east-1 x86
    prices_file: str = ""

    def __post_init__(self) -> None:
        if not (0 < self.commit_interval_s <= 30 and self.max_queued > 0 and self.retention_days > 0):
            raise ValueError(f"invalid billing settings: {self}")


@dataclass(frozen=True)
class TracingSettings:
    """X-Ray tracing (lambent/observability/tracing/, traces.db, docs/tracing.md)."""

    #: a UDP X-Ray daemon in every sandbox (127.0.0.1:2000) and segments recorded for Active functions
    enabled: bool = True
    #: segments are kept this long (X-Ray keeps traces 30 days)
    retention_days: int = 30
    #: segments kept in total; beyond it the oldest go
    max_segments: int = 1_000_000
    #: segments kept of one account; beyond it that account's oldest go (a tenant's flood does not
    #: push the others' traces out)
    max_segments_per_account: int = 500_000
    #: segments waiting for the writer; beyond it they are dropped (counted)
    max_queued: int = 50_000
    commit_interval_s: float = 0.5
    #: datagrams one environment's daemon takes per second (and in a burst); the rest are dropped
    daemon_rate_per_s: float = 200.0
    daemon_burst: int = 400
    #: X-Ray's default sampling rule for Active functions: a reservoir per second, then a rate
    sampling_reservoir_per_s: int = 1
    sampling_rate: float = 0.05
    #: an OTLP/HTTP collector's traces URL (e.g. http://127.0.0.1:4318/v1/traces); "" = no export
    otlp_endpoint: str = ""
    #: invocations waiting for the exporter; beyond it they are dropped (counted)
    otlp_max_queued: int = 2048
    otlp_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not (self.retention_days >= 1 and self.max_segments >= 1 and self.max_queued >= 1
                and 0 < self.commit_interval_s <= 30 and self.daemon_rate_per_s > 0 and self.daemon_burst >= 1
                and self.sampling_reservoir_per_s >= 0 and 0.0 <= self.sampling_rate <= 1.0
                and self.otlp_max_queued >= 1 and self.otlp_timeout_s > 0):
            raise ValueError(f"invalid tracing settings: {self}")


@dataclass(frozen=True)
class NetworkSettings:
    """The default network of functions (lambent/network/, docs/network.md): a bridge per server,
    a veth and an address per environment, NAT to what the host routes, a deny list, DNS.

    Lists are comma-separated CIDRs. Traffic from a function to ``allow`` passes even where
    ``deny`` would drop it; link-local (169.254.0.0/16, the metadata address), the server's own
    addresses and other sandboxes are refused whatever the lists say. Env:
    ``LAMBENT_NETWORK_ENABLED`` etc.
    """

    #: On by default. Off (``LAMBENT_NETWORK_ENABLED=false``, e.g. on a host without
    #: CAP_NET_ADMIN or nftables): every sandbox has loopback only (its Runtime API and lambent's API).
    enabled: bool = True
    #: Where each server takes its subnet: the first ``subnet_prefix`` block, from one derived
    #: from the data dir on, that no host route covers yet. 198.18.0.0/15 (RFC 2544, benchmarking)
    #: is neither routed on the internet nor used by LANs, clouds' VPCs or container tools.
    pool: str = "198.18.0.0/15"
    subnet_prefix: int = 24
    deny: str = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10"
    allow: str = ""
    #: The resolver DNS queries from functions go to ("ip" or "ip:port"); "": the first
    #: nameserver of the host's /etc/resolv.conf.
    dns_upstream: str = ""
    #: Per environment: queries a second (token bucket, burst of the same size) and at most this
    #: many unanswered at once; the rest are dropped (clients retry).
    dns_rate_per_s: int = 50
    dns_max_in_flight: int = 16
    dns_timeout_s: float = 2.0
    ip_path: str = "/usr/sbin/ip"
    nft_path: str = "/usr/sbin/nft"
    #: Held (flock) by every server of the host while it picks its subnet and creates its bridge.
    lock_path: str = "/run/lambent/network.lock"

    def __post_init__(self) -> None:
        if not (8 <= self.subnet_prefix <= 30 and self.dns_rate_per_s > 0 and self.dns_max_in_flight > 0
                and self.dns_timeout_s > 0):
            raise ValueError(f"invalid network settings: {self}")


@dataclass(frozen=True)
class VpcNetworkSettings:
    """VPCs as Linux networking (lambent/network/vpc/, docs/network.md "VPCs"): a bridge per
    subnet, security groups in nftables, NAT gateways, attachments. Paths, the deny/allow lists and
    DNS limits are ``network``'s. Env: ``LAMBENT_VPC_NETWORK_ENABLED``."""

    #: Off: the EC2 API still keeps the model (vpc.db); nothing is built on Linux and a function
    #: or attachment in a VPC cannot get an interface. On by default: a server without VPCs pays
    #: one link listing and one empty nftables table at start (docs/network.md, "Cost").
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    """The root of the settings tree; see the module docstring for how it is loaded."""

    host: str = "127.0.0.1"
    port: int = 9900
    data_dir: Path = Path(".lambent")
    account_id: str = "000000000000"
    region: str = "us-east-1"
    root_access_key_id: str = ""
    root_secret_access_key: str = ""
    #: Where GetFunction's Code.Location points (defaults to http://host:port).
    public_url: str = ""
    limits: LimitSettings = field(default_factory=LimitSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    async_: AsyncSettings = field(default_factory=AsyncSettings)
    aws: AwsEndpointSettings = field(default_factory=AwsEndpointSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    schedules: ScheduleSettings = field(default_factory=ScheduleSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    runtime_api: RuntimeApiSettings = field(default_factory=RuntimeApiSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    vpc_network: VpcNetworkSettings = field(default_factory=VpcNetworkSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``LAMBENT_*`` variables, then apply explicit overrides (CLI flags)."""
        env = os.environ if env is None else env
        values = _load(cls, "LAMBENT", env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _load(cls: Any, prefix: str, env: Mapping[str, str]) -> dict[str, Any]:
    hints = get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        name = f"{prefix}_{f.name.rstrip('_').upper()}"
        if dataclasses.is_dataclass(typ):
            out[f.name] = typ(**_load(typ, name, env))  # type: ignore[operator]
        elif name in env:
            out[f.name] = _convert(name, env[name], typ)
    return out


def _convert(name: str, raw: str, typ: Any) -> Any:
    try:
        if typ is bool:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if typ in (int, float, str):
            return typ(raw)
        if typ is Path:
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r}: {exc}") from exc
    raise TypeError(f"unsupported settings type for {name}: {typ}")
