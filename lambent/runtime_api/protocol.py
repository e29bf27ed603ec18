"""The Lambda Runtime API as a pure state machine: no sockets, no asyncio, no clock.

One :class:`RuntimeSession` pairs the platform's invocations with one runtime's requests:

* ``GET /runtime/invocation/next``          -> :meth:`RuntimeSession.on_next`
* ``POST /runtime/invocation/{id}/response`` -> :meth:`RuntimeSession.on_response`
* ``POST /runtime/invocation/{id}/error``    -> :meth:`RuntimeSession.on_error`
* ``POST /runtime/init/error``               -> :meth:`RuntimeSession.on_init_error`
* the platform's invoke                      -> :meth:`RuntimeSession.submit`

Each method returns a decision (deliver this invocation now, park the long poll, answer with this
reply, hand this result to the platform) and the server in ``server.py`` carries it out.

Runtime states and their names, and which transition is refused with which reply, follow the
Runtime Interface Emulator (aws/aws-lambda-runtime-interface-emulator, ``internal/lambda/core``
and ``internal/lambda/rapi``), which is the open-source core of the real Runtime API::

    Started --/next--> Ready --invoke--> Running --/response|/error--> RuntimeResponseSentState
       |                 ^                  |                                 |
       |                 +------------------|---------------/next-------------+
       +--/init/error--> InitError <--------+ (/init/error while running: lazy init)

Documented replies (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): 202 for an
accepted post, 400 ``InvalidRequestID`` for an unknown request id, 403 ``InvalidStateTransition``
for a post the current state does not allow, 413 ``RequestEntityTooLarge`` for a response over
the payload limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from lambent.runtime_api.errors import EndpointBusy, RuntimeInitError
from lambent.runtime_api.models import InitError, Invocation, InvocationResult

# 6 MiB + 100 bytes: the synchronous response limit; the figure AWS prints in
# "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
MAX_RESPONSE_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100

RESPONSE_TOO_LARGE_ERROR_TYPE = "Function.ResponseSizeTooLarge"


class RuntimeState(StrEnum):
    """States of the runtime, named as the Runtime Interface Emulator names them."""

    STARTED = "Started"
    INIT_ERROR = "InitError"
    READY = "Ready"
    RUNNING = "Running"
    INVOCATION_RESPONSE = "InvocationResponse"  # target name only: a /response is handled at once
    INVOCATION_ERROR_RESPONSE = "InvocationErrorResponse"  # target name only, likewise
    RESPONSE_SENT = "RuntimeResponseSentState"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer to the runtime: status code and JSON body."""

    status: int
    body: bytes


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type}, separators=(",", ":")
    ).encode()


def error_reply(status: int, error_type: str, message: str) -> Reply:
    """The Runtime API's error envelope ``{"errorMessage": ..., "errorType": ...}``."""
    return Reply(status, _error_body(error_type, message))


ACCEPTED = Reply(202, b'{"status":"OK"}')
INVALID_REQUEST_ID = error_reply(400, "InvalidRequestID", "Invalid request ID")
PAYLOAD_TOO_LARGE = error_reply(
    413,
    "RequestEntityTooLarge",
    f"Exceeded maximum allowed payload size ({MAX_RESPONSE_PAYLOAD_BYTES} bytes).",
)
# What the caller of Invoke receives instead of an oversized response.
RESPONSE_TOO_LARGE_BODY = _error_body(
    RESPONSE_TOO_LARGE_ERROR_TYPE,
    "Response payload size exceeded maximum allowed payload size "
    f"({MAX_RESPONSE_PAYLOAD_BYTES} bytes).",
)


def invalid_transition(current: RuntimeState, target: RuntimeState) -> Reply:
    """403 for a request the current state does not allow (RIE's RenderForbiddenWithTypeMsg)."""
    return error_reply(
        403,
        "InvalidStateTransition",
        f"State transition from {current} to {target} failed for runtime. "
        "Error: State transition is not allowed",
    )


@dataclass(frozen=True, slots=True)
class Deliver:
    """Answer the /next with this invocation now."""

    invocation: Invocation


