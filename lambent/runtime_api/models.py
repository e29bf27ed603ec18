"""Values exchanged between the platform and one Runtime API endpoint.

These are the only shapes the worker layer sees: an :class:`Invocation` goes in, an
:class:`InvocationResult` (or an :class:`InitError`, wrapped in ``RuntimeInitError``) comes out.
They are frozen and validate themselves on creation, so a malformed value fails where it is
built rather than on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

# The request id travels in the URL path the runtime posts to
# (/2018-06-01/runtime/invocation/{AwsRequestId}/response), so it must be a single, unescaped path
# segment. AWS uses UUIDs; we accept the URL "unreserved" characters (RFC 3986 section 2.3).
_REQUEST_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_MAX_REQUEST_ID_CHARS = 256


def _check_header_value(field: str, value: str | None) -> None:
    """Refuse values that would split or truncate an HTTP header line (header injection)."""
    if value is not None and ("\r" in value or "\n" in value or "\0" in value):
        raise ValueError(f"Invocation.{field} must not contain CR, LF or NUL")


@dataclass(frozen=True, slots=True)
class Invocation:
    """One invocation handed to the runtime through ``GET /runtime/invocation/next``.

    Every text field becomes a response header of /next, exactly as listed on
    https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-next.
    ``client_context`` and ``cognito_identity`` are passed through verbatim: AWS's runtime clients
    ``json.loads``/``JSON.parse`` the header, so the caller must pass the JSON text (the Invoke
    API's ``X-Amz-Client-Context`` is base64: decode it before building the Invocation).
    """

    request_id: str
    payload: bytes
    deadline_ms: int  # epoch milliseconds
    invoked_function_arn: str
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None

    def __post_init__(self) -> None:
        rid = self.request_id
        if not rid or len(rid) > _MAX_REQUEST_ID_CHARS or not _REQUEST_ID_CHARS.issuperset(rid):
            raise ValueError(f"Invocation.request_id {rid!r} is not a URL-safe path segment")
        if self.deadline_ms < 0:
            raise ValueError("Invocation.deadline_ms must be epoch milliseconds, not negative")
        _check_header_value("invoked_function_arn", self.invoked_function_arn)
        _check_header_value("trace_id", self.trace_id)
        _check_header_value("client_context", self.client_context)
        _check_header_value("cognito_identity", self.cognito_identity)


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What the runtime answered for one invocation.

    ``ok`` is True for ``/response`` and False for ``/error`` (or for a response the platform
    refused, such as one over the 6 MB limit). ``body`` is the payload exactly as posted, or the
    error JSON as posted by the runtime. ``error_type`` comes from the
    ``Lambda-Runtime-Function-Error-Type`` header, else from the body's ``errorType``.
    """

    request_id: str
    ok: bool
    body: bytes
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class InitError:
    """The body and type the runtime posted to ``/runtime/init/error``."""

    body: bytes
    error_type: str | None
