"""What every benchmark shares: the server under test, the baseline echo server, a signing
keep-alive HTTP client, function set-up, statistics, /proc and cgroup readings, and the report.

Benchmarks are scripts, not tests: each starts its own ``lambent server`` on a free loopback port
with a fresh data directory, measures a figure and a baseline in the same run, prints a table
(figure, baseline, ratio, target, PASS/FAIL) and one JSON line, then stops the server (SIGTERM)
and removes the directory. Nothing here leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AK"
SECRET_KEY = "SK"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/bench"
RUNTIME = "python3.11"
#: 1769 MB is one full vCPU (CPU is proportional to MemorySize); 128 MB would get 7 % of one.
FULL_CPU_MEMORY_MB = 1769

ECHO_HANDLER = "def handler(event, context):\n    return event\n"
#: The event sent to echo functions (and to the echo baseline), and its encoding.
ECHO_EVENT = {"hello": "world", "n": 42}
ECHO_PAYLOAD = json.dumps(ECHO_EVENT).encode()
HELLO_HANDLER = 'def handler(event, context):\n    return {"hello": "world"}\n'

BENCH_DIR = Path(__file__).resolve().parent
# Sandboxed processes run as an unprivileged uid and must be able to traverse every parent of
# the data directory; /var/tmp is world-traversable, /tmp/pytest-* and /root are not.
_SCRATCH_PARENT = Path("/var/tmp")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LambentServer:
    """One ``lambent server`` process and its scratch directory.

    Scope: a context manager; entering starts the server on a free port with a fresh data dir
    and waits for ``GET /health``; leaving sends SIGTERM, waits, and deletes the directory. The
    server's stderr goes to ``log_path`` (inside the scratch dir) so ``log_tail`` can show it
    when something goes wrong.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, start_timeout_s: float = 30.0) -> None:
        self.extra_env = dict(env or {})
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.scratch = Path()
        self.data_dir = Path()
        self.log_path = Path()
        self.proc: subprocess.Popen[bytes] | None = None
        self.leftover_cgroups: list[str] = []
        #: Empty ``lambent-<hash>`` parent cgroups the stopped server left (removed by us).
        self.leftover_parent_cgroups: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("server not started")
        return self.proc.pid

    @property
    def cgroup_prefix(self) -> str:
        # Mirrors lambent.platform.cgroup_prefix (one cgroup parent per resolved data dir).
        return "lambent-" + hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]

    def __enter__(self) -> LambentServer:
        self.scratch = Path(tempfile.mkdtemp(prefix="lambent-bench-", dir=_SCRATCH_PARENT))
        os.chmod(self.scratch, 0o755)
        self.data_dir = self.scratch / "data"
        self.log_path = self.scratch / "server.log"
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "LAMBENT_ROOT_ACCESS_KEY_ID": ACCESS_KEY,
                "LAMBENT_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
                "LAMBENT_WORKER_SHUTDOWN_GRACE_S": "5",
                # unpacked code inside the scratch dir, removed with it
                "LAMBENT_WORKER_SANDBOX_DIR": str(self.scratch / "sandbox"),
            }
        )
        env.update(self.extra_env)
        lambent_bin = Path(sys.executable).with_name("lambent")
        cmd = [str(lambent_bin)] if lambent_bin.exists() else [sys.executable, "-m", "lambent.cli.main"]
        cmd += ["server", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy after {self.start_timeout_s}s:\n{self.log_tail()}")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            print(f"benchmark failed: {exc!r}; server log tail:\n{self.log_tail()}", file=sys.stderr)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                print(f"server {self.proc.pid} ignored SIGTERM for 30 s; killing it", file=sys.stderr)
                self.proc.kill()
                self.proc.wait(10)
        # uvicorn re-raises the signal it handled after a graceful shutdown: -SIGTERM is normal.
        if self.proc is not None and self.proc.returncode not in (0, -signal.SIGTERM, None):
            print(f"server exited with {self.proc.returncode}; log tail:\n{self.log_tail()}", file=sys.stderr)
        self.leftover_cgroups = [str(p) for p in sandbox_cgroups(self.cgroup_prefix)]
        if self.leftover_cgroups:
            print(f"server left {len(self.leftover_cgroups)} sandbox cgroups behind", file=sys.stderr)
        else:
            self.leftover_parent_cgroups = _remove_empty_parents(self.cgroup_prefix)
        if self.scratch != Path() and self.scratch.is_dir():
            shutil.rmtree(self.scratch, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_s(self) -> float:
        """CPU time (user+system) of the server process itself, sandboxes not included."""
        return proc_cpu_s(self.pid)

    def sandboxes(self) -> list[Path]:
        """This server's live sandbox cgroups (memory controller, or the v2 directory)."""
        return sandbox_cgroups(self.cgroup_prefix)

    def sandbox_cpu_s(self) -> float:
        """CPU time of all live sandboxes, from their cgroups (cpuacct on v1, cpu.stat on v2)."""
        return sum(cgroup_cpu_s(self.cgroup_prefix, p.name) for p in self.sandboxes())


class EchoServer:
    """The baseline (``_echo_server.py``) as a separate process; a context manager."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> EchoServer:
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "_echo_server.py")], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.__exit__()
            raise RuntimeError(f"echo server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ------------------------------------------------------------------------------------ clients


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes


def is_echo(body: bytes) -> bool:
    """Whether a response body is ECHO_EVENT (byte-for-byte from the echo server, re-encoded by lambent)."""
    if body == ECHO_PAYLOAD:
        return True
    try:
        return bool(json.loads(body) == ECHO_EVENT)
    except ValueError:
        return False


def invoke_path(function_name: str) -> str:
    return f"/2015-03-31/functions/{function_name}/invocations"


class SigningClient:
    """A raw keep-alive HTTP/1.1 client that SigV4-signs every request (botocore's signer).

    One ``http.client.HTTPConnection`` kept open with TCP_NODELAY (without it, Nagle plus
    delayed ACKs add ~40 ms per request on loopback). Scope: one thread; not thread-safe.
    """

    def __init__(self, port: int, *, service: str = "lambda", timeout_s: float = 120.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION)
        self._conn: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return self._conn

    def sign(self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> dict[str, str]:
        """The headers of a SigV4-signed request (X-Amz-Date and Authorization added)."""
        req = AWSRequest(method=method, url=f"http://127.0.0.1:{self.port}{path}", data=body, headers=dict(headers or {}))
        self._signer.add_auth(req)
        return dict(req.headers.items())

    def signing_cost_us(self, n: int = 2000) -> float:
        """Client CPU to sign one small request: part of every figure measured with this client."""
        t0 = time.perf_counter()
        for _ in range(n):
            self.sign("POST", "/2015-03-31/functions/x/invocations", b'{"hello": "world"}')
        return (time.perf_counter() - t0) / n * 1e6

    def request(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> HttpResult:
        signed = self.sign(method, path, body, headers)
        fresh = self._conn is None
        try:
            return self._send(method, path, body, signed)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A kept-alive connection the server closed while idle; retry once on a new one.
            self.close()
            if fresh:
                raise
            self.reconnects += 1
            return self._send(method, path, body, signed)

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        return HttpResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def invoke(self, function_name: str, payload: bytes, *, log_tail: bool = False) -> HttpResult:
        headers = {"Content-Type": "application/json"}
        if log_tail:
            headers["X-Amz-Log-Type"] = "Tail"
        return self.request("POST", invoke_path(function_name), payload, headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def lambda_client(url: str) -> Any:
    """An unmodified boto3 Lambda client (retries off, so errors are seen, not hidden)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 0}, read_timeout=120, max_pool_connections=32),
    )