@dataclass(frozen=True, slots=True)
class Park:
    """Hold the /next open until an invocation arrives (long poll).

    ``superseded`` is True when an earlier /next was already parked: that one is dropped.
    """

    superseded: bool


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer the /next with this error reply."""

    reply: Reply


NextDecision = Deliver | Park | Refuse


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """What a POST from the runtime produced: the reply, plus a result or init error, if any."""

    reply: Reply
    result: InvocationResult | None = None
    init_error: InitError | None = None


def error_type_of(header: str | None, body: bytes) -> str | None:
    """The error type: the ``Lambda-Runtime-Function-Error-Type`` header, else ``errorType``.

    awslambdaric and the Node.js client send the header on /init/error but not on
    /invocation/{id}/error, so the body is the fallback there.
    """
    if header:
        return header
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        value = parsed.get("errorType")
        if isinstance(value, str) and value:
            return value
    return None


class RuntimeSession:
    """The Runtime API state of one execution environment; lives as long as the environment.

    Holds at most one invocation: either queued (submitted, no /next parked yet) or current
    (delivered; its id stays current until the next delivery, so a late duplicate post for it is
    refused with 403 rather than 400, as the Runtime Interface Emulator does).
    """

    __slots__ = ("_state", "_pending", "_current", "_parked", "_ready", "_init_error")

    def __init__(self) -> None:
        self._state = RuntimeState.STARTED
        self._pending: Invocation | None = None
        self._current: Invocation | None = None
        self._parked = False
        self._ready = False
        self._init_error: InitError | None = None

    @property
    def state(self) -> RuntimeState:
        return self._state

    @property
    def ready(self) -> bool:
        """The runtime has called /next at least once: its init phase is over."""
        return self._ready

    @property
    def parked(self) -> bool:
        """A /next is being held open waiting for an invocation."""
        return self._parked

    @property
    def busy(self) -> bool:
        """An invocation is queued or in flight."""
        return self._pending is not None or self._state is RuntimeState.RUNNING

    @property
    def init_error(self) -> InitError | None:
        return self._init_error

    # -- runtime side ----------------------------------------------------------------------------

    def on_next(self) -> NextDecision:
        """The runtime asks for the next invocation."""
        state = self._state
        if state is RuntimeState.INIT_ERROR:
            return Refuse(invalid_transition(state, RuntimeState.READY))
        self._ready = True
        if state is RuntimeState.RUNNING:
            # The runtime asks again without answering (it lost the first answer, or restarted its
            # loop): RIE's Running state accepts Ready() and renders the same event again.
            current = self._current
            if current is None:  # pragma: no cover - Running always has a current invocation
                raise RuntimeError("Running state without a current invocation")
            return Deliver(current)
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._current = pending
            self._state = RuntimeState.RUNNING
            return Deliver(pending)
        superseded = self._parked
        self._parked = True
        self._state = RuntimeState.READY
        return Park(superseded)

    def abandon_next(self) -> None:
        """The connection holding the parked /next went away."""
        self._parked = False

    def on_response(self, request_id: str, body: bytes, oversize: bool) -> PostOutcome:
        """``POST /runtime/invocation/{request_id}/response``; ``oversize``: body over the limit."""
        refusal = self._check_post(request_id, RuntimeState.INVOCATION_RESPONSE)
        if refusal is not None:
            return PostOutcome(refusal)
        self._state = RuntimeState.RESPONSE_SENT
        if oversize:
            return PostOutcome(PAYLOAD_TOO_LARGE, self._too_large(request_id))
        return PostOutcome(ACCEPTED, InvocationResult(request_id, True, body))

    def on_error(
        self, request_id: str, body: bytes, error_type: str | None, oversize: bool
    ) -> PostOutcome:
        """``POST /runtime/invocation/{request_id}/error``."""
        refusal = self._check_post(request_id, RuntimeState.INVOCATION_ERROR_RESPONSE)
        if refusal is not None:
            return PostOutcome(refusal)
        self._state = RuntimeState.RESPONSE_SENT
        if oversize:
            return PostOutcome(PAYLOAD_TOO_LARGE, self._too_large(request_id))
        return PostOutcome(
            ACCEPTED, InvocationResult(request_id, False, body, error_type_of(error_type, body))
        )

    def on_init_error(self, body: bytes, error_type: str | None, oversize: bool) -> PostOutcome:
        """``POST /runtime/init/error``.

        Accepted before the first /next (the normal case) and while an invocation is running (a
        runtime that initialises on its first event, as AWS's "suppressed init" allows). Refused
        with 403 once the runtime has shown it is initialised and idle, or after an init error.
        """
        state = self._state
        if state is not RuntimeState.STARTED and state is not RuntimeState.RUNNING:
            return PostOutcome(invalid_transition(state, RuntimeState.INIT_ERROR))
        if oversize:
            init_error = InitError(RESPONSE_TOO_LARGE_BODY, error_type or RESPONSE_TOO_LARGE_ERROR_TYPE)
            reply = PAYLOAD_TOO_LARGE
        else:
            init_error = InitError(body, error_type_of(error_type, body))
            reply = ACCEPTED
        self._state = RuntimeState.INIT_ERROR
        self._init_error = init_error
        self._pending = None
        self._parked = False
        return PostOutcome(reply, init_error=init_error)

    # -- platform side ---------------------------------------------------------------------------

    def submit(self, invocation: Invocation) -> Deliver | None:
        """The platform invokes: deliver to the parked /next, or queue until the next /next.

        Raises ``RuntimeInitError`` after an init error and ``EndpointBusy`` while an invocation is
        queued or in flight.
        """
        if self._init_error is not None:
            raise RuntimeInitError(self._init_error)
        if self.busy:
            raise EndpointBusy(
                f"cannot invoke {invocation.request_id}: an invocation is already in flight"
            )
        if self._parked:
            self._parked = False
            self._current = invocation
            self._state = RuntimeState.RUNNING
            return Deliver(invocation)
        self._pending = invocation
        return None

    def withdraw(self, request_id: str) -> bool:
        """The platform gave up on a queued invocation before any /next took it."""
        pending = self._pending
        if pending is not None and pending.request_id == request_id:
            self._pending = None
            return True
        return False

    # -- helpers ---------------------------------------------------------------------------------

    def _check_post(self, request_id: str, target: RuntimeState) -> Reply | None:
        # Order as in RIE: the request id is validated first (400), then the transition (403).
        current = self._current
        if current is None or current.request_id != request_id:
            return INVALID_REQUEST_ID
        if self._state is not RuntimeState.RUNNING:
            return invalid_transition(self._state, target)
        return None

    @staticmethod
    def _too_large(request_id: str) -> InvocationResult:
        return InvocationResult(
            request_id, False, RESPONSE_TOO_LARGE_BODY, RESPONSE_TOO_LARGE_ERROR_TYPE
        )
