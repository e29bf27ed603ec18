"""One execution environment: a sandbox running a runtime, its Runtime API endpoint and its logs.

Lifecycle (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html), the
state machine of :mod:`lambent.worker.states`: ``STARTING`` (sandbox up, runtime initialising) ->
``BUSY`` (serving the invocation that caused the cold start) <-> ``IDLE`` (parked in /next,
frozen) -> ``DEAD``. Any failure (timeout, crash, OOM, init error) makes it ``DEAD`` and destroys
the sandbox; ``destroy()`` is idempotent. An illegal transition (invoking an environment nobody
claimed, parking an idle one) raises :class:`~lambent.worker.states.IllegalTransition`.

Lower-layer failures are translated here, at the boundary, into lambent's errors: a
``SandboxError`` while the sandbox starts, or a Runtime API endpoint that cannot be opened, is
:class:`~lambent.errors.EnvironmentStartFailed` (500 ServiceException: the service's failure, not
the function's); an endpoint that breaks its own invariants mid-invoke is a ``ServiceError``.
Both carry the cause in ``context`` (sandbox id, hint) for the one log line the invoke service
writes. An environment destroyed while it starts (server shutdown) ends its start cleanly with
429 ``TooManyRequests``, the pool's answer once it is closing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import signal as _signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Protocol

from lambent.billing.rounding import billed_duration_ms
from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeLaunch
from lambent.observability.logs import LogStore, account_group, stream_name
from lambent.errors import SERVICE_FAILURE_MESSAGE, EnvironmentStartFailed, ServiceError, TooManyRequests
from lambent.runtime_api import EndpointBusy, EndpointClosed, Invocation, RuntimeApiEndpoint, RuntimeInitError
from lambent.sandbox import (
    CgroupManager,
    Limits,
    Mount,
    Sandbox,
    SandboxCapacityExceeded,
    SandboxError,
    SandboxOptions,
    SandboxSpec,
    udp_in_netns,
)
from lambent.settings import RuntimeApiSettings, WorkerSettings
from lambent.worker.credentials import Credentials, CredentialsFor, retire_at
from lambent.worker.envvars import RUNTIME_API_PORT, build_env
from lambent.worker.logcapture import LogCapture
from lambent.worker.platform_lines import PlatformLines, Report
from lambent.worker.states import EnvState, IllegalTransition, StateMachine

log = logging.getLogger(__name__)

#: The X-Ray daemon's address inside every sandbox (AWS_XRAY_DAEMON_ADDRESS), UDP.
XRAY_DAEMON_PORT = 2000

__all__ = ["INSIDE_API_PORT", "EnvState", "ExecutionEnvironment", "IllegalTransition", "InsideHandle", "InsideServer",
           "InvokeOutcome", "InvokeRequest", "XrayDaemonServer", "cpu_millicores", "error_payload"]

#: Where lambent's API listens inside every sandbox (127.0.0.1 only; 9001 is the Runtime API's,
#: the one port Lambda reserves). ``AWS_ENDPOINT_URL`` names it.
INSIDE_API_PORT = 9002


class InsideHandle(Protocol):
    """One environment's served inside listener (``lambent.api.inside.InsideListener``)."""

    def close(self) -> None: ...


class NetworkAttachment(Protocol):
    """One environment's place on the default network (``lambent.network.Attachment``)."""


class EnvironmentNetwork(Protocol):
    """Gives sandboxes an interface on the default network (``lambent.network.DefaultNetwork``)."""

    @property
    def resolv_conf(self) -> Path: ...

    async def attach(self, env_id: str, pid: int) -> NetworkAttachment: ...

    async def detach(self, att: NetworkAttachment, /) -> None: ...


class InsideServer(Protocol):
    """Serves lambent's API on a socket created in a sandbox (``lambent.api.inside.InsideApi``)."""

    async def serve(self, sock: socket.socket, label: str, gate: Callable[[], bool] | None = None) -> InsideHandle:
        """``gate``: while it answers False, connections are closed as they arrive (and those open
        are aborted within a second): a VPC function reaches lambent's API only through an
        endpoint or a NAT gateway."""
        ...


