"""Function lifecycle through an unmodified boto3 client."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, create_function, invoke_json, unique, zip_of

APP = {"app.py": "def handler(event, context):\n    return {'v': 1, 'event': event}\n"}


def test_create_returns_pending_then_waiter_sees_active(lam: Any) -> None:
    name = unique()
    code = zip_of(APP)
    # When a function is created
    out = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                              Code={"ZipFile": code}, Description="d", Timeout=5, MemorySize=256,
                              Environment={"Variables": {"STAGE": "test"}}, Tags={"team": "a"})
    # Then the response has AWS's formats
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["State"] == "Pending" and out["StateReasonCode"] == "Creating"
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert out["CodeSize"] == len(code)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", out["LastModified"])
    assert out["Version"] == "$LATEST" and out["MemorySize"] == 256 and out["Timeout"] == 5
    assert out["Environment"] == {"Variables": {"STAGE": "test"}}
    assert out["EphemeralStorage"] == {"Size": 512}
    # And the waiter sees it become Active
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "a"}
    # And Code.Location downloads exactly the zip
    with urllib.request.urlopen(got["Code"]["Location"]) as r:
        assert r.read() == code
    assert got["Code"]["RepositoryType"] == "S3"


def test_code_location_refuses_a_tampered_signature(lam: Any) -> None:
    name = create_function(lam, APP)
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url[:-4] + "0000")
    exc.value.close()
    assert exc.value.code == 403


def test_duplicate_create_is_conflict(lam: Any) -> None:
    name = create_function(lam, APP)
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": zip_of(APP)})
    err = exc.value.response
    assert err["Error"]["Code"] == "ResourceConflictException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert err["Error"]["Message"] == f"Function already exist: {name}"


def test_get_configuration_by_arn_and_partial_arn(lam: Any) -> None:
    name = create_function(lam, APP)
    for ref in (name, f"arn:aws:lambda:us-east-1:000000000000:function:{name}", f"000000000000:function:{name}"):
        assert lam.get_function_configuration(FunctionName=ref)["FunctionName"] == name


def test_list_functions_paginates_with_marker(lam: Any) -> None:
    names = {create_function(lam, APP, wait=False) for _ in range(5)}
    seen: list[str] = []
    pages = 0
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}):
        pages += 1
        seen.extend(f["FunctionName"] for f in page["Functions"])
    assert names <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 3
    first = lam.list_functions(MaxItems=1)
    assert len(first["Functions"]) == 1 and "NextMarker" in first


def test_update_code_changes_what_runs_and_the_hash(lam: Any) -> None:
    name = create_function(lam, APP)
    _, body = invoke_json(lam, name)
    assert body["v"] == 1
    new_code = zip_of({"app.py": "def handler(event, context):\n    return {'v': 2}\n"})
    out = lam.update_function_code(FunctionName=name, ZipFile=new_code)
    assert out["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    assert cfg["LastUpdateStatus"] == "Successful"
    _, body = invoke_json(lam, name)
    assert body == {"v": 2}


def test_update_configuration_fields(lam: Any) -> None:
    name = create_function(lam, {"app.py": "import os\ndef handler(e, c):\n    return {'stage': os.environ.get('STAGE'), 'mem': c.memory_limit_in_mb}\n",
                                 "other.py": "def main(e, c):\n    return 'other'\n"})
    rev = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    out = lam.update_function_configuration(
        FunctionName=name, MemorySize=512, Timeout=10, Description="new", Environment={"Variables": {"STAGE": "prod"}},
        EphemeralStorage={"Size": 1024}, Role="arn:aws:iam::000000000000:role/other", RevisionId=rev,
    )
    assert out["RevisionId"] != rev
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["MemorySize"], cfg["Timeout"], cfg["Description"], cfg["EphemeralStorage"]["Size"]) == (512, 10, "new", 1024)
    assert cfg["Role"].endswith("role/other")
    _, body = invoke_json(lam, name)
    assert body["stage"] == "prod" and str(body["mem"]) == "512"
    lam.update_function_configuration(FunctionName=name, Handler="other.main")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    assert invoke_json(lam, name)[1] == "other"


def test_stale_revision_id_is_precondition_failed(lam: Any) -> None:
    name = create_function(lam, APP)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Timeout=4, RevisionId="00000000-0000-0000-0000-000000000000")
    assert exc.value.response["Error"]["Code"] == "PreconditionFailedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_delete_then_everything_is_not_found(lam: Any) -> None:
    name = create_function(lam, APP)
    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    # AWS names $LATEST when an unqualified Invoke misses (recorded answers), not elsewhere
    for call, named in ((lambda: lam.get_function(FunctionName=name), arn), (lambda: lam.invoke(FunctionName=name), f"{arn}:$LATEST"),
                        (lambda: lam.delete_function(FunctionName=name), arn)):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert exc.value.response["Error"]["Message"] == f"Function not found: {named}"


def test_tags(lam: Any) -> None:
    name = create_function(lam, APP, Tags={"a": "1"})
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    lam.tag_resource(Resource=arn, Tags={"b": "2", "c": "3"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "2", "c": "3"}
    lam.untag_resource(Resource=arn, TagKeys=["a", "c"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        lam.list_tags(Resource=arn + "-missing")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_concurrency_config_and_account_settings(lam: Any) -> None:
    name = create_function(lam, APP)
    before = lam.get_account_settings()
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    after = lam.get_account_settings()
    assert after["AccountLimit"]["UnreservedConcurrentExecutions"] == before["AccountLimit"]["UnreservedConcurrentExecutions"] - 5
    assert after["AccountUsage"]["FunctionCount"] >= 1
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=950)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in exc.value.response["Error"]["Message"]
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_unsigned_and_badly_signed_requests_are_refused(server: Any) -> None:
    import urllib.error

    req = urllib.request.Request(server.url + "/2015-03-31/functions", method="GET")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    exc.value.close()
    assert exc.value.code == 403
    assert exc.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    import boto3
    from botocore.config import Config

    bad = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="LKIATESTACCESSKEY001",
                       aws_secret_access_key="wrong", config=Config(retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as cexc:
        bad.list_functions()
    assert cexc.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert cexc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIANOTKNOWN",
                           aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as cexc:
        unknown.list_functions()
    assert cexc.value.response["Error"]["Code"] == "UnrecognizedClientException"
