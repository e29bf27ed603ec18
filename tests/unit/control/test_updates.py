"""Typed partial updates: NOT_GIVEN is not None, and the services apply only what was given."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path

import pytest

from lambent.control.aliases import AliasService
from lambent.control.functions import FunctionService
from lambent.control.updates import (
    NOT_GIVEN,
    AliasUpdate,
    ConfigUpdate,
    InvokeConfigUpdate,
    NotGiven,
    given,
    given_members,
    or_current,
)
from lambent.control.versions import VersionService
from lambent.errors import InvalidParameterValue, ResourceNotFound
from tests.unit.control.test_functions import inp, service

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)



def test_not_given_is_one_falsy_instance_distinct_from_none() -> None:
    assert NotGiven() is NOT_GIVEN
    assert copy.deepcopy(NOT_GIVEN) is NOT_GIVEN and copy.copy(NOT_GIVEN) is NOT_GIVEN
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN
    assert not NOT_GIVEN and repr(NOT_GIVEN) == "NOT_GIVEN"
    assert given(None) and not given(NOT_GIVEN)
    assert or_current(NOT_GIVEN, 3) == 3 and or_current(None, 3) is None


def test_updates_are_frozen_slotted_and_default_to_not_given() -> None:
    for cls in (ConfigUpdate, AliasUpdate, InvokeConfigUpdate):
        value = cls()
        assert given_members(value) == {}
        assert not hasattr(value, "__dict__")
        first = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, first, 1)
    assert given_members(ConfigUpdate(timeout_s=9, dead_letter_arn=None)) == {"timeout_s": 9, "dead_letter_arn": None}


async def _active(tmp_path: Path, **kw: object) -> FunctionService:
    svc = service(tmp_path)
    await svc.create(inp("fn", **kw))
    await svc.wait_idle()
    return svc


async def test_config_update_changes_only_given_members_and_not_the_callers_map(tmp_path: Path) -> None:
    svc = await _active(tmp_path, dead_letter_arn="arn:aws:sqs:us-east-1:000000000000:dlq", snap_start_apply_on="None",
                        environment={"AA": "1"})
    before = svc.resolve(K("fn"))
    env = {"BB": "2"}
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(timeout_s=9, environment=env))
    env["CC"] = "3"  # the caller's map is theirs: the config holds its own copy
    assert (cfg.timeout_s, cfg.environment) == (9, {"BB": "2"})
    assert (cfg.memory_mb, cfg.handler, cfg.dead_letter_arn) == (before.memory_mb, before.handler, before.dead_letter_arn)
    await svc.wait_idle()
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(dead_letter_arn=None))
    assert cfg.dead_letter_arn is None and cfg.timeout_s == 9


async def test_snap_start_apply_on_is_kept_when_an_update_does_not_give_it(tmp_path: Path) -> None:
    svc = await _active(tmp_path, snap_start_apply_on="PublishedVersions")
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(description="d"))
    assert cfg.snap_start_apply_on == "PublishedVersions"
    await svc.wait_idle()
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(snap_start_apply_on="None"))
    assert cfg.snap_start_apply_on == "None"
    await svc.wait_idle()
    svc.store.close()
    assert service(tmp_path).resolve(K("fn")).snap_start_apply_on == "None"
    with pytest.raises(InvalidParameterValue, match="ApplyOn"):
        await service(tmp_path).update_configuration(K("fn"), ConfigUpdate(snap_start_apply_on="Always"))


async def test_log_levels_exist_only_for_json_and_default_to_info(tmp_path: Path) -> None:
    svc = await _active(tmp_path)
    assert (svc.resolve(K("fn")).application_log_level, svc.resolve(K("fn")).system_log_level) == (None, None)
    with pytest.raises(InvalidParameterValue, match="only with LogFormat JSON"):
        await svc.update_configuration(K("fn"), ConfigUpdate(application_log_level="DEBUG"))
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(log_format="JSON"))
    assert (cfg.application_log_level, cfg.system_log_level) == ("INFO", "INFO")
    await svc.wait_idle()
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(application_log_level="DEBUG"))
    assert (cfg.application_log_level, cfg.system_log_level) == ("DEBUG", "INFO")
    await svc.wait_idle()
    with pytest.raises(InvalidParameterValue, match="SystemLogLevel"):
        await svc.update_configuration(K("fn"), ConfigUpdate(system_log_level="TRACE"))  # TRACE is application-only
    # a level reaches the sandbox's environment (AWS_LAMBDA_LOG_LEVEL): only the documented words pass
    with pytest.raises(InvalidParameterValue, match="ApplicationLogLevel"):
        await svc.update_configuration(K("fn"), ConfigUpdate(application_log_level="INFO\nAWS_LAMBDA_RUNTIME_API=evil"))
    with pytest.raises(InvalidParameterValue, match="LogFormat"):
        await svc.update_configuration(K("fn"), ConfigUpdate(log_format="json"))
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(log_format="Text"))
    assert (cfg.application_log_level, cfg.system_log_level) == (None, None)
    with pytest.raises(InvalidParameterValue, match="only with LogFormat JSON"):
        await svc.create(inp("other", application_log_level="WARN"))
    created = await svc.create(inp("json", log_format="JSON", system_log_level="WARN"))
    assert (created.application_log_level, created.system_log_level) == ("INFO", "WARN")


async def test_revision_changes_when_the_function_turns_active_and_when_an_update_completes(tmp_path: Path) -> None:
    svc = service(tmp_path)
    created = await svc.create(inp())
    await svc.wait_idle()
    active = svc.resolve(K("fn"))
    assert active.revision_id != created.revision_id
    updated = await svc.update_configuration(K("fn"), ConfigUpdate(timeout_s=5), revision_id=active.revision_id)
    await svc.wait_idle()
    done = svc.resolve(K("fn")).revision_id
    assert done not in (active.revision_id, updated.revision_id)


async def test_alias_update_keeps_what_is_not_given(tmp_path: Path) -> None:
    svc = await _active(tmp_path)
    versions, aliases = VersionService(svc), AliasService(svc)
    await versions.publish(K("fn"))
    await svc.update_configuration(K("fn"), ConfigUpdate(timeout_s=4))
    await svc.wait_idle()
    await versions.publish(K("fn"))
    a = await aliases.create(K("fn"), "live", "2", "d", {"1": 0.25})
    b = await aliases.update(K("fn"), "live", AliasUpdate(description="e"), a.revision_id)
    assert (b.function_version, b.description, b.additional_version, b.additional_weight) == ("2", "e", "1", 0.25)
    c = await aliases.update(K("fn"), "live", AliasUpdate(routing_config={}))
    assert (c.additional_version, c.description) == (None, "e")
    d = await aliases.update(K("fn"), "live", AliasUpdate(function_version="1"))
    assert (d.function_version, d.description, d.additional_version) == ("1", "e", None)


async def test_not_found_names_latest_only_for_invoke_and_put_concurrency(tmp_path: Path) -> None:
    svc = service(tmp_path)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:nope"
    with pytest.raises(ResourceNotFound) as read:
        svc.resolve(K("nope"))
    assert str(read.value) == f"Function not found: {arn}"
    with pytest.raises(ResourceNotFound) as invoked:
        svc.resolve(K("nope"), draw=0.5, invoking=True)
    assert str(invoked.value) == f"Function not found: {arn}:$LATEST"
    with pytest.raises(ResourceNotFound) as qualified:
        svc.resolve(K("nope"), "live", invoking=True)
    assert str(qualified.value) == f"Function not found: {arn}:live"
    with pytest.raises(ResourceNotFound) as concurrency:
        await svc.put_concurrency(K("nope"), 1)
    assert str(concurrency.value) == f"Function not found: {arn}:$LATEST"