def zip_bytes(files: Mapping[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


_ROLES_MADE: set[str] = set()
_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def ensure_role(lam: Any) -> None:
    """The execution role ``ROLE`` on the server ``lam`` talks to (servers with IAM require it to
    exist and trust Lambda; a tree without IAM refuses the call, which is then ignored)."""
    import boto3
    from botocore.exceptions import ClientError
    from botocore.parsers import ResponseParserError

    endpoint = lam.meta.endpoint_url
    if endpoint in _ROLES_MADE:
        return
    creds = lam._request_signer._credentials  # the same keys as the Lambda client
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=creds.access_key,
                       aws_secret_access_key=creds.secret_key)
    try:
        iam.create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=_TRUST)
    except ResponseParserError:
        pass  # a tree without IAM answers in Lambda's JSON envelope
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("EntityAlreadyExists", "InvalidSignatureException",
                                                  "UnknownOperationException"):
            raise
    _ROLES_MADE.add(endpoint)


def create_function(
    lam: Any, name: str, source: str, *, memory_mb: int = FULL_CPU_MEMORY_MB, timeout_s: int = 30
) -> float:
    """Create a Python function from ``source`` (module ``app``) and wait until it is Active.

    Returns the seconds from CreateFunction to Active.
    """
    ensure_role(lam)
    t0 = time.perf_counter()
    lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_bytes({"app.py": source})},
        MemorySize=memory_mb,
        Timeout=timeout_s,
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
    )
    return time.perf_counter() - t0


