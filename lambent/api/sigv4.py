"""AWS Signature Version 4 verification for every principal, canonicalised by botocore's own signer.

We rebuild the request the client signed (method, raw path and query, the signed headers, the body),
let :class:`botocore.auth.SigV4Auth` canonicalise it, sign the string to sign with the secret of
the principal the access key names (:data:`PrincipalLookup`: the root, an IAM user, an assumed
role's session) and compare in constant time. Errors and messages follow AWS:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html

Both forms AWS accepts (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):

- the ``Authorization`` header (``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
  with ``X-Amz-Date`` and, for temporary credentials, ``X-Amz-Security-Token`` headers);
- the presigned query string (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-SignedHeaders``, ``X-Amz-Signature``, optional ``X-Amz-Expires`` and
  ``X-Amz-Security-Token``); the canonical query string is the whole query without
  ``X-Amz-Signature`` (botocore's ``SigV4QueryAuth``). Only one of the two forms per request.

The payload line of the canonical request is always the SHA-256 of the body actually received, as
AWS's non-S3 services compute it, presigned requests included: botocore's ``SigV4QueryAuth`` signs
the body's hash (the empty body's for a GET), only ``S3SigV4QueryAuth`` puts ``UNSIGNED-PAYLOAD``
there, and lambent serves no S3. An ``X-Amz-Content-SHA256`` header is never trusted for the
payload line (botocore's own ``canonical_request`` would take the header's value, so a body swapped
under a signed header would pass), and ``UNSIGNED-PAYLOAD`` cannot match. When that header is
signed and holds a hash, the signature is checked before the body is read and the body must then
hash to it.

Time: a request's ``X-Amz-Date`` may be up to :data:`MAX_SKEW` (15 minutes) before or after the
server's clock. A presigned request lives ``X-Amz-Expires`` seconds (1..604800) from its date but
never longer than :data:`MAX_SKEW`: AWS's non-S3 services (STS, SQS, IoT) hold presigned requests to
the same 15-minute window whatever ``X-Amz-Expires`` says (aws/aws-sdk-go#2167,
aws/aws-sdk-ruby#2498), and a URL is not honoured past the expiry its signer chose.

Verification has two steps so that nothing of a body is read for a request its headers already
condemn: :meth:`SigV4Verifier.check_head` checks everything the headers and the query can tell (a
parsable signature, a known access key and its session token, a date inside the window, the
scope's date, region, service and terminator) and :meth:`PendingSignature.finish` checks the
signature against the body's SHA-256, which the caller computes while the body arrives
(``api/body.py``). Both hand on the verified :class:`AuthScope`, whose ``principal`` is who the
request acts as.

Check order (each refusal an :class:`~lambent.errors.AuthError`): the signature's syntax
(MissingAuthenticationToken / IncompleteSignature), the access key (UnrecognizedClient; an expired
session: ExpiredToken, from the lookup), the session token (UnrecognizedClient), the time window
and the scope (InvalidSignature), then the signature itself (InvalidSignature).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.credentials import Credentials

from lambent.errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken, UnrecognizedClient
from lambent.iam.model import PARTITION, Principal, PrincipalKind

#: Who an access key id belongs to: None for an unknown, Inactive or deleted key; raises
#: :class:`~lambent.errors.ExpiredToken` for expired temporary credentials (``IamService.lookup``).
PrincipalLookup = Callable[[str], Principal | None]

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
#: AWS refuses timestamps more than 15 minutes away from its clock, either way.
MAX_SKEW = dt.timedelta(minutes=15)
#: X-Amz-Expires' range (seconds): a SigV4 signing key is good for at most seven days.
MAX_EXPIRES_S = 604800
#: Services AWS serves from one global endpoint: they accept a us-east-1 scope in any region.
GLOBAL_SERVICES = frozenset({"iam", "sts"})
GLOBAL_REGION = "us-east-1"
ALGORITHM = "AWS4-HMAC-SHA256"
_SHA256_HEX = _SIGNATURE_RE
_FMT = "%Y%m%dT%H%M%SZ"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_INVALID_TOKEN = "The security token included in the request is invalid."
#: The presigned query's parameters, in the order AWS names the missing ones.
_QUERY_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
_QUERY_AUTH = frozenset((*_QUERY_REQUIRED, "X-Amz-Expires", "X-Amz-Security-Token"))
#: Any of these in the query makes it a presigned request.
_QUERY_MARKERS = frozenset(("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"))
#: X-Amz-* headers that need not be signed (see _pick_signed).
_SIGNING_EXEMPT = frozenset(("x-amz-security-token",))
#: Bound of the derived-signing-key cache: one entry per (key, secret, date, region, service).
_KEY_CACHE_MAX = 4096


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
    """Exactly what :meth:`_Canonicaliser.canonical_request` reads of a request. botocore's own
    AWSRequest would re-serialise the whole request on every ``.body`` access."""

    __slots__ = ("method", "path", "query", "headers", "payload_sha256", "timestamp")

    def __init__(self, method: str, path: str, query: str, headers: _Headers, timestamp: str) -> None:
        self.method = method
        #: The raw path and the canonical query's source (botocore reads both from the URL).
        self.path = path
        self.query = query
        self.headers = headers
        #: The hex SHA-256 that goes into the canonical request (set before each signature).
        self.payload_sha256 = ""
        self.timestamp = timestamp


#: A path botocore's normalisation leaves as it is but for ``%`` (which ``quote(..., safe="/~")``
#: doubles to ``%25``, as AWS's non-S3 services encode twice): unreserved characters, ``/`` and
#: ``%`` only, no empty, ``.`` or ``..`` segment (``//`` and ``/.`` excluded), not ending in ``/``
#: after a segment (botocore keeps that slash, but a fast path for it is not worth the risk).
_PLAIN_PATH = re.compile(r"^(?:/[A-Za-z0-9\-_~%][A-Za-z0-9\-_.~%]*)+$|^/$")


class _Canonicaliser(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 canonicalisation for one (region, service); it holds no secret: signatures
    are computed with the principal's derived key (:meth:`SigV4Verifier._signing_key`)."""

    def __init__(self, service_name: str, region_name: str) -> None:
        super().__init__(Credentials("", ""), service_name, region_name)
        self._scope_tail = f"/{region_name}/{service_name}/aws4_request\n"

    def headers_to_sign(self, request: _SignedRequest) -> _Headers:
        # The client's SignedHeaders list is authoritative and already picked: botocore's
        # version would rebuild it as an email.message-based HTTPHeaders, at 4x the cost.
        return request.headers

    def canonical_headers(self, headers_to_sign: _Headers) -> str:
        # botocore's canonical_headers for headers of one value each (``name:trimall(value)``,
        # sorted), without its per-header get_all and generator: a third of a verification's time.
        return "\n".join([f"{name}:{' '.join(dict.__getitem__(headers_to_sign, name).split())}"
                          for name in sorted(headers_to_sign)])

    def canonical_path(self, path: str) -> str:
        """botocore's ``_normalize_url_path(urlsplit(url).path)``: written directly for the paths
        it leaves alone (all SDK-built Lambda paths), botocore's own code for the others."""
        if _PLAIN_PATH.match(path):
            return path.replace("%", "%25") if "%" in path else path
        return str(self._normalize_url_path(path))

    @staticmethod
    def canonical_query(query: str) -> str:
        """botocore's ``_canonical_query_string_url``: the pairs as received, sorted by (key,
        value), each ``key=value`` (``key=`` for a bare key)."""
        if not query:
            return ""
        if "&" not in query:
            return query if "=" in query else f"{query}="
        return "&".join([f"{k}={v}" for k, v in sorted(
            [(k, v) for k, _, v in (pair.partition("=") for pair in query.split("&"))])])

    def canonical_request(self, request: _SignedRequest) -> str:
        # botocore's version, except for the payload line: the hash of the body we received,
        # never the X-Amz-Content-SHA256 header's claim (see the module docstring).
        headers = request.headers
        names = sorted(headers)
        return "\n".join((
            request.method.upper(),
            self.canonical_path(request.path),
            self.canonical_query(request.query),
            "\n".join([f"{name}:{' '.join(dict.__getitem__(headers, name).split())}" for name in names]) + "\n",
            ";".join(names),
            request.payload_sha256,
        ))

    def string_to_sign_of(self, request: _SignedRequest, canonical_request: str) -> str:
        """botocore's ``string_to_sign``, with the scope prefix built once."""
        return (f"{ALGORITHM}\n{request.timestamp}\n{request.timestamp[:8]}{self._scope_tail}"
                f"{hashlib.sha256(canonical_request.encode()).hexdigest()}")


