"""SigV4 verification against requests signed by botocore's client-side signer."""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambent.api.sigv4 import MAX_EXPIRES_S, AuthScope, SigV4Verifier, parse_scope
from lambent.errors import ExpiredToken, IncompleteSignature, InvalidSignature, MissingAuthenticationToken, UnrecognizedClient
from lambent.iam.model import Principal, PrincipalKind, token_digest


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


# -- issue 10: every principal, both forms, AWS's windows and scopes ----------------------------------

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
HOST = "127.0.0.1:9900"
PATH = "/2015-03-31/functions/fn/invocations"
USER = Principal(PrincipalKind.USER, "111111111111", "arn:aws:iam::111111111111:user/alice", "AIDAALICE", "alice",
                 "AKIAALICE", "alice-secret")
SESSION = Principal(PrincipalKind.ASSUMED_ROLE, "111111111111", "arn:aws:sts::111111111111:assumed-role/r/s",
                    "AROAR:s", "r", "ASIASESSION", "session-secret", token_digest("the-token"), 2e9,
                    "arn:aws:iam::111111111111:role/r")
PRINCIPALS = {p.access_key_id: p for p in (USER, SESSION)}


def lookup(key: str) -> Principal | None:
    return PRINCIPALS.get(key)


def verifier(region: str = "us-east-1", services: tuple[str, ...] | None = None) -> SigV4Verifier:
    return SigV4Verifier(lookup, region=region, services=services)


class Req:
    """One request as the server sees it: method, raw path, raw query, lower-case headers, body."""

    def __init__(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def verify(self, v: SigV4Verifier, now: dt.datetime = T0) -> AuthScope:
        return v.verify(self.method, self.path, self.query, self.headers, self.body, now=now)


def _freeze(at: dt.datetime) -> Callable[[], None]:
    # botocore reads the clock through datetime.datetime.utcnow in botocore.auth
    import botocore.auth

    original = botocore.auth.datetime.datetime

    class Frozen(original):  # type: ignore[misc, valid-type]
        @classmethod
        def utcnow(cls) -> dt.datetime:
            return at.replace(tzinfo=None)

        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
            return at if tz else at.replace(tzinfo=None)

    botocore.auth.datetime.datetime = Frozen

    def restore() -> None:
        botocore.auth.datetime.datetime = original
    return restore


def header_signed(principal: Principal = USER, *, token: str | None = None, method: str = "POST", path: str = PATH,
                  query: str = "Qualifier=1", body: bytes = b'{"a": 1}', region: str = "us-east-1",
                  service: str = "lambda", at: dt.datetime = T0, extra: dict[str, str] | None = None) -> Req:
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers={"X-Custom": "v", **(extra or {})})
    restore = _freeze(at)
    try:
        SigV4Auth(Credentials(principal.access_key_id, principal.secret_access_key, token), service, region).add_auth(req)
    finally:
        restore()
    prepared = req.prepare()
    parts = urllib.parse.urlsplit(prepared.url)
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = parts.netloc
    return Req(method, parts.path, parts.query, headers, prepared.body or b"")


def presigned(principal: Principal = USER, *, token: str | None = None, expires: int = 60, method: str = "GET",
              path: str = "/", query: str = "Action=GetCallerIdentity&Version=2011-06-15", region: str = "us-east-1",
              service: str = "sts", at: dt.datetime = T0) -> Req:
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url)
    restore = _freeze(at)
    try:
        SigV4QueryAuth(Credentials(principal.access_key_id, principal.secret_access_key, token), service, region,
                       expires=expires).add_auth(req)
    finally:
        restore()
    parts = urllib.parse.urlsplit(req.url)
    return Req(method, parts.path, parts.query, {"host": parts.netloc}, b"")


def test_an_iam_users_request_passes_and_names_the_user() -> None:
    scope = header_signed().verify(verifier())
    assert (scope.principal, scope.presigned, scope.service, scope.access_key_id) == (USER, False, "lambda", "AKIAALICE")


def test_check_head_hands_on_the_principal() -> None:
    r = header_signed(SESSION, token="the-token")
    pending = verifier().check_head(r.method, r.path, r.query, r.headers, now=T0)
    assert pending.principal is SESSION
    assert pending.finish(hashlib.sha256(r.body).hexdigest()).principal is SESSION


