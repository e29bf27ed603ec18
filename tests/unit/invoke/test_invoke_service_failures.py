"""A worker failure (a sandbox that cannot start) reaches the invoke service as a ServiceError:
it is logged there once, with the ARN invoked, the request id and the cause the worker put in
its context, then raised on (the API answers 500 ServiceException), and everything is given back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from lambent.control.model import FunctionConfig, State
from lambent.errors import SERVICE_FAILURE_MESSAGE, EnvironmentStartFailed
from lambent.invoke.concurrency import ConcurrencyLimiter
from lambent.invoke.service import InvokeService
from lambent.worker.assignment import Assignment
from lambent.worker.environment import InvokeRequest

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


CFG = FunctionConfig(account_id="000000000000", name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex="a" * 64,
                     code_sha256_b64="x", code_size=1, last_modified="now", revision_id="r1", state=State.ACTIVE)
REQ = InvokeRequest(request_id="req-77", payload=b"{}", invoked_arn="arn")


class Entry:
    reserved_concurrency = None


class Arns:
    code = object()

    def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None, invoking: bool = False) -> FunctionConfig:
        return CFG

    def entry(self, name: str) -> Entry:
        return Entry()

    def arn(self, name: str, qualifier: str | None = None) -> str:
        # as FunctionService.arn: ``name`` is the key (ACCOUNT:function:NAME)
        return f"arn:aws:lambda:us-east-1:{name}" + (f":{qualifier}" if qualifier else "")


class Env:
    def __init__(self) -> None:
        self.cfg = CFG
        self.code_held = True

    async def start(self, request_id: str) -> bytes | None:
        raise EnvironmentStartFailed(SERVICE_FAILURE_MESSAGE, function="f:$LATEST", request_id=request_id,
                                     environment="env-1", cause="sandbox start timed out after 5.0s",
                                     hint="bwrap output: bwrap: Can't mkdir /usr/bin/dash", error="SandboxError")


class Pool:
    def __init__(self) -> None:
        self.discarded = 0

    def hold_code_with(self, code: object) -> None:
        pass

    def environment(self, cfg: Any, request_id: str, guard: Any) -> Assignment:
        return Assignment(self, cfg, request_id, guard)  # type: ignore[arg-type]

    def take_idle(self, cfg: Any) -> None:
        return None

    async def new_environment(self, cfg: Any) -> Env:
        return Env()

    def discard(self, env: Env) -> None:
        self.discarded += 1


async def test_a_start_failure_is_logged_once_with_its_context_and_raised_on(caplog: pytest.LogCaptureFixture) -> None:
    pool = Pool()
    limiter = ConcurrencyLimiter(10, lambda _account: 0)
    svc = InvokeService(Arns(), pool, limiter)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR), pytest.raises(EnvironmentStartFailed) as caught:
        await svc.invoke(K("f"), "live", REQ)
    assert caught.value.message == SERVICE_FAILURE_MESSAGE
    lines = [r.getMessage() for r in caplog.records if "req-77" in r.getMessage()]
    assert len(lines) == 1
    line = lines[0]
    for part in ("arn:aws:lambda:us-east-1:000000000000:function:f:live", "sandbox start timed out after 5.0s",
                 "SandboxError", "environment env-1", "hint: bwrap output"):
        assert part in line, part
    assert pool.discarded == 1 and limiter.running() == 0 and svc.in_flight == 0
