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
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)
    with pytest.raises(InvalidSignature, match="Signature expired"):
        SigV4Verifier({"AKID": "SECRET"}).verify("POST", path, query, headers, body, now=later)


def test_parse_scope_reads_service() -> None:
    _, _, headers, _ = signed(URL, service="logs")
    scope = parse_scope(headers["authorization"])
    assert scope is not None and scope.service == "logs"
    assert parse_scope("garbage") is None


# -- issue 8: the headers are checked before the body, and the signature binds the body -----------
def signed_with(url: str, body: bytes, headers: dict[str, str], region: str = "us-east-1",
                service: str = "lambda") -> tuple[str, str, dict[str, str]]:
    req = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials("AKID", "SECRET"), service, region).add_auth(req)
    prepared = req.prepare()
    parts = urllib.parse.urlsplit(prepared.url)
    out = {k.lower(): v for k, v in prepared.headers.items()}
    out["host"] = parts.netloc
    return parts.path, parts.query, out


def test_a_scope_for_another_region_is_refused_from_the_headers_alone() -> None:
    path, query, headers = signed_with(URL, b"{}", {}, region="eu-west-1")
    with pytest.raises(InvalidSignature) as exc:
        SigV4Verifier({"AKID": "SECRET"}, region="us-east-1").check_head("POST", path, query, headers)
    assert exc.value.message == "Credential should be scoped to a valid region, not 'eu-west-1'. "


def test_the_server_region_is_the_one_accepted() -> None:
    path, query, headers = signed_with(URL, b"{}", {}, region="eu-west-1")
    scope = SigV4Verifier({"AKID": "SECRET"}, region="eu-west-1").verify("POST", path, query, headers, b"{}")
    assert scope.region == "eu-west-1"


def test_check_head_needs_no_body_and_finish_checks_its_hash() -> None:
    import hashlib

    path, query, headers, body = signed(URL)
    pending = SigV4Verifier({"AKID": "SECRET"}).check_head("POST", path, query, headers)
    assert pending.finish(hashlib.sha256(body).hexdigest()).service == "lambda"
    with pytest.raises(InvalidSignature, match="does not match"):
        pending.finish(hashlib.sha256(b'{"x": 1}').hexdigest())


def test_a_body_swapped_under_a_signed_content_sha256_is_refused() -> None:
    import hashlib

    original = b'{"amount": 1}'
    path, query, headers = signed_with(URL, original, {"X-Amz-Content-SHA256": hashlib.sha256(original).hexdigest()})
    verifier = SigV4Verifier({"AKID": "SECRET"})
    # botocore's own canonical_request trusts the header: the old verifier accepted this
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        verifier.verify("POST", path, query, headers, b'{"amount": 9}')
    assert verifier.verify("POST", path, query, headers, original).service == "lambda"


def test_a_signed_content_sha256_is_checked_before_the_body() -> None:
    import hashlib

    body = b'{"amount": 1}'
    path, query, headers = signed_with(URL, body, {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    headers["x-amz-content-sha256"] = hashlib.sha256(b"other").hexdigest()  # changed after signing
    with pytest.raises(InvalidSignature, match="does not match"):
        SigV4Verifier({"AKID": "SECRET"}).check_head("POST", path, query, headers)


def test_unsigned_payload_is_refused() -> None:
    path, query, headers = signed_with(URL, b"{}", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(InvalidSignature, match="does not match"):
        SigV4Verifier({"AKID": "SECRET"}).check_head("POST", path, query, headers)