def log_result_text(result: HttpResult) -> str:
    """The decoded ``X-Amz-Log-Result`` (LogType=Tail) of an invoke, or ''."""
    raw = result.headers.get("x-amz-log-result")
    return base64.b64decode(raw).decode(errors="replace") if raw else ""


_INIT_DURATION = re.compile(r"Init Duration: ([0-9.]+) ms")
_DURATION = re.compile(r"\bDuration: ([0-9.]+) ms")


def init_duration_ms(log_text: str) -> float | None:
    m = _INIT_DURATION.search(log_text)
    return float(m.group(1)) if m else None


def report_duration_ms(log_text: str) -> float | None:
    for line in log_text.splitlines():
        if line.startswith("REPORT"):
            m = _DURATION.search(line)
            return float(m.group(1)) if m else None
    return None


def cold_invoke(srv: LambentServer, lam: Any, client: SigningClient, name: str, problems: list[str]) -> tuple[float, bool]:
    """One cold invoke of the existing function ``name`` on ``srv``: once no sandbox of ``srv`` is
    left (a problem is noted if one still is after 10 s), timed on the client over ``client``'s open
    keep-alive connection; the function is then deleted. Returns (seconds, whether it succeeded);
    a failed invoke is noted in ``problems``."""
    if not wait_until(lambda: not srv.sandboxes(), 10):
        problems.append(f"{name}: previous sandbox still alive after 10 s")
    client.request("GET", "/2015-03-31/functions/")  # the connection is open and warm: time the invoke only
    t0 = time.perf_counter()
    result = client.invoke(name, b"{}")
    elapsed = time.perf_counter() - t0
    ok = result.status == 200 and "x-amz-function-error" not in result.headers
    if not ok:
        problems.append(f"{name}: {result.status} {result.body[:200]!r}")
    lam.delete_function(FunctionName=name)
    return elapsed, ok


# ------------------------------------------------------------------------------------ /proc and cgroups


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (not its children), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    # fields[0] is the state (field 3); utime/stime are fields 14/15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def proc_ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def proc_cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]


