"""The services lambent serves: their handler registries and protocol handlers.

API modules register their handlers on these (``@LAMBDA.register("GetAlias")``); :func:`table`
imports every API module (so their decorators have run) and builds each service's protocol
handler once, with the ``skip`` sets the registrations declared, every plan precompiled.
"""

from __future__ import annotations

import importlib
from functools import cache
from botocore.exceptions import DataNotFoundError, UnknownServiceError

from lambent.api.dispatch import Service
from lambent.api.protocols import ProtocolHandler, build_handler
from lambent.api.protocols.registry import Operations

LAMBDA = Operations("lambda")
SCHEDULER = Operations("scheduler")
#: lambent's own API; modelled in lambent/api/models/lambent/<version>/service-2.json.
LAMBENT = Operations("lambent")
#: IAM and STS (query protocol, XML answers): lambent/api/iam_api.py, sts_api.py.
IAM = Operations("iam")
STS = Operations("sts")

#: The modules whose ``register`` decorators fill the registries above.
_API_MODULES = (
    "lambent.api.lambda_api",
    "lambent.api.lambda_versions",
    "lambent.api.lambda_async",
    "lambent.api.scheduler_api",
    "lambent.api.lambent_api",
    "lambent.api.lambda_policy",
    "lambent.api.iam_api",
    "lambent.api.sts_api",
)


def _protocol(ops: Operations) -> ProtocolHandler | None:
    try:
        handler = build_handler(ops.service, skip=ops.skips())
    except (UnknownServiceError, DataNotFoundError):
        return None  # no model: the service answers every request UnknownOperationException
    handler.precompile()
    return handler


@cache
def table() -> dict[str, Service]:
    """service name (SigV4 credential scope) -> :class:`Service`, built once per process."""
    for module in _API_MODULES:
        importlib.import_module(module)
    return {ops.service: Service(ops.service, ops, _protocol(ops)) for ops in (LAMBDA, SCHEDULER, LAMBENT, IAM, STS)}
