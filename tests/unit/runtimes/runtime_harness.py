"""Helpers for running the in-sandbox runtime clients as plain host processes.

Each test gets a real RuntimeApiEndpoint on a loopback socket and starts a bootstrap (or AWS's
own awslambdaric) as a subprocess pointed at it, with the handler code in a temporary task root.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambent.runtime_api import Invocation, InvocationResult, RuntimeApiEndpoint

REPO = Path(__file__).resolve().parents[3]
PYTHON_BOOTSTRAP = REPO / "lambent" / "runtimes" / "python" / "bootstrap.py"
NODE_BOOTSTRAP = REPO / "lambent" / "runtimes" / "nodejs" / "bootstrap.mjs"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
WAIT_S = 15.0


@dataclass
class RuntimeProcess:
    """A runtime client subprocess with its stdout/stderr captured as they arrive."""

    proc: asyncio.subprocess.Process
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    async def wait_exit(self, timeout_s: float = WAIT_S) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        await asyncio.gather(*self._readers)
        return code

    async def settle_output(self) -> None:
        """Give the process a moment to flush what it printed after posting a result."""
        await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


async def _pump(stream: asyncio.StreamReader | None, sink: bytearray) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        sink += chunk


@dataclass
class Harness:
    """One endpoint plus the processes started against it during a test."""

    endpoint: RuntimeApiEndpoint
    address: str
    task_root: Path
    processes: list[RuntimeProcess] = field(default_factory=list)

    def write(self, relpath: str, source: str) -> None:
        path = self.task_root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)

    def env(self, handler: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": "my-fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/my-fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abcdef",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        env.update(extra or {})
        return env

    async def spawn(
        self, argv: Sequence[str], handler: str, env: dict[str, str] | None = None
    ) -> RuntimeProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.task_root,
            env=self.env(handler, env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        rp = RuntimeProcess(proc)
        rp._readers = [
            asyncio.create_task(_pump(proc.stdout, rp.stdout)),
            asyncio.create_task(_pump(proc.stderr, rp.stderr)),
        ]
        self.processes.append(rp)
        return rp

    async def start_python(self, handler: str, env: dict[str, str] | None = None) -> RuntimeProcess:
        return await self.spawn(["/usr/bin/python3.11", "-S", "-u", str(PYTHON_BOOTSTRAP)], handler, env)

    async def start_node(self, handler: str, env: dict[str, str] | None = None) -> RuntimeProcess:
        return await self.spawn(["node", str(NODE_BOOTSTRAP)], handler, env)

    async def ready(self, proc: RuntimeProcess) -> None:
        try:
            await asyncio.wait_for(self.endpoint.wait_ready(), WAIT_S)
        except Exception:
            await proc.settle_output()
            print("stdout:", proc.out, "\nstderr:", proc.err)
            raise

    async def invoke(
        self,
        event: object = None,
        *,
        payload: bytes | None = None,
        timeout_s: float = 30.0,
        request_id: str | None = None,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
    ) -> InvocationResult:
        inv = Invocation(
            request_id=request_id or str(uuid.uuid4()),
            payload=payload if payload is not None else json.dumps(event).encode(),
            deadline_ms=int(time.time() * 1000 + timeout_s * 1000),
            invoked_function_arn=FUNCTION_ARN,
            trace_id=trace_id,
            client_context=client_context,
            cognito_identity=cognito_identity,
        )
        return await asyncio.wait_for(self.endpoint.invoke(inv), WAIT_S)


