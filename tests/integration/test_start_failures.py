"""A function whose sandbox cannot start, on a real server: the sandbox layer refuses for real
(``sandbox.bin_sh`` names a shell that does not exist, so every Sandbox.start fails its preflight
with a SandboxError), and lambent answers as AWS does for its own failure:

- a synchronous Invoke gets 500 ServiceException, with a message that names nothing of the host,
  and the cause is logged once, with the function's ARN and the request id;
- an asynchronous event follows the retry policy like any system error: exponential backoff
  from ``async.backoff_initial_s`` (never a flat 1-second loop), no attempt used up.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_function

MISSING_SH = "/nonexistent/lambent-test/bash"
BACKOFF_S = 0.2
APP = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}


@pytest.fixture
def broken(fresh_server: Any) -> Any:
    return fresh_server(
        LAMBENT_SANDBOX_BIN_SH=MISSING_SH,
        LAMBENT_ASYNC_BACKOFF_INITIAL_S=str(BACKOFF_S),
        LAMBENT_ASYNC_BACKOFF_MAX_S="60",
    )


def _failure_lines(server: Any, request_id: str) -> list[str]:
    return [line for line in server.log().splitlines() if f"invocation {request_id} of " in line and "failed in lambent" in line]


def _at(line: str) -> float:
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", line)
    assert stamp, line
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _wait_for_lines(server: Any, request_id: str, count: int, timeout_s: float) -> list[str]:
    """Poll the server's log file (another process: there is no event to await)."""
    deadline = time.monotonic() + timeout_s
    lines = _failure_lines(server, request_id)
    while len(lines) < count:
        assert time.monotonic() < deadline, f"only {len(lines)} attempts logged:\n{server.log()[-4000:]}"
        time.sleep(0.05)
        lines = _failure_lines(server, request_id)
    return lines


def test_a_sandbox_that_cannot_start_answers_service_exception_and_logs_once(broken: Any) -> None:
    lam = broken.client()
    name = create_function(lam, APP)
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{}")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "ServiceException"
    message = response["Error"]["Message"]
    assert message == "The Lambda service encountered an internal error."
    # nothing of the host reaches the caller: not the path, not bwrap's words, not the sandbox dir
    assert MISSING_SH not in str(response) and str(broken.sandbox_dir()) not in str(response)
    request_id = response["ResponseMetadata"]["RequestId"]
    [line] = _wait_for_lines(broken, request_id, 1, 10)
    assert f"function:{name}" in line and MISSING_SH in line and "SandboxError" in line
    # the server keeps serving
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_an_async_event_whose_sandbox_cannot_start_backs_off_exponentially(broken: Any) -> None:
    lam = broken.client()
    name = create_function(lam, APP)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert resp["StatusCode"] == 202
    request_id = resp["ResponseMetadata"]["RequestId"]
    # 5 attempts: at 0, then after 0.2, 0.4, 0.8 and 1.6 s (3 s in all); a flat 1 s loop would
    # have its 4th and 5th attempts after 1 s each
    lines = _wait_for_lines(broken, request_id, 5, 30)
    times = [_at(line) for line in lines[:5]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for step, gap in enumerate(gaps):
        # the log's clock has millisecond resolution; the dispatcher never runs an event early
        assert gap >= BACKOFF_S * 2**step - 0.01, (step, gaps)
    # a system error uses up no attempt: with MaximumRetryAttempts=0 the event is still being
    # retried (a function error would have failed it after the first)
    assert len(_failure_lines(broken, request_id)) >= 5
    assert "discarded" not in broken.log()