def test_the_old_dict_form_yields_a_root_principal() -> None:
    r = header_signed(Principal(PrincipalKind.ROOT, "000000000000", "", "", "", "AKID", "SECRET"))
    scope = r.verify(SigV4Verifier({"AKID": "SECRET"}, account_id="123456789012"))
    p = scope.principal
    assert (p.kind, p.account_id, p.arn, p.user_id, p.access_key_id) == (
        PrincipalKind.ROOT, "123456789012", "arn:aws:iam::123456789012:root", "123456789012", "AKID")
    assert p.token_matches(None) and not p.token_matches("x")


@pytest.mark.parametrize("tamper", ["method", "path", "query", "header", "body", "date", "signature", "key-id"])
def test_any_tampered_part_is_invalid_signature(tamper: str) -> None:
    r = header_signed()
    if tamper == "method":
        r.method = "PUT"
    elif tamper == "path":
        r.path = "/2015-03-31/functions/other/invocations"
    elif tamper == "query":
        r.query = "Qualifier=2"
    elif tamper == "header":
        r.headers["x-custom"] = "w"
    elif tamper == "body":
        r.body = b'{"a": 2}'
    elif tamper == "date":
        r.headers["x-amz-date"] = "20260301T120001Z"
    elif tamper == "signature":
        sig = r.headers["authorization"][-64:]
        r.headers["authorization"] = r.headers["authorization"][:-64] + ("0" if sig[0] != "0" else "1") + sig[1:]
    elif tamper == "key-id":
        # alice's signature presented under the session's key id
        r.headers["authorization"] = r.headers["authorization"].replace("AKIAALICE", "ASIASESSION")
        r.headers["x-amz-security-token"] = "the-token"
    with pytest.raises(InvalidSignature) as exc:
        r.verify(verifier())
    assert exc.value.message.startswith("The request signature we calculated does not match the signature you provided.")


def test_an_unsigned_header_may_change() -> None:
    r = header_signed()
    r.headers["user-agent"] = "changed"
    assert r.verify(verifier()).principal is USER


def test_a_missing_signed_header_is_invalid_signature() -> None:
    r = header_signed()
    del r.headers["x-custom"]
    with pytest.raises(InvalidSignature, match="Signed header 'x-custom' is missing"):
        r.verify(verifier())


@pytest.mark.parametrize("key", ["AKIAUNKNOWN", "AKIAINACTIVE", "AKIADELETED"])
def test_a_key_the_lookup_does_not_know_is_unrecognized_client(key: str) -> None:
    # an unknown, Inactive or deleted key: IamService.lookup answers None for all three
    r = header_signed(Principal(PrincipalKind.USER, "1", "", "", "", key, "s"))
    with pytest.raises(UnrecognizedClient) as exc:
        r.verify(verifier())
    assert exc.value.message == "The security token included in the request is invalid."


def test_an_expired_session_is_expired_token() -> None:
    def expired(key: str) -> Principal | None:
        raise ExpiredToken("The security token included in the request is expired")

    with pytest.raises(ExpiredToken, match="is expired"):
        header_signed(SESSION, token="the-token").verify(SigV4Verifier(expired))


def test_a_session_needs_its_own_token() -> None:
    assert header_signed(SESSION, token="the-token").verify(verifier()).principal is SESSION
    for token in (None, "another-token", ""):
        with pytest.raises(UnrecognizedClient, match="security token included in the request is invalid"):
            header_signed(SESSION, token=token).verify(verifier())


def test_a_long_term_key_with_a_token_is_unrecognized_client() -> None:
    # AWS: a session token sent with a long-term key is InvalidClientTokenId / UnrecognizedClientException
    with pytest.raises(UnrecognizedClient, match="security token included in the request is invalid"):
        header_signed(USER, token="stray-token").verify(verifier())


def test_a_token_changed_after_signing_is_refused() -> None:
    r = header_signed(SESSION, token="the-token")
    r.headers["x-amz-security-token"] = "forged"
    with pytest.raises(UnrecognizedClient):
        r.verify(verifier())