#: The last X-Amz-Date parsed and its instant, swapped as one tuple: requests signed in the same
#: second share it.
_last_date: tuple[str | None, dt.datetime] = (None, dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))


def _parse_amz_date(value: str) -> dt.datetime:
    """``YYYYMMDDTHHMMSSZ``; hand-parsed because strptime costs ~20 µs on every request."""
    global _last_date
    last = _last_date
    if last[0] == value:
        return last[1]
    parsed = _parse_amz_date_text(value)
    _last_date = (value, parsed)
    return parsed


def _parse_amz_date_text(value: str) -> dt.datetime:
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not value[:8].isdigit() or not value[9:15].isdigit():
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


class AuthScope(NamedTuple):
    """A verified request's scope (the fields of :class:`Scope`) and who it acts as: ``principal``
    is the root, IAM user or assumed-role session whose key signed it (what authorisation and
    GetCallerIdentity read); ``presigned`` whether the signature came in the query string. A
    NamedTuple, not a frozen dataclass: it is built on every request, at a tenth of the cost."""

    access_key_id: str
    date: str
    region: str
    service: str
    principal: Principal
    presigned: bool = False


def _split_credential(credential: str) -> list[str] | None:
    parts = credential.split("/")
    return parts if len(parts) == 5 else None


def parse_scope(authorization: str | None, query: str = "") -> Scope | None:
    """The credential scope of an Authorization header or, without one, of a presigned query
    string; None when the request carries neither (or an unparsable one). Nothing is verified."""
    if authorization:
        m = _AUTH_RE.match(authorization)
        if m is None:
            return None
        parts = _split_credential(m.group("cred"))
    elif "X-Amz-Credential=" in query:
        values = _query_auth_params(query)
        if values is None or "X-Amz-Credential" not in values:
            return None
        parts = _split_credential(values["X-Amz-Credential"])
    else:
        return None
    if parts is None or parts[4] != "aws4_request":
        return None
    return Scope(parts[0], parts[1], parts[2], parts[3])