class XrayDaemonServer(Protocol):
    """Serves the X-Ray daemon protocol on a UDP socket bound in a sandbox at 127.0.0.1:2000
    (``lambent.observability.tracing.daemon``, through the platform's tracing)."""

    async def serve(self, sock: socket.socket, label: str, account: str | None = None) -> InsideHandle:
        """``account``: the function's, whose traces the daemon's segments are (None: the server's)."""
        ...

#: Lambda's CPU model: 1,769 MB of memory is one vCPU; at most 6 vCPUs.
MB_PER_VCPU = 1769
MAX_MILLICORES = 6000


#: The init phase runs with at least one full vCPU, as Lambda is observed to boost init; the
#: memory-proportional quota applies from the first invocation on.
INIT_MIN_MILLICORES = 1000


def cpu_millicores(memory_mb: int) -> int:
    return max(1, min(MAX_MILLICORES, memory_mb * 1000 // MB_PER_VCPU))


@dataclass(frozen=True)
class InvokeRequest:
    request_id: str
    payload: bytes
    invoked_arn: str
    want_tail: bool = False
    client_context: str | None = None
    cognito_identity: str | None = None
    trace_id: str | None = None
    #: when an asynchronous event was accepted (epoch seconds; its trace shows the queue time)
    queued_at: float | None = None

    def with_trace(self, trace_id: str) -> InvokeRequest:
        """A copy with ``trace_id`` (per invocation: ~5x cheaper than ``dataclasses.replace``)."""
        copy = object.__new__(InvokeRequest)
        fields = copy.__dict__
        fields.update(self.__dict__)
        fields["trace_id"] = trace_id
        return copy


@dataclass(frozen=True)
class InvokeOutcome:
    """What one invocation produced, as the Invoke API reports it."""

    payload: bytes
    function_error: str | None
    log_tail: bytes
    duration_ms: float
    max_memory_mb: int
    init_duration_ms: float | None


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


def error_payload(request_id: str, error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}).encode()


class ExecutionEnvironment(StateMachine):
    """Scope: one sandboxed runtime for one function version; owned by a :class:`WorkerPool`."""

    def __init__(
        self,
        env_id: str,
        cfg: FunctionConfig,
        launch: RuntimeLaunch,
        code_dir: Path,
        *,
        cgroups: CgroupManager,
        logs: LogStore,
        settings: WorkerSettings,
        region: str,
        sandbox_options: SandboxOptions | None = None,
        runtime_api: RuntimeApiSettings | None = None,
        inside: InsideServer | None = None,
        credentials_for: CredentialsFor | None = None,
        network: EnvironmentNetwork | None = None,
        xray: XrayDaemonServer | None = None,
        inside_gate: Callable[[], bool] | None = None,
    ) -> None:
        self.env_id = env_id
        #: Serves the X-Ray daemon protocol in the sandbox (None: no daemon, no AWS_XRAY_* variables).
        self.xray = xray
        self._xray_sock: socket.socket | None = None
        self._xray_handle: InsideHandle | None = None
        #: Whether lambent's API answers inside the sandbox (a VPC function's; None: always).
        self.inside_gate = inside_gate
        #: The default network its sandbox joins (None: loopback only).
        self.network = network
        self._attachment: NetworkAttachment | None = None
        #: Serves lambent's API inside the sandbox (None: the sandbox gets no such listener).
        self.inside = inside
        #: The execution role's credentials (None: the environment gets none).
        self.credentials_for = credentials_for
        self.credentials: Credentials | None = None
        #: Wall-clock time after which it takes no new invocation (its credentials age out).
        self.retire_at = math.inf
        self.sandbox_options = sandbox_options
        #: What this environment may hold of the server through its Runtime API (settings.runtime_api).
        self.runtime_api = runtime_api
        self.cfg = cfg
        #: The pool's key for it (WorkerPool.pool_key), computed once: the pool looks it up on
        #: every warm invoke.
        self.pool_key = (cfg.key, cfg.version, cfg.environment_revision)
        self.launch = launch
        self.code_dir = code_dir
        self.cgroups = cgroups
        self.settings = settings
        self.region = region
        self._init_state()
        self.last_used = time.monotonic()
        self.log_stream = stream_name(cfg.version, env_id)
        self._writer = logs.writer(account_group(cfg.account_id, cfg.log_group_name), self.log_stream)
        #: START/END/REPORT... in the function's LogFormat, filtered by its SystemLogLevel.
        self._lines = PlatformLines(cfg.log_format, cfg.system_log_level)
        #: A cold start whose init failed: what its invocation reports (logged, with its tail).
        self.failed_outcome: InvokeOutcome | None = None
        self._oom_killed = False
        self._sandbox: Sandbox | None = None
        self._endpoint: RuntimeApiEndpoint | None = None
        self._inside_handle: InsideHandle | None = None
        self._capture: LogCapture | None = None
        self._init_ms: float | None = None
        self._pending_init_report = True
        self._death: asyncio.Task[None] | None = None
        self._destroyed = False
        self._frozen = False
        self._freeze_timer: asyncio.TimerHandle | None = None
        self.death_reason: str | None = None
        #: Whether the pool pinned ``code_dir`` for this environment's lifetime (WorkerPool.new_environment).
        self.code_held = False

    @property
    def memory_mb(self) -> int:
        return self.cfg.memory_mb

    # -- start (cold start) ---------------------------------------------------------------------
    async def start(self, request_id: str) -> bytes | None:
        """Start the sandbox and run the init phase. Returns None when ready, or an error payload
        (already logged) for the invocation that triggered this cold start; the env is then dead."""
        started = time.monotonic()
        missing = self._missing_entrypoint()
        if missing:
            payload = error_payload(request_id, "Runtime.InvalidEntrypoint", missing)
            self._init_failed(request_id, started, "error", "Runtime.InvalidEntrypoint", payload, first=missing)
            await self.destroy("invalid entrypoint")
            return payload
        # With a host uid per sandbox the code tree is readable by this environment's uid only.
        private = self.sandbox_options is not None and self.sandbox_options.uids is not None
        mounts = [Mount(str(self.code_dir), "/var/task", private=private)]
        if self.launch.runtime_dir is not None:
            mounts.append(Mount(str(self.launch.runtime_dir), "/var/runtime"))
        if self.network is not None:
            mounts.append(Mount(str(self.network.resolv_conf), "/etc/resolv.conf"))
        try:
            env = self._environment_variables()
        except BaseException:
            await self.destroy("no credentials")
            raise
        spec = SandboxSpec(
            sandbox_id=self.env_id,
            argv=self.launch.argv,
            env=env,
            mounts=tuple(mounts),
            tmp_size_mb=self.cfg.ephemeral_storage_mb,
            limits=Limits(
                self.cfg.memory_mb, max(INIT_MIN_MILLICORES, cpu_millicores(self.cfg.memory_mb)), self.settings.pids_max
            ),
            listen_port=RUNTIME_API_PORT,
        )
        options = self.sandbox_options
        if self.inside is not None:
            options = dataclasses.replace(options or SandboxOptions(), extra_listen_ports=(INSIDE_API_PORT,))
        try:
            if self.network is None and self.xray is None:
                sandbox = await Sandbox.start(spec, self.cgroups, options)
            else:
                sandbox = await Sandbox.start_with_network(spec, self.cgroups, options, self._before_release)
        except SandboxCapacityExceeded as exc:
            # Like the memory budget: no room for another environment on this host right now
            # (every sandbox uid in use, or its code tree's ACL full).
            raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded", hint=str(exc)) from exc
        except SandboxError as exc:
            if self._destroyed:
                raise self._shut_down() from exc
            await self.destroy("sandbox failed to start")
            raise self._start_failed(request_id, exc.message, exc.hint, exc) from exc
        except ServiceError as exc:  # the network could not be set up (lambent.network.NetworkSetupFailed)
            if self._destroyed:
                raise self._shut_down() from exc
            await self.destroy("network failed to start")
            raise
        if self._destroyed:
            # Destroyed (server shutdown) while the sandbox started: nobody else will stop it.
            await sandbox.destroy()
            raise self._shut_down()
        self._sandbox = sandbox
        assert sandbox.listener is not None  # noqa: S101 - listen_port is set above
        self._capture = LogCapture(sandbox.output_fd, self._writer, self.settings.log_max_bytes_per_invoke, self._lines)
        # The init's output is remembered for the tail of the invocation that caused it, should
        # the init fail (invoke() starts a new tail otherwise).
        self._capture.begin(want_tail=True)
        self._capture.system(self._lines.init_start())
        self._endpoint = RuntimeApiEndpoint(sandbox.listener, self.runtime_api, label=self.env_id)
        try:
            await self._endpoint.start()
        except (OSError, RuntimeError, EndpointClosed) as exc:
            if self._destroyed:
                raise self._shut_down() from exc
            await self.destroy("runtime api failed to start")
            raise self._start_failed(request_id, "the Runtime API endpoint could not be opened", str(exc), exc) from exc
        if self._destroyed:
            raise self._shut_down()
        if self.inside is not None:
            try:
                self._inside_handle = await self.inside.serve(sandbox.extra_listeners[0], self.env_id,
                                                              gate=self.inside_gate)
            except (OSError, RuntimeError) as exc:
                if self._destroyed:
                    raise self._shut_down() from exc
                await self.destroy("inside api failed to start")
                raise self._start_failed(request_id, "lambent's API could not be served in the sandbox", str(exc), exc) from exc
            if self._destroyed:
                self._close_inside()
                raise self._shut_down()
        if self.xray is not None and self._xray_sock is not None:
            sock, self._xray_sock = self._xray_sock, None
            try:
                self._xray_handle = await self.xray.serve(sock, self.env_id, self.cfg.account_id or None)
            except (OSError, RuntimeError) as exc:
                sock.close()
                await self.destroy("x-ray daemon failed to start")
                raise self._start_failed(request_id, "the X-Ray daemon could not be served in the sandbox", str(exc), exc) from exc
            if self._destroyed:
                self._close_xray()
                raise self._shut_down()
        self._death = asyncio.get_running_loop().create_task(self._watch_death())
        try:
            await asyncio.wait_for(self._endpoint.wait_ready(), self.settings.init_timeout_s)
        except RuntimeInitError as exc:
            if self._destroyed:
                raise self._shut_down() from exc
            body = exc.init_error.body
            etype = exc.init_error.error_type or _error_type(body) or "Runtime.Unknown"
            self._init_failed(request_id, started, "error", etype, body)
            await self.destroy("init error")
            return body
        except (asyncio.TimeoutError, EndpointClosed, _Died) as exc:
            if self._destroyed:
                # The pool destroyed it (shutdown), not the runtime: no init error to report.
                raise self._shut_down() from exc
            msg = self._exit_message() if self.death_reason else f"Init timed out after {self.settings.init_timeout_s:.2f} seconds"
            etype = self._died_error_type() if self.death_reason else "Sandbox.Timedout"
            payload = error_payload(request_id, "Runtime.ExitError" if self.death_reason else etype, msg)
            # Lambda's INIT_REPORT of a timed-out init says "Status: timeout" (no error type).
            status = "error" if self.death_reason else "timeout"
            self._init_failed(request_id, started, status, etype if self.death_reason else None, payload)
            await self.destroy("init failed")
            return payload
        if self._destroyed:
            raise self._shut_down()
        self._init_ms = (time.monotonic() - started) * 1000
        self._capture.system(self._lines.init_runtime_done("success"))
        try:
            sandbox.set_cpu_millicores(cpu_millicores(self.cfg.memory_mb))
        except SandboxError as exc:
            await self.destroy("cpu quota not applied")
            raise self._start_failed(request_id, exc.message, exc.hint, exc) from exc
        # Ready, and held by the invocation that started it (no window in which the pool could
        # count it idle and evict it).
        self.state = EnvState.BUSY
        return None

    def _environment_variables(self) -> dict[str, str]:
        """Lambda's variables, plus the execution role's credentials and lambent's endpoint as
        the sandbox reaches it (both win over the function's own variables)."""
        creds: Credentials | None = None
        if self.credentials_for is not None:
            creds = self.credentials = self.credentials_for(self.cfg)
            if creds is not None:
                self.retire_at = retire_at(creds, self.cfg.timeout_s)
        return build_env(
            self.cfg, self.launch, region=self.region, log_stream=self.log_stream,
            credentials=creds.env() if creds is not None else None,
            endpoint_url=f"http://127.0.0.1:{INSIDE_API_PORT}" if self.inside is not None else None,
            xray_daemon=f"127.0.0.1:{XRAY_DAEMON_PORT}" if self.xray is not None else None,
        )

    async def _before_release(self, pid: int) -> None:
        """Sandbox.start's hook, while the sandbox's init is blocked (its code not yet run, so
        nothing in it can take the daemon's port first): the X-Ray daemon's socket, the network."""
        if self.xray is not None:
            sock = await udp_in_netns(pid, port=XRAY_DAEMON_PORT)
            if self._destroyed:  # destroyed meanwhile (shutdown): its destroy found nothing to close
                sock.close()
            else:
                self._xray_sock = sock
        if self.network is not None:
            await self._attach(pid)

    def _close_xray(self) -> None:
        handle, self._xray_handle = self._xray_handle, None
        if handle is not None:
            handle.close()
        sock, self._xray_sock = self._xray_sock, None
        if sock is not None:
            sock.close()

    async def _attach(self, pid: int) -> None:
        """Sandbox.start's network hook: the sandbox's init is blocked, its code not yet run."""
        assert self.network is not None  # noqa: S101 - only passed when set
        self._attachment = await self.network.attach(self.env_id, pid)
        if self._destroyed:  # destroyed meanwhile (shutdown): its destroy found nothing to detach
            await self._detach()

    async def _detach(self) -> None:
        att, self._attachment = self._attachment, None
        if att is not None and self.network is not None:
            await self.network.detach(att)

    def _close_inside(self) -> None:
        handle, self._inside_handle = self._inside_handle, None
        if handle is not None:
            handle.close()

    def retired(self, now: float | None = None) -> bool:
        """Whether its credentials are too old for another invocation (see worker/credentials.py)."""
        return (time.time() if now is None else now) >= self.retire_at

    def _start_failed(self, request_id: str, what: str, hint: str | None, cause: BaseException) -> EnvironmentStartFailed:
        """The lambent error for a start that failed below the worker; the cause rides in its
        context (never in the message a caller sees: it names host paths and bwrap's output)."""
        return EnvironmentStartFailed(
            SERVICE_FAILURE_MESSAGE, function=f"{self.cfg.name}:{self.cfg.version}", request_id=request_id,
            environment=self.env_id, cause=what, hint=hint or "", error=type(cause).__name__,
        )

    def _shut_down(self) -> TooManyRequests:
        return TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded",
                               hint=f"environment {self.env_id} was destroyed while it started ({self.death_reason})")

    def _missing_entrypoint(self) -> str | None:
        if self.launch.runtime_dir is None:
            boot = self.code_dir / "bootstrap"
            if not (boot.is_file() and os.access(boot, os.X_OK)):
                return "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
        return None

    def _init_failed(self, request_id: str, started: float, status: str, etype: str | None, payload: bytes,
                     first: str | None = None) -> None:
        """Log a failed init as Lambda does, and keep what its invocation reports (``failed_outcome``).

        The invocation's log tail holds the init's output (the runtime's error lines), then
        ``INIT_REPORT ... Phase: init Status: error Error Type: ...`` (``Status: timeout`` for a
        timed-out init), then the invocation's ``START``/``END``/``REPORT`` with ``Status: error``.
        Lambda runs the init a second time inside the invoke phase (a "suppressed init", with a
        second ``INIT_REPORT ... Phase: invoke``); lambent runs it once, and bills it with the
        invocation (its REPORT's ``Init Duration``, included in ``Billed Duration``: docs/logs.md).
        ``first``: a line lambent itself writes before (the missing bootstrap; no sandbox then).
        """
        init_ms = (time.monotonic() - started) * 1000
        invoked = time.monotonic()
        lines = self._lines
        capture = self._capture
        tail: list[str] = []

        def out(line: str | None) -> None:
            if line is None:
                return
            if capture is not None:
                capture.system(line)
            else:
                self._writer.write(line)
                tail.append(line)

        if capture is not None:
            capture.end()
        else:
            out(lines.init_start())
        if first is not None:
            out(first)
        out(lines.init_runtime_done(status, etype))
        out(lines.init_report(init_ms, status, etype))
        out(lines.start(request_id, self.cfg.version))
        peak_mb = min(self._peak_mb(self._sandbox), self.cfg.memory_mb) if self._sandbox is not None else 0
        duration_ms = (time.monotonic() - invoked) * 1000
        report_type = etype or "Sandbox.Timedout"
        out(lines.runtime_done(request_id, "error", duration_ms, len(payload), report_type))
        out(lines.report(Report(
            request_id, duration_ms, billed_duration_ms(duration_ms, init_ms), self.cfg.memory_mb,
            peak_mb, init_ms, "error", report_type,
        )))
        self._writer.flush()
        log_tail = capture.tail() if capture is not None else "".join(x + "\n" for x in tail).encode()[-4096:]
        self.failed_outcome = InvokeOutcome(payload, "Unhandled", log_tail, duration_ms, peak_mb, init_ms)

    async def _watch_death(self) -> None:
        assert self._sandbox is not None  # noqa: S101
        status = await self._sandbox.wait()
        if self._destroyed:
            return
        self._oom_killed = status.oom_killed
        if status.oom_killed or status.signal == _signal.SIGKILL:
            self.death_reason = "signal: killed"
        elif status.signal is not None:
            self.death_reason = f"signal: {_signal.Signals(status.signal).name.lower().removeprefix('sig')}"
        else:
            self.death_reason = f"exit status {status.exit_code}"
        if self._endpoint is not None:
            self._endpoint.abort(_Died(self.death_reason))

    def _exit_message(self) -> str:
        return f"Runtime exited with error: {self.death_reason}"

    def _died_error_type(self) -> str:
        """The REPORT's ``Error Type`` of a runtime that died: killed by the memory limit or not."""
        return "Runtime.OutOfMemory" if self._oom_killed else "Runtime.ExitError"

    # -- invoke ------------------------------------------------------------------------------------
    async def invoke(self, req: InvokeRequest) -> InvokeOutcome:
        """Run one invocation. The caller holds the env exclusively (state BUSY: just started,
        or taken idle with :meth:`unpark`)."""
        if self._state is not EnvState.BUSY:
            raise IllegalTransition(self.env_id, self._state, EnvState.BUSY, action="invoke")
        sandbox, endpoint, capture = self._sandbox, self._endpoint, self._capture
        assert sandbox is not None and endpoint is not None and capture is not None  # noqa: S101
        lines = self._lines
        capture.begin(req.want_tail)
        capture.system(lines.start(req.request_id, self.cfg.version))
        # Max Memory Used is the environment's high-water mark, as on Lambda: never reset.
        timeout_s = self.cfg.timeout_s
        start = time.monotonic()
        deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout_s, endpoint.abort, _Timeout())
        function_error: str | None = None
        error_type: str | None = None  # the handler's own error (Lambda-Runtime-Function-Error-Type)
        report_error: str | None = None  # the environment's (REPORT's Error Type)
        try:
            result = await endpoint.invoke(
                Invocation(
                    request_id=req.request_id, payload=req.payload, deadline_ms=deadline_ms,
                    invoked_function_arn=req.invoked_arn, trace_id=req.trace_id,
                    client_context=req.client_context, cognito_identity=req.cognito_identity,
                )
            )
            payload = result.body
            if not result.ok:
                function_error = "Unhandled"
                error_type = result.error_type or _error_type(payload)
        except _Timeout:
            payload = error_payload(req.request_id, "Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds")
            function_error = "Unhandled"
            self.death_reason = "timeout"
            capture.end()
            capture.system(f"{_iso_now()} {req.request_id} Task timed out after {timeout_s:.2f} seconds")
        except (_Died, EndpointClosed):
            payload = error_payload(req.request_id, "Runtime.ExitError", self._exit_message())
            function_error = "Unhandled"
            report_error = self._died_error_type()
        except RuntimeInitError as exc:
            payload = exc.init_error.body
            function_error = "Unhandled"
            self.death_reason = "init error"
            report_error = exc.init_error.error_type or _error_type(payload) or "Runtime.Unknown"
        except (EndpointBusy, RuntimeError) as exc:
            # The endpoint broke its own invariants: lambent's failure, reported as such (the
            # caller's Assignment destroys this environment).
            self.death_reason = "runtime api failure"
            capture.end()
            raise ServiceError(SERVICE_FAILURE_MESSAGE, function=f"{self.cfg.name}:{self.cfg.version}",
                               request_id=req.request_id, environment=self.env_id,
                               cause="runtime api failure", hint=str(exc), error=type(exc).__name__) from exc
        finally:
            timer.cancel()
        duration_ms = (time.monotonic() - start) * 1000
        capture.end()
        # Read also after a timeout or a crash (the cgroup lives until destroy): what the
        # function used, as on Lambda, not the limit; after an OOM kill that is the limit's worth.
        peak_mb = self._peak_mb(sandbox)
        init_ms = self._init_ms if self._pending_init_report else None
        self._pending_init_report = False
        if self.death_reason == "timeout":
            status, done = "timeout", "timeout"
        elif self.death_reason:
            status, done = "error", "failure"
        else:
            status, done = "success", "error" if function_error else "success"
        capture.system(lines.runtime_done(req.request_id, done, duration_ms, len(payload),
                                          report_error or error_type if done != "success" else None))
        capture.system(lines.report(Report(
            req.request_id, duration_ms, billed_duration_ms(duration_ms, init_ms), self.cfg.memory_mb,
            min(peak_mb, self.cfg.memory_mb), init_ms, status, report_error if status == "error" else None,
        )))
        capture.flush()
        self.last_used = time.monotonic()
        return InvokeOutcome(payload, function_error, capture.tail(), duration_ms, peak_mb, init_ms)

    def _peak_mb(self, sandbox: Sandbox) -> int:
        try:
            return math.ceil(sandbox.memory_peak_bytes() / (1024 * 1024))
        except SandboxError as exc:
            # A reading the report cannot get is not the invocation's failure: report the
            # configured size, and retire the environment (its cgroup misbehaves).
            log.warning("environment %s of %s:%s: memory peak unreadable, retiring it: %s", self.env_id,
                        self.cfg.name, self.cfg.version, exc)
            self.death_reason = self.death_reason or "cgroup unreadable"
            return self.cfg.memory_mb

    @property
    def healthy(self) -> bool:
        return (not self._destroyed and self.death_reason is None and self._sandbox is not None
                and not self._sandbox.exited and (self.retire_at == math.inf or not self.retired()))

    def park(self) -> None:
        """Invocation done and the env is healthy: freeze it until the next one.

        The freeze waits ``freeze_after_ms`` so that an environment serving back-to-back
        invocations is not frozen and thawed for each (two cgroup writes that cost the kernel
        more than the invocation itself); an idle environment is frozen all the same.
        """
        self.state = EnvState.IDLE
        delay_s = self.settings.freeze_after_ms / 1000
        if delay_s <= 0:
            self._freeze()
        else:
            self._freeze_timer = asyncio.get_running_loop().call_later(delay_s, self._freeze)

    def _freeze(self) -> None:
        self._freeze_timer = None
        if self._sandbox is not None and self.state == EnvState.IDLE:
            try:
                self._sandbox.freeze()
            except SandboxError as exc:
                # Unfrozen it would run unbilled: retire it (the pool discards unhealthy ones).
                log.warning("environment %s of %s:%s could not be frozen, retiring it: %s", self.env_id,
                            self.cfg.name, self.cfg.version, exc)
                self.death_reason = self.death_reason or "freeze failed"
                return
            self._frozen = True

    def unpark(self) -> bool:
        """Take it for an invocation (BUSY) and thaw it; False if it cannot be thawed (it is
        then unhealthy, for the pool to discard)."""
        self.state = EnvState.BUSY
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        if self._frozen and self._sandbox is not None:
            try:
                self._sandbox.thaw()
            except SandboxError as exc:
                log.warning("environment %s of %s:%s could not be thawed, retiring it: %s", self.env_id,
                            self.cfg.name, self.cfg.version, exc)
                self.death_reason = self.death_reason or "thaw failed"
                return False
            self._frozen = False
        return True

    async def destroy(self, reason: str = "destroyed") -> None:
        if self._destroyed:
            return
        self._destroyed = True
        self.state = EnvState.DEAD
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
        self.death_reason = self.death_reason or reason
        if self._capture is not None:
            self._capture.close()
        # Before the sandbox closes its listening socket: the served one stops first.
        self._close_inside()
        self._close_xray()
        if self._endpoint is not None:
            self._endpoint.abort(EndpointClosed(reason))
            await self._endpoint.close()
        if self._sandbox is not None:
            await self._sandbox.destroy()
        # After the sandbox (its namespace gone): the address is free for another environment.
        await self._detach()
        if self._death is not None and not self._death.done():
            self._death.cancel()
        self._writer.close()


def _error_type(body: bytes) -> str | None:
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj.get("errorType") if isinstance(obj, dict) else None


def _iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
