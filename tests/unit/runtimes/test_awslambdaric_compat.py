"""AWS's own Python runtime client, awslambdaric, unmodified, against RuntimeApiEndpoint.

If AWS's client works against our endpoint, any runtime built on the official clients will.
"""

from __future__ import annotations

import json
import sys

import pytest
from runtime_harness import Harness

pytest.importorskip("awslambdaric", reason="awslambdaric (PyPI) is not installed")


async def test_awslambdaric_success_then_exception(harness: Harness) -> None:
    harness.write(
        "app.py",
        "calls = 0\n"
        "def handler(event, context):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('bad ' + context.aws_request_id)\n"
        "    return {'got': event, 'calls': calls, 'fn': context.function_name,\n"
        "            'left': context.get_remaining_time_in_millis() > 0}\n",
    )
    proc = await harness.spawn([sys.executable, "-m", "awslambdaric", "app.handler"], "app.handler")
    await harness.ready(proc)

    ok = await harness.invoke({"n": 1}, request_id="ric-1")
    assert ok.ok
    assert json.loads(ok.body) == {"got": {"n": 1}, "calls": 1, "fn": "my-fn", "left": True}

    failed = await harness.invoke({"fail": True}, request_id="ric-2")
    assert not failed.ok and failed.error_type == "ValueError"
    error = json.loads(failed.body)
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("ValueError", "bad ric-2", "ric-2")
    assert 'app.py", line 6, in handler' in error["stackTrace"][0]

    again = await harness.invoke({"n": 3}, request_id="ric-3")
    assert json.loads(again.body)["calls"] == 3


async def test_awslambdaric_init_error_reaches_wait_ready(harness: Harness) -> None:
    from lambent.runtime_api import RuntimeInitError

    proc = await harness.spawn([sys.executable, "-m", "awslambdaric", "missing.handler"], "missing.handler")
    with pytest.raises(RuntimeInitError) as caught:
        await harness.ready(proc)
    assert caught.value.init_error.error_type == "Runtime.ImportModuleError"
    assert json.loads(caught.value.init_error.body)["errorMessage"] == (
        "Unable to import module 'missing': No module named 'missing'"
    )