def _query_auth_params(query: str) -> dict[str, str] | None:
    """The presigned query's auth parameters, decoded; None when one is repeated (which of two
    signatures or tokens counts would be ambiguous)."""
    found: dict[str, str] = {}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        key = unquote(key)
        if key in _QUERY_AUTH:
            if key in found:
                return None
            found[key] = unquote(value.replace("+", " "))
    return found


class PendingSignature:
    """A request whose headers passed :meth:`SigV4Verifier.check_head`; :meth:`finish` checks its
    signature against the body's SHA-256. ``scope`` (and ``principal``) name who signed it, but
    mean nothing until :meth:`finish` returned. Scope: one request."""

    __slots__ = ("scope", "_canon", "_key", "_request", "_signature", "_declared")

    def __init__(self, scope: AuthScope, canon: _Canonicaliser, key: bytes, request: _SignedRequest,
                 signature: str, declared: str | None) -> None:
        self.scope = scope
        self._canon = canon
        self._key = key
        self._request = request
        self._signature = signature
        #: The signed X-Amz-Content-SHA256 the signature was already checked with, if any.
        self._declared = declared

    @property
    def principal(self) -> Principal:
        """Who the request acts as (verified only once :meth:`finish` returned)."""
        return self.scope.principal

    def _matches(self, payload_sha256: str) -> bool:
        request = self._request
        request.payload_sha256 = payload_sha256
        canon = self._canon
        string_to_sign = canon.string_to_sign_of(request, canon.canonical_request(request))
        expected = hmac.digest(self._key, string_to_sign.encode(), "sha256").hex()  # OpenSSL's one-shot HMAC
        return hmac.compare_digest(expected, self._signature)

    def finish(self, body_sha256: str) -> AuthScope:
        """The verified scope (``.principal`` is who signed), or
        :class:`~lambent.errors.InvalidSignature` unless the signature covers a body with this
        (hex) SHA-256."""
        if self._declared is not None:
            matches = hmac.compare_digest(self._declared, body_sha256)
        else:
            matches = self._matches(body_sha256)
        if not matches:
            raise InvalidSignature(_MISMATCH)
        return self.scope


