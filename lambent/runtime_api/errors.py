"""Errors raised by the Runtime API endpoint to the platform side.

    Exception
     ├── RuntimeInitError   the runtime posted /runtime/init/error (carries .init_error)
     ├── EndpointClosed     the endpoint was closed (or aborted with this error)
     └── EndpointBusy       invoke() while another invocation is queued or in flight

None of these reach the runtime: what the runtime sees are the HTTP error replies built in
``protocol.py``.
"""

from __future__ import annotations

from lambent.runtime_api.models import InitError


class RuntimeInitError(Exception):
    """The runtime reported that it could not initialise (POST /runtime/init/error).

    Raised by ``wait_ready()`` when the report arrives before the first /next, and by ``invoke()``
    when it arrives while an invocation is queued or running (a runtime that initialises lazily).
    """

    def __init__(self, init_error: InitError) -> None:
        super().__init__(f"runtime init failed: {init_error.error_type or 'unknown error type'}")
        self.init_error = init_error


class EndpointClosed(Exception):
    """The endpoint no longer serves this environment (closed, or the environment died)."""


class EndpointBusy(Exception):
    """``invoke()`` was called while an earlier invocation is still queued or in flight.

    An execution environment runs one invocation at a time; the worker layer serialises them.
    """