def test_fifteen_minutes_of_skew_pass_either_way() -> None:
    r = header_signed()
    for delta in (dt.timedelta(minutes=15), -dt.timedelta(minutes=15), dt.timedelta(minutes=14, seconds=59)):
        assert r.verify(verifier(), now=T0 + delta).principal is USER


def test_an_old_date_is_signature_expired_in_aws_words() -> None:
    r = header_signed()
    with pytest.raises(InvalidSignature) as exc:
        r.verify(verifier(), now=T0 + dt.timedelta(minutes=15, seconds=1))
    assert exc.value.message == (
        "Signature expired: 20260301T120000Z is now earlier than 20260301T120001Z (20260301T121501Z - 15 min.)")


def test_a_future_date_is_not_yet_current_in_aws_words() -> None:
    r = header_signed()
    with pytest.raises(InvalidSignature) as exc:
        r.verify(verifier(), now=T0 - dt.timedelta(minutes=15, seconds=1))
    assert exc.value.message == (
        "Signature not yet current: 20260301T120000Z is still later than 20260301T115959Z (20260301T114459Z + 15 min.)")


def test_a_malformed_date_is_incomplete_signature() -> None:
    r = header_signed()
    r.headers["x-amz-date"] = "2026-03-01T12:00:00Z"
    with pytest.raises(IncompleteSignature, match="ISO-8601 'basic format'"):
        r.verify(verifier())


def test_the_scope_date_must_be_the_requests_date() -> None:
    r = header_signed()
    r.headers["authorization"] = r.headers["authorization"].replace("/20260301/", "/20260302/")
    with pytest.raises(InvalidSignature) as exc:
        r.verify(verifier())
    assert exc.value.message == ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                                 "HTTP: '20260302' != '20260301', from '20260301T120000Z'.")


def test_the_scope_terminator_must_be_aws4_request() -> None:
    r = header_signed()
    r.headers["authorization"] = r.headers["authorization"].replace("/aws4_request", "/aws5_request")
    with pytest.raises(InvalidSignature, match="valid terminator: 'aws4_request', not 'aws5_request'"):
        r.verify(verifier())


def test_a_scope_of_another_region_is_refused() -> None:
    with pytest.raises(InvalidSignature) as exc:
        header_signed(region="eu-west-1").verify(verifier())
    assert exc.value.message == "Credential should be scoped to a valid region, not 'eu-west-1'. "


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_global_services_accept_us_east_1_in_any_region(service: str) -> None:
    v = verifier(region="eu-west-1")
    assert header_signed(service=service, region="us-east-1").verify(v).service == service
    assert header_signed(service=service, region="eu-west-1").verify(v).region == "eu-west-1"
    with pytest.raises(InvalidSignature, match="not 'ap-south-1'"):
        header_signed(service=service, region="ap-south-1").verify(v)


def test_a_regional_service_does_not_get_the_global_exception() -> None:
    with pytest.raises(InvalidSignature, match="not 'us-east-1'"):
        header_signed(service="lambda", region="us-east-1").verify(verifier(region="eu-west-1"))


def test_a_scope_of_a_service_not_served_is_refused() -> None:
    v = verifier(services=("lambda", "iam", "sts"))
    assert header_signed(service="iam").verify(v).service == "iam"
    with pytest.raises(InvalidSignature) as exc:
        header_signed(service="s3").verify(v)
    assert exc.value.message == "Credential should be scoped to correct service: 'lambda'. "


# -- presigned query strings ------------------------------------------------------------------------
def test_a_presigned_request_passes_and_says_so() -> None:
    scope = presigned().verify(verifier())
    assert (scope.principal, scope.presigned, scope.service) == (USER, True, "sts")


def test_a_presigned_request_of_a_session_carries_its_token() -> None:
    r = presigned(SESSION, token="the-token")
    assert "X-Amz-Security-Token=the-token" in r.query
    assert r.verify(verifier()).principal is SESSION
    with pytest.raises(UnrecognizedClient):
        presigned(SESSION).verify(verifier())
    wrong = Req(r.method, r.path, r.query.replace("the-token", "forged"), r.headers, r.body)
    with pytest.raises(UnrecognizedClient):
        wrong.verify(verifier())


