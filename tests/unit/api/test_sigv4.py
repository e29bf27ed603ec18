"""SigV4 verification against requests signed by botocore's client-side signer."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambent.api.sigv4 import SigV4Verifier, parse_scope
from lambent.errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken, UnrecognizedClient


def signed(url: str, body: bytes = b"{}", key: str = "AKID", secret: str = "SECRET", service: str = "lambda") -> tuple[str, str, dict[str, str], bytes]:
    req = AWSRequest(method="POST", url=url, data=body, headers={"X-Amz-Invocation-Type": "RequestResponse"})
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    parts = urllib.parse.urlsplit(prepared.url)
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = parts.netloc
    return parts.path, parts.query, headers, prepared.body or b""


URL = "http://127.0.0.1:9900/2015-03-31/functions/fn%3A%24LATEST/invocations?Qualifier=x&b=c%20d"


def test_a_correctly_signed_request_passes_and_reports_its_scope() -> None:
    path, query, headers, body = signed(URL)
    scope = SigV4Verifier({"AKID": "SECRET"}).verify("POST", path, query, headers, body)
    assert (scope.service, scope.region, scope.access_key_id) == ("lambda", "us-east-1", "AKID")


def test_wrong_secret_is_invalid_signature() -> None:
    path, query, headers, body = signed(URL, secret="WRONG")
    with pytest.raises(InvalidSignature, match="does not match"):
        SigV4Verifier({"AKID": "SECRET"}).verify("POST", path, query, headers, body)


def test_tampered_body_is_invalid_signature() -> None:
    path, query, headers, _ = signed(URL)
    with pytest.raises(InvalidSignature):
        SigV4Verifier({"AKID": "SECRET"}).verify("POST", path, query, headers, b'{"x": 1}')


def test_unknown_key_is_unrecognized_client() -> None:
    path, query, headers, body = signed(URL, key="OTHER")
    with pytest.raises(UnrecognizedClient, match="security token included in the request is invalid"):
        SigV4Verifier({"AKID": "SECRET"}).verify("POST", path, query, headers, body)


def test_missing_header_is_missing_token() -> None:
    with pytest.raises(MissingAuthenticationToken):
        SigV4Verifier({"AKID": "SECRET"}).verify("GET", "/", "", {}, b"")


def test_garbage_header_is_incomplete_signature() -> None:
    with pytest.raises(IncompleteSignature):
        SigV4Verifier({"AKID": "SECRET"}).verify("GET", "/", "", {"authorization": "Bearer x"}, b"")


def test_old_timestamp_is_expired() -> None:
    path, query, headers, body = signed(URL)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    with pytest.raises(InvalidSignature, match="Signature expired"):
        SigV4Verifier({"AKID": "SECRET"}).verify("POST", path, query, headers, body, now=later)


def test_parse_scope_reads_service() -> None:
    _, _, headers, _ = signed(URL, service="logs")
    scope = parse_scope(headers["authorization"])
    assert scope is not None and scope.service == "logs"
    assert parse_scope("garbage") is None
