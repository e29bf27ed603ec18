"""Versions and aliases through boto3: numbering, immutability, qualifiers, routing."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, create_function, invoke_json, unique, zip_of

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def code(v: int) -> dict[str, str]:
    return {"app.py": f"def handler(e, c):\n    return {{'v': {v}, 'arn': c.invoked_function_arn, 'fv': c.function_version}}\n"}


def update_code(lam: Any, name: str, v: int) -> None:
    lam.update_function_code(FunctionName=name, ZipFile=zip_of(code(v)))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_publish_numbers_and_immutability(lam: Any) -> None:
    name = create_function(lam, code(1))
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (v1["Version"], v1["FunctionArn"], v1["Description"]) == ("1", f"{ARN}{name}:1", "first")
    # nothing changed: the same version comes back
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    update_code(lam, name, 2)
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2"
    # each version runs its own code and knows its version
    assert invoke_json(lam, name, Qualifier="1")[1]["v"] == 1
    resp, body = invoke_json(lam, f"{name}:2")
    assert body == {"v": 2, "arn": f"{ARN}{name}:2", "fv": "2"}
    assert resp["ExecutedVersion"] == "2"
    assert invoke_json(lam, name)[1]["v"] == 2
    assert lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["CodeSha256"] == v1["CodeSha256"]
    # numbers are never reused
    lam.delete_function(FunctionName=name, Qualifier="2")
    assert error_of(lambda: lam.get_function(FunctionName=name, Qualifier="2")) == ("ResourceNotFoundException", 404)
    update_code(lam, name, 3)
    assert lam.publish_version(FunctionName=name)["Version"] == "3"


def test_publish_flag_on_create_and_code_update(lam: Any) -> None:
    """``Publish: true`` as measured on AWS: CreateFunction answers with version 1 under the
    unqualified ARN, UpdateFunctionCode with the new version under its qualified ARN."""
    name = unique("pub")
    out = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                              Code={"ZipFile": zip_of(code(1))}, Publish=True)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (out["Version"], out["FunctionArn"]) == ("1", f"{ARN}{name}")
    assert lam.get_function(FunctionName=name)["Configuration"]["Version"] == "$LATEST"
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert invoke_json(lam, name, Qualifier="1")[1]["v"] == 1

    v2 = lam.update_function_code(FunctionName=name, ZipFile=zip_of(code(2)), Publish=True)
    assert (v2["Version"], v2["FunctionArn"], v2["State"]) == ("2", f"{ARN}{name}:2", "Active")
    assert invoke_json(lam, name, Qualifier="2")[1]["v"] == 2
    # without the flag nothing is published; with unchanged code the last version comes back
    latest = lam.update_function_code(FunctionName=name, ZipFile=zip_of(code(3)))
    assert latest["Version"] == "$LATEST"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1", "2"]
    assert lam.update_function_code(FunctionName=name, ZipFile=zip_of(code(3)), Publish=True)["Version"] == "3"
    assert lam.update_function_code(FunctionName=name, ZipFile=zip_of(code(3)), Publish=True)["Version"] == "3"


def test_published_versions_cannot_be_changed(lam: Any) -> None:
    name = create_function(lam, code(1))
    lam.publish_version(FunctionName=name)
    assert error_of(lambda: lam.update_function_configuration(FunctionName=f"{name}:1", Timeout=9))[1] == 400
    assert error_of(lambda: lam.update_function_code(FunctionName=f"{name}:1", ZipFile=zip_of(code(9))))[1] == 400
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3


def test_publish_preconditions(lam: Any) -> None:
    name = create_function(lam, code(1))
    # a stale CodeSha256 is 400 InvalidParameterValueException on AWS (test_aws_parity checks the message)
    assert error_of(lambda: lam.publish_version(FunctionName=name, CodeSha256="bm9wZQ==")) == ("InvalidParameterValueException", 400)
    assert error_of(lambda: lam.publish_version(FunctionName=name, RevisionId="stale")) == ("PreconditionFailedException", 412)
    cfg = lam.get_function_configuration(FunctionName=name)
    assert lam.publish_version(FunctionName=name, CodeSha256=cfg["CodeSha256"], RevisionId=cfg["RevisionId"])["Version"] == "1"


def test_list_versions_paginates(lam: Any) -> None:
    name = create_function(lam, code(0))
    for v in range(1, 4):
        update_code(lam, name, v)
        lam.publish_version(FunctionName=name)
    seen = [c["Version"] for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name, PaginationConfig={"PageSize": 2}) for c in page["Versions"]]
    assert seen == ["$LATEST", "1", "2", "3"]


def test_aliases_crud_and_routing_validation(lam: Any) -> None:
    name = create_function(lam, code(1))
    lam.publish_version(FunctionName=name)
    update_code(lam, name, 2)
    lam.publish_version(FunctionName=name)
    a = lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1", Description="p")
    assert a["AliasArn"] == f"{ARN}{name}:prod" and a["FunctionVersion"] == "1"
    assert error_of(lambda: lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")) == ("ResourceConflictException", 409)
    assert error_of(lambda: lam.create_alias(FunctionName=name, Name="x", FunctionVersion="9")) == ("ResourceNotFoundException", 404)
    assert error_of(lambda: lam.create_alias(FunctionName=name, Name="123", FunctionVersion="1"))[0] == "ValidationException"
    assert error_of(lambda: lam.create_alias(FunctionName=name, Name="y", FunctionVersion="$LATEST",
                                             RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}))[0] == "InvalidParameterValueException"
    assert error_of(lambda: lam.create_alias(FunctionName=name, Name="y", FunctionVersion="1",
                                             RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}))[0] == "InvalidParameterValueException"
    lam.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    got = lam.get_alias(FunctionName=name, Name="prod")
    assert got["Description"] == "p"
    up = lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}},
                          RevisionId=got["RevisionId"])
    assert up["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}} and up["RevisionId"] != got["RevisionId"]
    assert {x["Name"] for x in lam.list_aliases(FunctionName=name)["Aliases"]} == {"prod", "dev"}
    assert [x["Name"] for x in lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]] == ["prod"]
    # versions an alias uses cannot be deleted
    assert error_of(lambda: lam.delete_function(FunctionName=name, Qualifier="1")) == ("ResourceConflictException", 409)
    lam.delete_alias(FunctionName=name, Name="dev")
    assert error_of(lambda: lam.get_alias(FunctionName=name, Name="dev")) == ("ResourceNotFoundException", 404)
    # an alias qualifies reads and invokes
    assert lam.get_function_configuration(FunctionName=f"{name}:prod")["Version"] == "2"
    resp, body = invoke_json(lam, name, Qualifier="prod")
    assert body["arn"] == f"{ARN}{name}:prod" and resp["ExecutedVersion"] in ("1", "2")


def test_stale_revision_on_concurrent_alias_updates(lam: Any) -> None:
    name = create_function(lam, code(1))
    lam.publish_version(FunctionName=name)
    update_code(lam, name, 2)
    lam.publish_version(FunctionName=name)
    rev = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["RevisionId"]

    def bump(version: str) -> str:
        try:
            lam.update_alias(FunctionName=name, Name="live", FunctionVersion=version, RevisionId=rev)
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(bump, ["2", "1", "2", "1"]))
    assert results.count("ok") == 1
    assert results.count("PreconditionFailedException") == 3


def test_weighted_routing_statistics(lam: Any) -> None:
    name = create_function(lam, {"app.py": "def handler(e, c):\n    return c.function_version\n"}, MemorySize=1769)
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="v2")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="split", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    counts = {"1": 0, "2": 0}

    def run(n: int) -> dict[str, int]:
        local = {"1": 0, "2": 0}
        for _ in range(n):
            resp = lam.invoke(FunctionName=name, Qualifier="split", Payload=b"{}")
            ran = json.loads(resp["Payload"].read())
            assert ran == resp["ExecutedVersion"]
            local[ran] += 1
        return local

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for part in pool.map(run, [2500] * 4):
            for k, v in part.items():
                counts[k] += v
    share = counts["2"] / 10_000
    assert abs(share - 0.3) <= 0.02, counts


def test_update_alias_changes_only_what_it_is_given(lam: Any) -> None:
    # Given an alias on version 1 with 20 % of its traffic on version 2
    name = create_function(lam, code(1))
    lam.publish_version(FunctionName=name)
    update_code(lam, name, 2)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="d",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
    # When only the description is updated, the version and the routing stay
    up = lam.update_alias(FunctionName=name, Name="live", Description="e")
    assert (up["FunctionVersion"], up["Description"], up["RoutingConfig"]) == ("1", "e", {"AdditionalVersionWeights": {"2": 0.2}})
    # When the routing is given empty, it goes; the description stays
    up = lam.update_alias(FunctionName=name, Name="live", RoutingConfig={})
    assert "RoutingConfig" not in up and up["Description"] == "e"
    assert "RoutingConfig" not in lam.get_alias(FunctionName=name, Name="live")
    # PublishVersion's member lambent does not act on is refused, not dropped
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, PublishTo="LATEST_PUBLISHED")
    assert exc.value.response["Error"]["Message"] == (
        "PublishTo is not supported by this lambent server yet (PublishVersion); remove it from the request.")


def test_update_event_invoke_config_keeps_or_removes_destinations(lam: Any) -> None:
    # Given a configuration with both destinations
    name, sink = create_function(lam, code(1)), create_function(lam, code(2))
    queue = "arn:aws:sqs:us-east-1:000000000000:failures"
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1, DestinationConfig={
        "OnSuccess": {"Destination": f"{ARN}{sink}"}, "OnFailure": {"Destination": queue}})
    # When an update gives only the event age, both destinations stay
    up = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=300)
    assert up["DestinationConfig"] == {"OnSuccess": {"Destination": f"{ARN}{sink}"}, "OnFailure": {"Destination": queue}}
    assert (up["MaximumRetryAttempts"], up["MaximumEventAgeInSeconds"]) == (1, 300)
    # When an update gives the success destination without an ARN, only it goes
    up = lam.update_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {}})
    assert up["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": queue}}
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["DestinationConfig"] == up["DestinationConfig"] and got["LastModified"] == up["LastModified"]