def test_a_presigned_request_expires_after_x_amz_expires() -> None:
    r = presigned(expires=60)
    assert r.verify(verifier(), now=T0 + dt.timedelta(seconds=60)).presigned
    with pytest.raises(InvalidSignature) as exc:
        r.verify(verifier(), now=T0 + dt.timedelta(seconds=61))
    assert exc.value.message == (
        "Signature expired: 20260301T120000Z is now earlier than 20260301T120001Z (20260301T120101Z - 1 min.)")
    with pytest.raises(InvalidSignature, match=r"\(20260301T120031Z - 30 sec.\)"):
        presigned(expires=30).verify(verifier(), now=T0 + dt.timedelta(seconds=31))


def test_a_presigned_request_lives_at_most_fifteen_minutes() -> None:
    r = presigned(expires=MAX_EXPIRES_S)
    assert r.verify(verifier(), now=T0 + dt.timedelta(minutes=15)).presigned
    with pytest.raises(InvalidSignature, match="Signature expired: .* - 15 min.\\)"):
        r.verify(verifier(), now=T0 + dt.timedelta(minutes=16))


def test_a_presigned_request_from_the_future_is_not_yet_current() -> None:
    with pytest.raises(InvalidSignature, match="Signature not yet current"):
        presigned().verify(verifier(), now=T0 - dt.timedelta(minutes=16))


@pytest.mark.parametrize("tamper", [("X-Amz-Expires=60", "X-Amz-Expires=120"),
                                    ("Action=GetCallerIdentity", "Action=AssumeRole"),
                                    ("X-Amz-Date=20260301T120000Z", "X-Amz-Date=20260301T120001Z")])
def test_a_tampered_presigned_query_is_invalid_signature(tamper: tuple[str, str]) -> None:
    r = presigned()
    assert tamper[0] in r.query
    r.query = r.query.replace(*tamper)
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        r.verify(verifier())


def test_a_presigned_request_with_a_body_or_another_method_is_refused() -> None:
    r = presigned()
    for changed in (Req("POST", r.path, r.query, r.headers, b"Action=AssumeRole"),
                    Req("GET", r.path, r.query, r.headers, b"x"), Req("GET", "/other", r.query, r.headers, b"")):
        with pytest.raises(InvalidSignature, match="does not match"):
            changed.verify(verifier())


def test_a_presigned_unsigned_payload_is_refused() -> None:
    # What S3's presigner signs; lambent's services sign the body's hash, as AWS's non-S3 ones do
    from botocore.auth import S3SigV4QueryAuth

    req = AWSRequest(method="GET", url=f"http://{HOST}/?Action=GetCallerIdentity")
    restore = _freeze(T0)
    try:
        S3SigV4QueryAuth(Credentials(USER.access_key_id, USER.secret_access_key), "sts", "us-east-1").add_auth(req)
    finally:
        restore()
    parts = urllib.parse.urlsplit(req.url)
    with pytest.raises(InvalidSignature, match="does not match"):
        Req("GET", parts.path, parts.query, {"host": parts.netloc}, b"").verify(verifier())


@pytest.mark.parametrize("drop", ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders",
                                  "X-Amz-Date"])
def test_a_presigned_query_missing_a_parameter_is_incomplete_signature(drop: str) -> None:
    r = presigned()
    r.query = "&".join(p for p in r.query.split("&") if not p.startswith(drop + "="))
    with pytest.raises(IncompleteSignature) as exc:
        r.verify(verifier())
    assert exc.value.message == (
        f"AWS query-string parameters must include '{drop}'. Re-examine the query-string parameters.")


@pytest.mark.parametrize("expires", ["0", "604801", "-1", "1e3", ""])
def test_x_amz_expires_must_be_one_second_to_a_week(expires: str) -> None:
    r = presigned()
    r.query = r.query.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
    with pytest.raises(IncompleteSignature, match="X-Amz-Expires must be an integer from 1 to 604800"):
        r.verify(verifier())


