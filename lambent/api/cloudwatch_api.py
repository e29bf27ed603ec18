"""Amazon CloudWatch metrics API (2010-08-01) on the protocol layer: GetMetricData,
GetMetricStatistics, ListMetrics, PutMetricData.

botocore's ``cloudwatch`` model lists smithy-rpc-v2-cbor, json and query. boto3/botocore 1.44 do
not send CBOR: a ``cloudwatch`` client sends JSON 1.0 (``POST /``, ``X-Amz-Target:
GraniteServiceVersion20100801.<Op>``, ``x-amzn-query-mode: true``), which is the layer's default
protocol for this model (``build_handler("cloudwatch")``: the first one it supports). The handlers
are protocol-neutral: the same ones serve the query protocol (aws CLI v1, older SDKs) when built
with ``protocol="query"`` (tests run both). Clients sign with the scope ``monitoring`` (the
model's signing name): the server routes that scope here.

The rules are the domain's (:mod:`lambent.observability.metrics.cloudwatch`, reached as
``platform.cloudwatch``); this module registers the handlers and translates the domain's refusals
(``MetricsRequestError`` — a ValueError carrying CloudWatch's error code) into the error classes
below, which the layer renders in the query envelope (lambent/api/envelopes.py's ``cloudwatch``
table). Members lambent does not act on (cross-account observability, entity metadata, label
time zones) are refused by name.

Every operation acts in the caller's account (``call.principal.account_id``): a function's
AWS/Lambda metrics are its own account's, PutMetricData writes into the caller's account, and
the reads answer with the caller's series only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast

from lambent.api.dispatch import Call
from lambent.api.protocols.registry import Operations
from lambent.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    LambentError,
    LimitExceeded,
    MissingParameter,
    TooManyRequests,
)

#: botocore's service name (the model); requests arrive under the SigV4 scope ``monitoring``.
CLOUDWATCH = Operations("cloudwatch")
SIGV4_SERVICE = "monitoring"


class _Domain(Protocol):
    """lambent.observability.metrics.cloudwatch.CloudWatch, as the handlers use it."""

    async def get_metric_statistics(self, p: Mapping[str, Any], account: str) -> dict[str, Any]: ...

    async def get_metric_data(self, p: Mapping[str, Any], account: str) -> dict[str, Any]: ...

    async def list_metrics(self, p: Mapping[str, Any], account: str) -> dict[str, Any]: ...

    async def put_metric_data(self, p: Mapping[str, Any], account: str) -> None: ...


_BY_CODE: Mapping[str, Callable[[str], LambentError]] = {
    "InvalidParameterValue": InvalidParameterValue,
    "InvalidParameterCombination": InvalidParameterCombination,
    "MissingParameter": MissingParameter,
    "InvalidNextToken": InvalidNextToken,
    "LimitExceeded": LimitExceeded,
    "Throttling": lambda message: TooManyRequests(message, "CallerRateLimitExceeded"),
}


def cloudwatch_of(call: Call) -> _Domain:
    """The platform's CloudWatch domain (``Platform.cloudwatch``)."""
    return cast(_Domain, getattr(call.platform, "cloudwatch"))  # noqa: B009 - set by the composition root


async def _run(work: Awaitable[Any]) -> Any:
    try:
        return await work
    except ValueError as exc:
        code = getattr(exc, "code", None)
        make = _BY_CODE.get(code) if isinstance(code, str) else None
        if make is None:
            raise
        raise make(str(getattr(exc, "message", exc))) from exc


@CLOUDWATCH.register("GetMetricStatistics")
async def get_metric_statistics(call: Call) -> dict[str, Any]:
    return cast(dict[str, Any], await _run(cloudwatch_of(call).get_metric_statistics(call.params, call.principal.account_id)))


@CLOUDWATCH.register("GetMetricData", handled={
    "MetricDataQueries": None, "StartTime": None, "EndTime": None, "NextToken": None, "ScanBy": None,
    "MaxDatapoints": None,
})
async def get_metric_data(call: Call) -> dict[str, Any]:
    return cast(dict[str, Any], await _run(cloudwatch_of(call).get_metric_data(call.params, call.principal.account_id)))


@CLOUDWATCH.register("ListMetrics", handled={
    "Namespace": None, "MetricName": None, "Dimensions": None, "NextToken": None, "RecentlyActive": None,
})
async def list_metrics(call: Call) -> dict[str, Any]:
    return cast(dict[str, Any], await _run(cloudwatch_of(call).list_metrics(call.params, call.principal.account_id)))


@CLOUDWATCH.register("PutMetricData", handled={"Namespace": None, "MetricData": None})
async def put_metric_data(call: Call) -> None:
    await _run(cloudwatch_of(call).put_metric_data(call.params, call.principal.account_id))
