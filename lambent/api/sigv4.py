"""AWS Signature Version 4 verification, computed with botocore's own signer.

We rebuild the request the client signed (method, raw path and query, the signed headers, the body)
and let :class:`botocore.auth.SigV4Auth` compute the signature with the root secret, then compare
in constant time. Errors and messages follow AWS:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html

Verification has two steps so that nothing of a body is read for a request its headers already
condemn: :meth:`SigV4Verifier.check_head` checks everything the headers can tell (a parsable
Authorization header, a known access key, a date inside the window, the scope's date and region)
and :meth:`PendingSignature.finish` checks the signature against the body's SHA-256, which the
caller computes while the body arrives (``api/body.py``). The canonical request always carries the
hash of the body actually received, as AWS's non-S3 services do: an ``X-Amz-Content-SHA256`` header
is never trusted for it (botocore's own ``canonical_request`` would take the header's value, so a
body swapped under a signed header would pass), and ``UNSIGNED-PAYLOAD`` cannot match. When that
header is signed and holds a hash, the signature is checked before the body is read and the body
must then hash to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.credentials import Credentials

from lambent.errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken, UnrecognizedClient

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
#: AWS refuses timestamps more than 5 minutes away from its clock.
MAX_SKEW = dt.timedelta(minutes=5)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class _Headers(dict[str, str]):
    """The signed headers (lower-case names), looked up case-insensitively as botocore expects."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def get_all(self, key: str) -> list[str]:
        """The one value of a header (the interface of botocore's HTTPHeaders)."""
        return [dict.__getitem__(self, key)]


class _SignedRequest:
    """Exactly what :meth:`SigV4Auth.canonical_request` reads of a request. botocore's own
    AWSRequest would re-serialise the whole request on every ``.body`` access."""

    __slots__ = ("method", "url", "headers", "payload_sha256", "params", "context")

    def __init__(self, method: str, url: str, headers: _Headers, timestamp: str) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        #: The hex SHA-256 that goes into the canonical request (set before each signature).
        self.payload_sha256 = ""
        self.params: dict[str, str] = {}
        self.context: dict[str, str] = {"timestamp": timestamp}


class _CachingSigV4Auth(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 signer, remembering the derived signing key per date (it changes daily)."""

    def __init__(self, credentials: Credentials, service_name: str, region_name: str) -> None:
        super().__init__(credentials, service_name, region_name)
        self._key_date = ""
        self._key = b""

    def headers_to_sign(self, request: _SignedRequest) -> _Headers:
        # The client's SignedHeaders list is authoritative and already picked: botocore's
        # version would rebuild it as an email.message-based HTTPHeaders, at 4x the cost.
        return request.headers

    def canonical_request(self, request: _SignedRequest) -> str:
        # botocore's version, except for the payload line: the hash of the body we received,
        # never the X-Amz-Content-SHA256 header's claim (see the module docstring).
        headers = request.headers
        return "\n".join((
            request.method.upper(),
            self._normalize_url_path(urlsplit(request.url).path),
            self.canonical_query_string(request),
            self.canonical_headers(headers) + "\n",
            self.signed_headers(headers),
            request.payload_sha256,
        ))

    def signature(self, string_to_sign: str, request: _SignedRequest) -> str:
        date = request.context["timestamp"][0:8]
        if date != self._key_date:
            k_date = self._sign(f"AWS4{self.credentials.secret_key}".encode(), date)
            k_region = self._sign(k_date, self._region_name)
            k_service = self._sign(k_region, self._service_name)
            self._key = self._sign(k_service, "aws4_request")
            self._key_date = date
        return str(self._sign(self._key, string_to_sign, hex=True))


def _parse_amz_date(value: str) -> dt.datetime:
    """``YYYYMMDDTHHMMSSZ``; hand-parsed because strptime costs ~20 µs on every request."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        raise ValueError(value)
    return dt.datetime(
        int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]), int(value[11:13]), int(value[13:15]),
        tzinfo=dt.timezone.utc,
    )


@dataclass(frozen=True)
class Scope:
    """The parts of the credential scope the router needs."""

    access_key_id: str
    date: str
    region: str
    service: str


def parse_scope(authorization: str | None) -> Scope | None:
    """The credential scope of an Authorization header, or None when it is not SigV4."""
    if not authorization:
        return None
    m = _AUTH_RE.match(authorization)
    if m is None:
        return None
    parts = m.group("cred").split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return Scope(parts[0], parts[1], parts[2], parts[3])


