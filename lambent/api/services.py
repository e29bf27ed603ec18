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
#: CloudWatch Logs (json 1.1, X-Amz-Target): lambent/api/logs_api.py.
LOGS = Operations("logs")
#: AWS X-Ray (rest-json; SigV4 scope and model both ``xray``): lambent/api/xray_api.py.
XRAY = Operations("xray")

#: The modules whose ``register`` decorators fill the registries above.
_API_MODULES = (
    "lambent.api.lambda_api",
    "lambent.api.lambda_versions",
    "lambent.api.lambda_async",
    "lambent.api.scheduler_api",
    "lambent.api.lambent_api",
    "lambent.api.lambent_queue_api",
    "lambent.api.usage_api",
    "lambent.api.lambda_policy",
    "lambent.api.iam_api",
    "lambent.api.sts_api",
    "lambent.api.cloudwatch_api",
    "lambent.api.ec2_api",
    "lambent.api.logs_api",
    "lambent.api.xray_api",
)


def _protocol(ops: Operations) -> ProtocolHandler | None:
    try:
        handler = build_handler(ops.service, skip=ops.skips())
    except (UnknownServiceError, DataNotFoundError):
        return None  # no model: the service answers every request UnknownOperationException
    handler.precompile(sorted(ops.implemented))
    return handler


@cache
def table() -> dict[str, Service]:
    """service name (SigV4 credential scope) -> :class:`Service`, built once per process."""
    for module in _API_MODULES:
        importlib.import_module(module)
    from lambent.api.cloudwatch_api import CLOUDWATCH, SIGV4_SERVICE
    from lambent.api.ec2_api import EC2

    served = {ops.service: Service(ops.service, ops, _protocol(ops)) for ops in (LAMBDA, SCHEDULER, LAMBENT, IAM, STS, EC2, LOGS, XRAY)}
    # Routed by the credential scope's service name, which is not always the model's:
    # CloudWatch's model is ``cloudwatch``, its signing name ``monitoring``.
    served[SIGV4_SERVICE] = Service(SIGV4_SERVICE, CLOUDWATCH, _protocol(CLOUDWATCH))
    return served