def _first_values(headers: Mapping[str, str]) -> dict[str, str]:
    """Each header's first value by lower-case name, in one pass: every later look-up is a dict's
    (a Starlette ``Headers`` look-up scans and decodes the whole raw list each time)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), value)
    return out


def _pick_signed(headers: dict[str, str], signed_names: list[str]) -> _Headers:
    """The signed headers. Every ``X-Amz-*`` header the request carries must be signed (the
    session token aside: it is checked against the principal's): they select the operation
    (X-Amz-Target) and what a function receives (X-Amz-Invocation-Type, X-Amz-Client-Context), so
    unsigned, one added to a captured request would replay it as another call. Every AWS SDK
    signs them all; S3 refuses unsigned ones too ("There were headers present in the request
    which were not signed")."""
    picked = _Headers()
    for name in signed_names:
        value = headers.get(name)
        if value is None:
            raise InvalidSignature(f"{_MISMATCH} Signed header '{name}' is missing.")
        dict.__setitem__(picked, name, value)
    # Names compared exactly (signed names are lower-case): a plain dict may carry an unsigned
    # "X-Amz-Target" beside a signed "x-amz-target".
    unsigned = [n.lower() for n in headers
                if n[:6].lower() == "x-amz-" and not dict.__contains__(picked, n) and n.lower() not in _SIGNING_EXEMPT]
    if unsigned:
        raise InvalidSignature(f"There were headers present in the request which were not signed: {', '.join(sorted(unsigned))}")
    return picked


def _dict_lookup(credentials: Mapping[str, str], account_id: str) -> PrincipalLookup:
    """A lookup over fixed ``{access key id: secret}`` pairs, each the account root's."""
    principals = {
        key: Principal(PrincipalKind.ROOT, account_id, f"arn:{PARTITION}:iam::{account_id}:root", account_id, "", key,
                       secret)
        for key, secret in credentials.items()
    }
    return principals.get


def _lifetime_text(lifetime: dt.timedelta) -> str:
    seconds = int(lifetime.total_seconds())
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."


class _Parsed(NamedTuple):
    """What either form of signature says, before anything is checked."""

    credential: list[str]
    signed_headers: list[str]
    signature: str
    amz_date: str
    token: str | None
    #: How long after its date the signature is good: MAX_SKEW, or less for a presigned request
    #: whose X-Amz-Expires says so.
    lifetime: dt.timedelta
    presigned: bool
    #: The query without X-Amz-Signature (presigned) or as received.
    canonical_query: str


class SigV4Verifier:
    """Checks requests against the principals a lookup knows and the server's region.

    ``credentials`` is either a :data:`PrincipalLookup` (``IamService.lookup``) or, as before IAM,
    a ``{access key id: secret}`` mapping whose keys are roots of ``account_id``. ``services``, when
    given, are the scope services accepted (others: "Credential should be scoped to correct
    service"). Scope: one per server."""

    def __init__(
        self,
        credentials: Mapping[str, str] | PrincipalLookup,
        region: str = "us-east-1",
        *,
        services: Collection[str] | None = None,
        account_id: str = "000000000000",
    ) -> None:
        self._lookup: PrincipalLookup = (
            _dict_lookup(credentials, account_id) if isinstance(credentials, Mapping) else credentials
        )
        self._region = region
        self._services = frozenset(services) if services is not None else None
        self._canons: dict[tuple[str, str], _Canonicaliser] = {}
        self._keys: dict[tuple[str, str, str, str, str], bytes] = {}

    def _canon(self, region: str, service: str) -> _Canonicaliser:
        key = (region, service)
        canon = self._canons.get(key)
        if canon is None:
            if len(self._canons) > 256:  # bounded: the service comes from the request
                self._canons.clear()
            canon = self._canons[key] = _Canonicaliser(service, region)
        return canon

    def _signing_key(self, principal: Principal, scope: AuthScope) -> bytes:
        """The derived key (kSigning) of this secret and scope, computed once per day and scope."""
        cache_key = (principal.access_key_id, principal.secret_access_key, scope.date, scope.region, scope.service)
        key = self._keys.get(cache_key)
        if key is None:
            def sign(k: bytes, msg: str) -> bytes:
                return hmac.new(k, msg.encode(), hashlib.sha256).digest()

            key = sign(sign(sign(sign(f"AWS4{principal.secret_access_key}".encode(), scope.date), scope.region),
                            scope.service), "aws4_request")
            if len(self._keys) >= _KEY_CACHE_MAX:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def verify(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: dt.datetime | None = None,
    ) -> AuthScope:
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
        """Everything the headers and the query can tell, before a byte of the body is read: raise
        an :class:`~lambent.errors.AuthError`, or return what checks the signature once the body's
        hash is known (its ``scope.principal`` is who signed)."""
        # A plain dict is taken as lower-case names already (as before); anything else (Starlette's
        # Headers) is read once.
        headers = headers if type(headers) is dict else _first_values(headers)
        parsed = self._parse(headers, query)
        cred = parsed.credential
        principal = self._lookup(cred[0])  # ExpiredToken for an expired session
        if principal is None:
            raise UnrecognizedClient(_INVALID_TOKEN)
        if not principal.token_matches(parsed.token):
            # A wrong or missing session token, or one sent with a long-term key: AWS answers
            # InvalidClientTokenId / UnrecognizedClientException for all three.
            raise UnrecognizedClient(_INVALID_TOKEN)
        self._check_time(parsed, now or dt.datetime.now(dt.timezone.utc))
        scope = AuthScope(cred[0], cred[1], cred[2], cred[3], principal, parsed.presigned)
        self._check_scope(scope, cred[4], parsed.amz_date)
        picked = _pick_signed(headers, parsed.signed_headers)
        request = _SignedRequest(method, raw_path, parsed.canonical_query, picked, parsed.amz_date)
        pending = PendingSignature(scope, self._canon(scope.region, scope.service), self._signing_key(principal, scope),
                                   request, parsed.signature, None)
        declared = dict.get(picked, "x-amz-content-sha256")
        if declared is not None:
            # Signed: the signature can be checked now, and the body must then hash to it. Any
            # other value (UNSIGNED-PAYLOAD, STREAMING-...) cannot match the body's hash.
            if not _SHA256_HEX.match(declared) or not pending._matches(declared):
                raise InvalidSignature(_MISMATCH)
            pending._declared = declared
        return pending

    # -- the steps of check_head ------------------------------------------------------------------
    def _parse(self, headers: dict[str, str], query: str) -> _Parsed:
        auth = headers.get("authorization")
        presigned = "X-Amz-" in query and any(
            unquote(pair.partition("=")[0]) in _QUERY_MARKERS for pair in query.split("&"))
        if auth and presigned:
            raise IncompleteSignature(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the "
                "Authorization header should be specified"
            )
        if auth:
            return self._parse_header(auth, headers, query)
        if presigned:
            return self._parse_query(query)
        raise MissingAuthenticationToken("Missing Authentication Token")

    def _parse_header(self, auth: str, headers: dict[str, str], query: str) -> _Parsed:
        m = _AUTH_RE.match(auth)
        cred = _split_credential(m.group("cred")) if m is not None else None
        if m is None or cred is None:
            raise IncompleteSignature(
                f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. "
                f"Authorization={auth}"
            )
        amz_date = headers.get("x-amz-date")
        if not amz_date:
            raise IncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        return _Parsed(cred, m.group("signed").split(";"), m.group("sig"), amz_date,
                       headers.get("x-amz-security-token"), MAX_SKEW, False, query)

    def _parse_query(self, query: str) -> _Parsed:
        values = _query_auth_params(query)
        if values is None:
            raise IncompleteSignature("AWS query-string parameters must not repeat an authentication parameter. "
                                      "Re-examine the query-string parameters.")
        missing = [p for p in _QUERY_REQUIRED if not values.get(p)]
        if missing:
            raise IncompleteSignature(
                "".join(f"AWS query-string parameters must include '{p}'. " for p in missing)
                + "Re-examine the query-string parameters."
            )
        if values["X-Amz-Algorithm"] != ALGORITHM:
            raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{values['X-Amz-Algorithm']}'")
        cred = _split_credential(values["X-Amz-Credential"])
        signature = values["X-Amz-Signature"]
        if cred is None or not _SIGNATURE_RE.match(signature):
            raise IncompleteSignature(
                "AWS query-string parameters must include a valid 'X-Amz-Credential' and 'X-Amz-Signature'. "
                "Re-examine the query-string parameters."
            )
        lifetime = MAX_SKEW
        raw_expires = values.get("X-Amz-Expires")
        if raw_expires is not None:
            if not raw_expires.isdigit() or not 1 <= int(raw_expires) <= MAX_EXPIRES_S:
                raise IncompleteSignature(
                    f"X-Amz-Expires must be an integer from 1 to {MAX_EXPIRES_S} (seconds; at most a week), "
                    f"not '{raw_expires}'."
                )
            lifetime = min(lifetime, dt.timedelta(seconds=int(raw_expires)))
        canonical_query = "&".join(
            pair for pair in query.split("&") if unquote(pair.partition("=")[0]) != "X-Amz-Signature"
        )
        return _Parsed(cred, values["X-Amz-SignedHeaders"].split(";"), signature, values["X-Amz-Date"],
                       values.get("X-Amz-Security-Token"), lifetime, True, canonical_query)

    def _check_time(self, parsed: _Parsed, now: dt.datetime) -> None:
        amz_date = parsed.amz_date
        try:
            ts = _parse_amz_date(amz_date)
        except ValueError:
            raise IncompleteSignature(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
        age = now - ts
        if -age > MAX_SKEW:
            raise InvalidSignature(
                f"Signature not yet current: {amz_date} is still later than {(now + MAX_SKEW).strftime(_FMT)} "
                f"({now.strftime(_FMT)} + {_lifetime_text(MAX_SKEW)})"
            )
        lifetime = parsed.lifetime
        if age > lifetime:
            raise InvalidSignature(
                f"Signature expired: {amz_date} is now earlier than {(now - lifetime).strftime(_FMT)} "
                f"({now.strftime(_FMT)} - {_lifetime_text(lifetime)})"
            )

    def _check_scope(self, scope: AuthScope, terminator: str, amz_date: str) -> None:
        # AWS's words, trailing spaces included (e.g. STS: "... not 'ap-southeast-2'. ").
        if terminator != "aws4_request":
            raise InvalidSignature(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. ")
        if scope.date != amz_date[:8]:
            raise InvalidSignature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{scope.date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        if scope.region != self._region and not (scope.service in GLOBAL_SERVICES and scope.region == GLOBAL_REGION):
            raise InvalidSignature(f"Credential should be scoped to a valid region, not '{scope.region}'. ")
        if self._services is not None and scope.service not in self._services:
            raise InvalidSignature("Credential should be scoped to correct service: 'lambda'. ")
