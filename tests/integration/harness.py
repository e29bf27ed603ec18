"""Integration harness (helpers; fixtures are in conftest.py): the real ``lambent server`` process, real sandboxes, driven by boto3.

Tests here need root, bubblewrap and cgroups. On a laptop without them they skip with the reason;
in CI (``CI=true``) a missing prerequisite is a failure, never a skip.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib.request
from botocore.config import Config

from lambent.sandbox import kill_leftover_sandboxes

ACCESS_KEY = "LKIATESTACCESSKEY001"
SECRET_KEY = "test-secret-key-for-integration-tests"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
#: A second execution role, for tests that switch a function's role.
OTHER_ROLE = "arn:aws:iam::000000000000:role/other"
#: The trust of the harness's roles: Lambda runs functions with them, EventBridge Scheduler
#: invokes schedule targets with them.
ROLE_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "scheduler.amazonaws.com"]},
    "Action": "sts:AssumeRole"}]})
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
#: Schedule targets and Lambda destinations are authorised with the role: it may invoke any function.
INVOKE_ANY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]})


def _missing_prerequisite() -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root (cgroups)"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if not (Path("/sys/fs/cgroup/memory").is_dir() or Path("/sys/fs/cgroup/cgroup.controllers").exists()):
        return "no usable cgroup hierarchy"
    return None


def require_prerequisites() -> None:
    reason = _missing_prerequisite()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI prerequisite missing: {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Every server a test started (sweep_servers at the end of the session).
STARTED: list[Server] = []


def sweep_servers() -> None:
    """At the end of a session: stop every server a test left running and remove what any left
    behind (sandbox dirs, blocked inits, its networks' links and tables), also after failures."""
    for srv in STARTED:
        try:
            srv.stop(timeout_s=10)
            srv.cleanup()
        except Exception:  # noqa: BLE001 - best effort, one server must not keep the others' leftovers
            continue
    STARTED.clear()


@dataclass
class Server:
    """A running ``lambent server`` subprocess."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: Run the server in its own session (so a test may kill its whole process group).
    own_session: bool = False
    _sandbox_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sandbox_dir(self) -> Path:
        """Where this server unpacks code for its sandboxes: world-traversable (unlike pytest's
        0700 temp dirs), one per server, removed by :meth:`cleanup`."""
        if self._sandbox_dir is None:
            self._sandbox_dir = Path(tempfile.mkdtemp(prefix="lambent-test-", dir="/var/tmp"))
            os.chmod(self._sandbox_dir, 0o711)
        return self._sandbox_dir

    def cleanup(self) -> None:
        if self._sandbox_dir is not None:
            # A test that SIGKILLed its server without restarting it may have left blocked inits.
            kill_leftover_sandboxes(f"{self._sandbox_dir}/")
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            self._sandbox_dir = None
        if self.proc is not None and self.proc.poll() is not None:
            # A server that was killed leaves its default network (bridge, veths, nftables tables);
            # swept unless a server restarted on the same data dir holds it (its lock). Names derive
            # from the data dir's path: one a test deleted is swept without a lock (none can hold it).
            from lambent.network import DefaultNetwork
            from lambent.platform import StartupError, lock_data_dir
            from lambent.settings import NetworkSettings

            fd = -1
            if self.data_dir.is_dir():
                try:
                    fd = lock_data_dir(self.data_dir)
                except StartupError:
                    return
            try:
                DefaultNetwork(NetworkSettings(), data_dir=self.data_dir, files_dir=self.data_dir).cleanup_leftovers()
                from lambent.network.vpc import VpcNetwork

                VpcNetwork(NetworkSettings(), None, data_dir=self.data_dir,  # type: ignore[arg-type]
                           files_dir=self.data_dir).cleanup_leftovers()
            finally:
                if fd >= 0:
                    os.close(fd)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "LAMBENT_ROOT_ACCESS_KEY_ID": ACCESS_KEY,
                "LAMBENT_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
                "LAMBENT_WORKER_SHUTDOWN_GRACE_S": "5",
                "LAMBENT_WORKER_SANDBOX_DIR": str(self.sandbox_dir()),
            }
        )
        env.update(self.env_extra)
        return env

    def start(self, timeout_s: float = 30) -> Server:
        STARTED.append(self)
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        logf = open(self.log_path, "ab")  # noqa: SIM115 - kept for the process lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambent.cli.main", "server", "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "info"],
            env=self.env(), stdout=logf, stderr=subprocess.STDOUT, start_new_session=self.own_session,
        )
        logf.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    healthy = r.status == 200
            except OSError:
                time.sleep(0.05)
                continue
            if healthy:
                self.provision_roles()
                return self
        raise RuntimeError(f"server not healthy in {timeout_s}s:\n{self.log()}")

    def provision_roles(self) -> None:
        """Create the execution roles every test uses (:data:`ROLE`, :data:`OTHER_ROLE`) through the
        IAM API, as the server's root, if they are not there yet (a restart keeps them). A server
        started with generated root credentials (the README walkthrough) gets none: its user
        creates what it needs."""
        env = self.env()
        key, secret = env.get("LAMBENT_ROOT_ACCESS_KEY_ID"), env.get("LAMBENT_ROOT_SECRET_ACCESS_KEY")
        if not key or not secret:
            return
        iam = boto3.client("iam", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=key,
                           aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}))
        for arn in (ROLE, OTHER_ROLE):
            name = arn.rsplit("/", 1)[-1]
            try:
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROLE_TRUST)
            except iam.exceptions.EntityAlreadyExistsException:
                continue
            iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION)
            iam.put_role_policy(RoleName=name, PolicyName="invoke-any", PolicyDocument=INVOKE_ANY)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def client(self, service: str = "lambda", **config: Any) -> Any:
        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"max_attempts": 0}, read_timeout=120, **config),
        )


def send_signed(server: Server, method: str, path: str, body: bytes = b"", service: str = "lambda",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One SigV4-signed request sent raw (no SDK validation in the way): status, headers (lower-case
    names), body."""
    import urllib.error

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=f"{server.url}{path}", data=body, headers=headers or {})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, "us-east-1").add_auth(req)
    raw = urllib.request.Request(req.url, data=body or None, method=method, headers=dict(req.headers))
    try:
        with urllib.request.urlopen(raw, timeout=30) as res:
            return res.status, {k.lower(): v for k, v in res.headers.items()}, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def zip_of(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_function(lam: Any, code: dict[str, str | bytes], *, runtime: str = "python3.11", handler: str = "app.handler",
                    wait: bool = True, modes: dict[str, int] | None = None, **kwargs: Any) -> str:
    name = kwargs.pop("FunctionName", None) or unique()
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": zip_of(code, modes)}, **kwargs)
    if wait:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    return name


def invoke_json(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    import json

    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}).encode(), **kwargs)
    body = resp["Payload"].read()
    return resp, json.loads(body) if body else None
