"""EventInvokeConfigs: typed Put (unset what is not given) and Update (keep it), and a
constructor that reads nothing until load() (real SQLite stores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambent.control.event_invoke import EventInvokeConfigs
from lambent.control.updates import InvokeConfigUpdate
from lambent.errors import InvalidParameterValue, ResourceNotFound
from lambent.store.async_queue import AsyncEventStore
from lambent.store.invoke_configs import InvokeConfigStore
from tests.unit.control.test_functions import inp, service

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)


QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"
TOPIC = "arn:aws:sns:us-east-1:000000000000:t"


async def configs(tmp_path: Path) -> tuple[EventInvokeConfigs, InvokeConfigStore]:
    svc = service(tmp_path)
    await svc.create(inp())
    await svc.wait_idle()
    store = InvokeConfigStore(AsyncEventStore(tmp_path / "async-queue.db").engine)
    return EventInvokeConfigs(svc, store), store


async def test_put_replaces_and_update_merges(tmp_path: Path) -> None:
    eic, _ = await configs(tmp_path)
    with pytest.raises(ResourceNotFound):
        await eic.update(K("fn"), None, InvokeConfigUpdate(maximum_retry_attempts=1))
    first = await eic.put(K("fn"), None, InvokeConfigUpdate(maximum_retry_attempts=1, on_success=QUEUE))
    assert (first.qualifier, first.max_retry_attempts, first.on_success) == ("$LATEST", 1, QUEUE)
    merged = await eic.update(K("fn"), None, InvokeConfigUpdate(maximum_event_age_s=120, on_failure=TOPIC))
    assert (merged.max_retry_attempts, merged.max_event_age_s, merged.on_success, merged.on_failure) == (1, 120, QUEUE, TOPIC)
    cleared = await eic.update(K("fn"), None, InvokeConfigUpdate(on_success=None))
    assert (cleared.on_success, cleared.on_failure) == (None, TOPIC)
    replaced = await eic.put(K("fn"), None, InvokeConfigUpdate(maximum_event_age_s=60))
    assert (replaced.max_retry_attempts, replaced.max_event_age_s, replaced.on_failure) == (None, 60, None)


async def test_destinations_are_checked_on_update_too(tmp_path: Path) -> None:
    eic, _ = await configs(tmp_path)
    await eic.put(K("fn"), None, InvokeConfigUpdate())
    with pytest.raises(InvalidParameterValue, match="itself"):
        await eic.update(K("fn"), None, InvokeConfigUpdate(on_failure="arn:aws:lambda:us-east-1:000000000000:function:fn"))
    with pytest.raises(InvalidParameterValue, match="invalid"):
        await eic.update(K("fn"), None, InvokeConfigUpdate(on_success="arn:aws:s3:::bucket"))


async def test_constructor_reads_nothing_until_load(tmp_path: Path) -> None:
    eic, store = await configs(tmp_path)
    await eic.put(K("fn"), None, InvokeConfigUpdate(maximum_retry_attempts=0))
    again = EventInvokeConfigs(eic.functions, store, load=False)
    assert again.lookup(K("fn"), None) is None
    await again.load()
    found = again.lookup(K("fn"), None)
    assert found is not None and found.max_retry_attempts == 0
