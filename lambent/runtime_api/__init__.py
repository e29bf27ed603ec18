"""Lambda Runtime API (2018-06-01): one endpoint per execution environment.

A pure protocol core (``protocol.py``, ``wire.py``) with a thin asyncio/httptools shell
(``connection.py``, ``server.py``). The worker layer uses only what is exported here.
"""

from lambent.runtime_api.errors import EndpointBusy, EndpointClosed, RuntimeInitError
from lambent.runtime_api.models import InitError, Invocation, InvocationResult
from lambent.runtime_api.protocol import MAX_RESPONSE_PAYLOAD_BYTES
from lambent.runtime_api.server import RuntimeApiEndpoint

__all__ = [
    "MAX_RESPONSE_PAYLOAD_BYTES",
    "EndpointBusy",
    "EndpointClosed",
    "InitError",
    "Invocation",
    "InvocationResult",
    "RuntimeApiEndpoint",
    "RuntimeInitError",
]
