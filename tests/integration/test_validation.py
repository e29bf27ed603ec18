"""Bad input gets AWS's error type, status and an actionable message; the server survives it."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from harness import ROLE, create_function, unique, zip_of

APP = {"app.py": "def handler(e, c):\n    return 1\n"}


def err(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def create(lam: Any, **over: Any) -> Any:
    args = dict(FunctionName=unique(), Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": zip_of(APP)})
    args.update(over)
    return lambda: lam.create_function(**args)


@pytest.mark.parametrize(
    "over,code,status,fragment",
    [
        ({"MemorySize": 20000}, "ValidationException", 400, "Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"),
        ({"MemorySize": 100}, "ValidationException", 400, "Member must have value greater than or equal to 128"),
        ({"Timeout": 901}, "ValidationException", 400, "at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
        ({"EphemeralStorage": {"Size": 100}}, "ValidationException", 400, "ephemeralStorage.size"),
        ({"EphemeralStorage": {"Size": 20000}}, "ValidationException", 400, "less than or equal to 10240"),
        # AWS answers a Runtime outside the enum with InvalidParameterValueException (issue 9)
        ({"Runtime": "cobol1"}, "InvalidParameterValueException", 400, "Member must satisfy enum value set"),
        ({"Runtime": "java21"}, "InvalidParameterValueException", 400, "not supported by this lambent server"),
        ({"Handler": "has space"}, "ValidationException", 400, "at 'handler'"),
        ({"Handler": "h" * 129}, "ValidationException", 400, "length less than or equal to 128"),
        ({"Role": "not-a-role"}, "ValidationException", 400, "at 'role'"),
        ({"FunctionName": "bad name!"}, "ValidationException", 400, "Member must satisfy regular expression pattern"),
        ({"FunctionName": "a" * 65}, "InvalidParameterValueException", 400, "Member must have length less than or equal to 64"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException", 400, "Reserved keys used in this request: AWS_REGION"),
        ({"Environment": {"Variables": {"BIG": "x" * 4100}}}, "InvalidParameterValueException", 400, "exceeded the 4KB limit"),
        ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException", 400, "Could not unzip uploaded file"),
        ({"Code": {"S3Bucket": "bucket", "S3Key": "key"}}, "InvalidParameterValueException", 400, "S3"),
    ],
)
def test_create_validation(server: Any, over: dict[str, Any], code: str, status: int, fragment: str) -> None:
    # boto3's own client-side checks are off so that the server's validation is what answers
    unchecked = server.client(parameter_validation=False)
    got = err(create(unchecked, **over))
    assert got[0] == code and got[1] == status, got
    assert fragment in got[2], got[2]


@pytest.mark.parametrize(
    "entries,fragment",
    [
        ({"../escape.py": "x"}, "absolute path or '..'"),
        ({"/abs.py": "x"}, "absolute path or '..'"),
    ],
)
def test_hostile_zips_are_rejected(lam: Any, entries: dict[str, str], fragment: str) -> None:
    code, status, msg = err(create(lam, Code={"ZipFile": zip_of(entries)}))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert fragment in msg


def test_zip_with_link_out_of_tree_is_rejected(lam: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("evil")
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "/etc/shadow")
    code, _, msg = err(create(lam, Code={"ZipFile": buf.getvalue()}))
    assert code == "InvalidParameterValueException" and "points outside the package" in msg


def test_zip_bomb_is_rejected(lam: Any) -> None:
    bomb = zip_of({"zeros.bin": b"\0" * 60_000_000})
    code, _, msg = err(create(lam, Code={"ZipFile": bomb}))
    assert code == "InvalidParameterValueException" and "compression ratio" in msg


def test_unzipped_size_over_250mb_is_rejected(lam: Any) -> None:
    # 280 MB unpacked; the size limit is checked before the ratio
    big = zip_of({f"part{i}.bin": b"\0" * 70_000_000 for i in range(4)})
    code, _, msg = err(create(lam, Code={"ZipFile": big}))
    assert code == "InvalidParameterValueException"
    assert msg == "Unzipped size must be smaller than 262144000 bytes"


def test_request_over_the_code_limit_is_413(server: Any, lam: Any) -> None:
    blob = bytes(range(256)) * (52 * 1024 * 1024 // 256)  # 52 MB raw -> >70 MB base64 body
    code, status, _ = err(create(lam, Code={"ZipFile": blob}))
    assert status == 413 and code == "RequestEntityTooLargeException"


def test_invoke_payload_over_6mb_is_413(lam: Any) -> None:
    name = create_function(lam, APP)
    code, status, msg = err(lambda: lam.invoke(FunctionName=name, Payload=b'"' + b"x" * 6_300_000 + b'"'))
    assert (code, status) == ("RequestTooLargeException", 413)
    assert "6291456 bytes" in msg


def test_invoke_with_invalid_json_payload(lam: Any) -> None:
    name = create_function(lam, APP)
    code, status, msg = err(lambda: lam.invoke(FunctionName=name, Payload=b"{not json"))
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert "Could not parse request body into json" in msg


def test_malformed_bodies_never_crash_the_server(server: Any, lam: Any) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from harness import ACCESS_KEY, SECRET_KEY

    for body in (b"{", b"[]", b"\xff\xfe", b'{"FunctionName": 5, "Code": "x"}', b"null", b'{"Code": {"ZipFile": "!!!"}}'):
        req = AWSRequest(method="POST", url=server.url + "/2015-03-31/functions", data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", "us-east-1").add_auth(req)
        p = req.prepare()
        r = urllib.request.Request(p.url, data=p.body, headers=dict(p.headers), method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(r)
        assert 400 <= exc.value.code < 500, (body, exc.value.code)
        assert exc.value.headers["x-amzn-ErrorType"].endswith("Exception")
        json.loads(exc.value.read())
        exc.value.close()
    assert lam.list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_boto_side_validation_still_applies(lam: Any) -> None:
    with pytest.raises(ParamValidationError):
        lam.create_function(FunctionName="x")