class PendingSignature:
    """A request whose headers passed :meth:`SigV4Verifier.check_head`; :meth:`finish` checks its
    signature against the body's SHA-256. Scope: one request."""

    __slots__ = ("scope", "_signer", "_request", "_signature", "_declared")

    def __init__(self, scope: Scope, signer: _CachingSigV4Auth, request: _SignedRequest, signature: str,
                 declared: str | None) -> None:
        self.scope = scope
        self._signer = signer
        self._request = request
        self._signature = signature
        #: The signed X-Amz-Content-SHA256 the signature was already checked with, if any.
        self._declared = declared

    def _matches(self, payload_sha256: str) -> bool:
        request = self._request
        request.payload_sha256 = payload_sha256
        signer = self._signer
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        return hmac.compare_digest(expected, self._signature)

    def finish(self, body_sha256: str) -> Scope:
        """The scope, or :class:`~lambent.errors.InvalidSignature` unless the signature covers a
        body with this (hex) SHA-256."""
        if self._declared is not None:
            matches = hmac.compare_digest(self._declared, body_sha256)
        else:
            matches = self._matches(body_sha256)
        if not matches:
            raise InvalidSignature(_MISMATCH)
        return self.scope


class SigV4Verifier:
    """Checks requests against one set of credentials and the server's region. Scope: one per server."""

    def __init__(self, credentials: Mapping[str, str], region: str = "us-east-1") -> None:
        #: access key id -> secret access key
        self._secrets = dict(credentials)
        self._region = region
        self._signers: dict[tuple[str, str, str], _CachingSigV4Auth] = {}

    def _signer(self, scope: Scope, secret: str) -> _CachingSigV4Auth:
        key = (scope.access_key_id, scope.region, scope.service)
        signer = self._signers.get(key)
        if signer is None:
            if len(self._signers) > 256:  # bounded: the service comes from the (signed) request
                self._signers.clear()
            signer = self._signers[key] = _CachingSigV4Auth(Credentials(scope.access_key_id, secret), scope.service, scope.region)
        return signer

    def verify(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: dt.datetime | None = None,
    ) -> Scope:
        """Raise an :class:`~lambent.errors.AuthError` unless the request is correctly signed."""
        pending = self.check_head(method, raw_path, query, headers, now)
        return pending.finish(hashlib.sha256(body).hexdigest())

    def check_head(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        now: dt.datetime | None = None,
    ) -> PendingSignature:
        """Everything the headers can tell, before a byte of the body is read: raise an
        :class:`~lambent.errors.AuthError`, or return what checks the signature once the body's
        hash is known."""
        auth = headers.get("authorization")
        if not auth:
            raise MissingAuthenticationToken("Missing Authentication Token")
        m = _AUTH_RE.match(auth)
        scope = parse_scope(auth)
        if m is None or scope is None:
            raise IncompleteSignature(
                f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. "
                f"Authorization={auth}"
            )
        secret = self._secrets.get(scope.access_key_id)
        if secret is None:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        amz_date = headers.get("x-amz-date")
        if not amz_date:
            raise IncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        try:
            ts = _parse_amz_date(amz_date)
        except ValueError:
            raise IncompleteSignature(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
        now = now or dt.datetime.now(dt.timezone.utc)
        if abs(now - ts) > MAX_SKEW:
            fmt = "%Y%m%dT%H%M%SZ"
            raise InvalidSignature(
                f"Signature expired: {amz_date} is now earlier than {(now - MAX_SKEW).strftime(fmt)} "
                f"({now.strftime(fmt)} - 5 min.)"
                if ts < now
                else f"Signature not yet current: {amz_date} is still later than {(now + MAX_SKEW).strftime(fmt)} "
                f"({now.strftime(fmt)} + 5 min.)"
            )
        if scope.date != amz_date[:8]:
            raise InvalidSignature("Credential should be scoped to a valid region and date.")
        if scope.region != self._region:
            # AWS's words, trailing space included (e.g. STS: "... not 'ap-southeast-2'. ").
            raise InvalidSignature(f"Credential should be scoped to a valid region, not '{scope.region}'. ")
        signed = m.group("signed").split(";")
        try:
            picked = _Headers({h: headers[h] for h in signed})
        except KeyError as missing:
            raise InvalidSignature(f"The request signature we calculated does not match the signature you provided. Signed header {missing} is missing.") from None
        url = f"http://{headers.get('host', 'localhost')}{raw_path}" + (f"?{query}" if query else "")
        request = _SignedRequest(method, url, picked, amz_date)
        pending = PendingSignature(scope, self._signer(scope, secret), request, m.group("sig"), None)
        declared = dict.get(picked, "x-amz-content-sha256")
        if declared is not None:
            # Signed: the signature can be checked now, and the body must then hash to it. Any
            # other value (UNSIGNED-PAYLOAD, STREAMING-...) cannot match the body's hash.
            if not _SHA256_HEX.match(declared) or not pending._matches(declared):
                raise InvalidSignature(_MISMATCH)
            pending._declared = declared
        return pending