def test_a_repeated_auth_parameter_is_refused() -> None:
    # which of two signatures (or tokens) would count is ambiguous: neither does
    r = presigned(SESSION, token="the-token")
    for param in ("X-Amz-Signature=" + "0" * 64, "X-Amz-Security-Token=other", "X-Amz-Expires=604800"):
        with pytest.raises(IncompleteSignature, match="must not repeat"):
            Req(r.method, r.path, f"{r.query}&{param}", r.headers, r.body).verify(verifier())


def test_a_token_added_to_a_long_term_keys_presigned_url_is_refused() -> None:
    r = presigned()
    r.query += "&" + urlencode({"X-Amz-Security-Token": "t"})
    with pytest.raises(UnrecognizedClient):
        r.verify(verifier())


def test_another_algorithm_is_incomplete_signature() -> None:
    r = presigned()
    r.query = r.query.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA512")
    with pytest.raises(IncompleteSignature, match="Unsupported AWS 'algorithm'"):
        r.verify(verifier())


def test_header_and_query_signatures_together_are_refused() -> None:
    p = presigned()
    h = header_signed(method="GET", path="/", query=p.query, body=b"")
    with pytest.raises(IncompleteSignature, match="Only one auth mechanism allowed"):
        h.verify(verifier())


def test_parse_scope_reads_a_presigned_query() -> None:
    scope = parse_scope(None, presigned().query)
    assert scope is not None and (scope.access_key_id, scope.service) == ("AKIAALICE", "sts")
    assert parse_scope(None, "a=b") is None


# -- the derived key cache --------------------------------------------------------------------------
def test_a_changed_secret_is_never_served_a_cached_key() -> None:
    current = {"k": USER}
    v = SigV4Verifier(lambda key: current["k"] if key == USER.access_key_id else None)
    assert header_signed().verify(v).principal is USER
    rotated = Principal(PrincipalKind.USER, USER.account_id, USER.arn, USER.user_id, USER.name, USER.access_key_id,
                        "new-secret")
    current["k"] = rotated
    with pytest.raises(InvalidSignature, match="does not match"):
        header_signed().verify(v)
    assert header_signed(rotated).verify(v).principal is rotated


def test_the_signing_key_is_derived_once_per_day_and_scope() -> None:
    v = verifier()
    for at in (T0, T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(hours=1)):
        header_signed(at=at).verify(v, now=at)
    header_signed(at=T0 + dt.timedelta(days=1)).verify(v, now=T0 + dt.timedelta(days=1))
    header_signed(service="iam").verify(v)
    assert len(v._keys) == 3


def test_the_fast_canonical_headers_are_botocores() -> None:
    from lambent.api.sigv4 import _Canonicaliser, _Headers

    headers = _Headers({"host": "h:1", "x-b": "  a   b\tc  ", "x-a": "", "content-type": "application/json; x=1"})
    ours = _Canonicaliser("lambda", "us-east-1").canonical_headers(headers)
    assert ours == SigV4Auth.canonical_headers(SigV4Auth(Credentials("a", "b"), "lambda", "us-east-1"), headers)
    assert ours.splitlines()[-1] == "x-b:a b c"


def test_a_header_value_with_odd_whitespace_verifies() -> None:
    r = header_signed(extra={"X-Spaced": "  one   two\tthree "})
    assert r.verify(verifier()).principal is USER


def test_an_unsigned_x_amz_header_is_refused_but_an_unsigned_token_is_checked() -> None:
    r = header_signed()
    r.headers["x-amz-target"] = "AWSLambda.DeleteFunction"
    with pytest.raises(InvalidSignature) as exc:
        r.verify(verifier())
    assert exc.value.message == "There were headers present in the request which were not signed: x-amz-target"
    # a session token added after signing is not signed, but must still be the session's
    s = header_signed(SESSION)
    s.headers["x-amz-security-token"] = "the-token"
    assert s.verify(verifier()).principal is SESSION
    s.headers["x-amz-security-token"] = "forged"
    with pytest.raises(UnrecognizedClient):
        s.verify(verifier())