def smaps_rollup_kb(pid: int) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` as {field: kB} (Rss, Pss, Private_Dirty, …)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def uss_kb(rollup: Mapping[str, int]) -> int:
    """Unique set size: pages no other process maps."""
    return rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)


_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_v2() -> bool:
    return (_CGROUP_ROOT / "cgroup.controllers").exists()


def sandbox_cgroups(prefix: str) -> list[Path]:
    """Sandbox cgroup directories below ``prefix`` (v1: the memory hierarchy; v2: unified)."""
    parent = _CGROUP_ROOT / prefix if _cgroup_v2() else _CGROUP_ROOT / "memory" / prefix
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir())


def _remove_empty_parents(prefix: str) -> list[str]:
    """rmdir this server's own, now empty, parent cgroups; returns the ones that existed.

    Only ``prefix`` (derived from our private data dir) is touched; rmdir refuses a cgroup that
    still has children or processes, so nothing live can be removed.
    """
    if _cgroup_v2():
        parents = [_CGROUP_ROOT / prefix]
    else:
        parents = [d / prefix for d in _CGROUP_ROOT.iterdir() if (d / prefix).is_dir()]
    found = [str(p) for p in parents if p.is_dir()]
    for path in found:
        try:
            os.rmdir(path)
        except OSError:
            pass
    return found


def cgroup_file(prefix: str, env_id: str, controller: str, name: str) -> Path:
    if _cgroup_v2():
        return _CGROUP_ROOT / prefix / env_id / name
    return _CGROUP_ROOT / controller / prefix / env_id / name


def cgroup_pids(prefix: str, env_id: str) -> set[int]:
    try:
        text = cgroup_file(prefix, env_id, "memory", "cgroup.procs").read_text()
    except OSError:
        return set()
    return {int(t) for t in text.split()}


def cgroup_memory_bytes(prefix: str, env_id: str) -> int:
    name = "memory.current" if _cgroup_v2() else "memory.usage_in_bytes"
    return int(cgroup_file(prefix, env_id, "memory", name).read_text().split()[0])


def cgroup_cpu_s(prefix: str, env_id: str) -> float:
    try:
        if _cgroup_v2():
            text = cgroup_file(prefix, env_id, "cpu", "cpu.stat").read_text()
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return 0.0
        return int(cgroup_file(prefix, env_id, "cpuacct", "cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError):
        return 0.0  # the sandbox went away between listing and reading


def cgroup_freezer_state(prefix: str, env_id: str) -> str:
    if _cgroup_v2():
        frozen = cgroup_file(prefix, env_id, "", "cgroup.freeze").read_text().strip()
        return "FROZEN" if frozen == "1" else "THAWED"
    return cgroup_file(prefix, env_id, "freezer", "freezer.state").read_text().strip()


def wait_until(predicate: Any, timeout_s: float, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


# ------------------------------------------------------------------------------------ statistics


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Summary of latency samples, all in milliseconds."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_s: Sequence[float]) -> Latency:
        if not samples_s:
            raise ValueError("no samples")
        ms = sorted(s * 1000 for s in samples_s)
        return cls(
            n=len(ms),
            p50_ms=percentile(ms, 50),
            p90_ms=percentile(ms, 90),
            p99_ms=percentile(ms, 99),
            mean_ms=statistics.fmean(ms),
            max_ms=ms[-1],
        )

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


# ------------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class Figure:
    """One measured figure, its same-run baseline, and the target it is held to (if any)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    max_value: float | None = None
    min_value: float | None = None
    max_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def target(self) -> str:
        parts = []
        if self.max_value is not None:
            parts.append(f"≤ {_num(self.max_value)} {self.unit}")
        if self.min_value is not None:
            parts.append(f"≥ {_num(self.min_value)} {self.unit}")
        if self.max_ratio is not None:
            parts.append(f"≤ {_num(self.max_ratio)}× baseline")
        return ", ".join(parts)

    @property
    def passed(self) -> bool | None:
        if not self.target:
            return None
        ok = True
        if self.max_value is not None:
            ok &= self.value <= self.max_value
        if self.min_value is not None:
            ok &= self.value >= self.min_value
        if self.max_ratio is not None:
            ratio = self.ratio
            ok &= ratio is not None and ratio <= self.max_ratio
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "unit": self.unit,
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "baseline_name": self.baseline_name,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": self.target,
            "passed": self.passed,
        }


def _num(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


@dataclass
class Report:
    """The output of one benchmark: figures with targets, plus informational details."""

    benchmark: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        with open("/proc/loadavg", encoding="ascii") as f:
            load = f.read().split()[:3]
        self.info["machine"] = {"cpus": os.cpu_count(), "loadavg_at_start": [float(x) for x in load]}

    def note_server(self, srv: LambentServer) -> None:
        """Record how the server under test shut down, and what it left behind."""
        self.info["server"] = {
            "exit_code": None if srv.proc is None else srv.proc.returncode,
            "leftover_sandbox_cgroups": srv.leftover_cgroups,
            "leftover_empty_parent_cgroups": srv.leftover_parent_cgroups,
        }
        if srv.leftover_cgroups:
            self.notes.append(f"server left {len(srv.leftover_cgroups)} sandbox cgroups after SIGTERM")
        if srv.leftover_parent_cgroups:
            self.notes.append(
                f"server left its empty parent cgroup {srv.cgroup_prefix} in {len(srv.leftover_parent_cgroups)} "
                "hierarchies after SIGTERM (removed by the benchmark)"
            )

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    @property
    def passed(self) -> bool:
        return all(f.passed is not False for f in self.figures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "passed": self.passed,
            "figures": [f.as_dict() for f in self.figures],
            "info": self.info,
            "notes": self.notes,
        }

    def print_table(self) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=self.title, title_justify="left")
        for col, justify in (("figure", "left"), ("measured", "right"), ("baseline", "right"),
                             ("ratio", "right"), ("target", "left"), ("result", "center")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for f in self.figures:
            base = "" if f.baseline is None else f"{_num(f.baseline)} {f.unit} ({f.baseline_name})"
            ratio = "" if f.ratio is None else f"{f.ratio:.2f}×"
            result = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "info"}[f.passed]
            table.add_row(f.name, f"{_num(f.value)} {f.unit}", base, ratio, f.target, result)
        console = Console(width=max(Console().width, 120))
        console.print(table)
        for note in self.notes:
            console.print(f"  • {note}", highlight=False)

    def emit(self, json_path: str | None) -> None:
        """Print the table, then the JSON line to stdout or (if given) to ``json_path``."""
        self.print_table()
        line = json.dumps(self.as_dict(), sort_keys=False)
        if json_path:
            Path(json_path).write_text(line + "\n")
        else:
            print(line)


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the JSON result line here instead of stdout")
    return parser


def unique_names(prefix: str, n: int) -> list[str]:
    tag = os.urandom(3).hex()
    return [f"{prefix}-{tag}-{i}" for i in range(n)]