def test_starlette_headers_are_read_once_first_value_first() -> None:
    from starlette.datastructures import Headers

    r = header_signed()
    raw = [(k.encode(), v.encode()) for k, v in r.headers.items()] + [(b"x-custom", b"second")]
    v = verifier()
    assert v.verify(r.method, r.path, r.query, Headers(raw=raw), r.body, now=T0).principal is USER
    swapped = [(b"x-custom", b"first")] + [(k.encode(), v.encode()) for k, v in r.headers.items()]
    with pytest.raises(InvalidSignature, match="does not match"):
        v.verify(r.method, r.path, r.query, Headers(raw=swapped), r.body, now=T0)


def test_an_unsigned_twin_of_a_signed_header_in_another_case_is_refused() -> None:
    r = header_signed(extra={"X-Amz-Target": "AWSLambda.Invoke"})
    assert r.verify(verifier()).principal is USER
    r.headers["X-Amz-Target"] = "AWSLambda.DeleteFunction"  # beside the signed "x-amz-target"
    with pytest.raises(InvalidSignature, match="not signed: x-amz-target"):
        r.verify(verifier())


@pytest.mark.parametrize("path", [
    "/", "", "/2015-03-31/functions/app-api/invocations", "/2015-03-31/functions/a%3Ab/invocations",
    "/a//b", "/a/./b", "/a/../b", "/a/b/", "/.hidden", "/a/..", "/a%2Fb", "/sp ace", "/ü", "/a~b-c_d.e",
    "/a/b/../../..", "//", "/a:b", "/a?b", "/%2E%2E/x", "/a/.b/c.", "/-/_/~",
])
def test_the_fast_canonical_path_is_botocores(path: str) -> None:
    from lambent.api.sigv4 import _Canonicaliser

    canon = _Canonicaliser("lambda", "us-east-1")
    assert canon.canonical_path(path) == canon._normalize_url_path(path)


@pytest.mark.parametrize("query", [
    "", "Qualifier=live", "flag", "b=2&a=1", "a=2&a=1&a=10", "a=1&a", "x=%20&x=+", "MaxItems=5&Marker=abc%3D",
    "a=1&&b=2", "=v",
])
def test_the_fast_canonical_query_is_botocores(query: str) -> None:
    from urllib.parse import urlsplit

    from lambent.api.sigv4 import _Canonicaliser

    canon = _Canonicaliser("lambda", "us-east-1")
    assert canon.canonical_query(query) == canon._canonical_query_string_url(urlsplit(f"http://h/p?{query}"))


@pytest.mark.parametrize("path,query", [
    ("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations", ""),
    ("/a/./b//c/", "m=2&m=1&k"),
    ("/x y/ü", "q=a%20b"),
])
def test_encoded_paths_and_repeated_query_keys_verify_and_tampering_fails(path: str, query: str) -> None:
    import botocore.awsrequest

    url = f"http://localhost:9000{path}" + (f"?{query}" if query else "")
    req = botocore.awsrequest.AWSRequest("GET", url, headers={"Host": "localhost:9000"})
    SigV4Auth(Credentials(USER.access_key_id, USER.secret_access_key), "lambda", "us-east-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    raw_path = urlsplit_path(req.url)
    now = dt.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    v = verifier()
    assert v.verify("GET", raw_path, query, headers, b"", now=now).principal is USER
    with pytest.raises(InvalidSignature, match="does not match"):
        v.verify("GET", raw_path + "x", query, headers, b"", now=now)
    with pytest.raises(InvalidSignature, match="does not match"):
        v.verify("GET", raw_path, query + "&extra=1", headers, b"", now=now)


def urlsplit_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def test_a_fragment_appended_to_a_signed_path_is_signed_too() -> None:
    r = header_signed()
    with pytest.raises(InvalidSignature, match="does not match"):
        verifier().verify(r.method, r.path + "#x", r.query, r.headers, r.body, now=T0)


def test_the_amz_date_memo_never_lends_one_dates_instant_to_another() -> None:
    from lambent.api.sigv4 import _parse_amz_date

    assert _parse_amz_date("20260301T120000Z") == T0
    assert _parse_amz_date("20260301T120000Z") == T0
    assert _parse_amz_date("20260301T120001Z") == T0 + dt.timedelta(seconds=1)
    for bad in ("", "20260301T120001", "2026-03-01T12:00:01Z"):
        with pytest.raises(ValueError):
            _parse_amz_date(bad)
