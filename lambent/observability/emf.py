"""CloudWatch Embedded Metric Format: a function's log line that is an EMF document becomes custom
metrics, as CloudWatch Logs extracts them from Lambda's logs.

Specification: "Specification: Embedded metric format" (Amazon CloudWatch User Guide,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
A document is one JSON object (nothing before or after it on the line) with a metadata member::

    {"_aws": {"Timestamp": 1700000000000,
              "CloudWatchMetrics": [{"Namespace": "App",
                                     "Dimensions": [["service"]],
                                     "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
     "service": "orders", "Latency": [12, 15.5]}

- ``Timestamp`` (epoch milliseconds) is required; ``CloudWatchMetrics`` is an array of metric
  directives, each with a ``Namespace``, ``Dimensions`` (an array of dimension sets: arrays of
  names of top-level members whose values are strings; an empty set means no dimensions) and
  ``Metrics`` (at most 100 definitions: ``Name``, optional ``Unit`` and ``StorageResolution``).
- Every metric's value is the top-level member of its name: a number, or an array of at most 100
  numbers (each one a datum). Every dimension set gets every metric of its directive.

What lambent does with a line that is not a valid document: nothing (it stays a plain log line,
as on CloudWatch, which counts such lines as EMF parsing/validation errors). A directive with an
invalid part makes the whole document invalid; there are no partial extractions.

Abuse case: a function prints EMF lines to create metrics without bound or to make the server
parse huge documents. Bounded: a line over :data:`MAX_DOCUMENT_BYTES` is not parsed, a document
has at most :data:`MAX_DIRECTIVES` directives, :data:`MAX_DIMENSION_SETS` sets per directive, 30
names per set, 100 metrics per directive, 100 values per metric, :data:`MAX_DATA` data in all;
names and values are length-checked like PutMetricData's; the series a server keeps are capped by
:class:`~lambent.observability.metrics.MetricsService` (``max_series``) and the lines a function
can print by the per-invocation log cap. A refused document is counted (``EmfRecorder.invalid``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from lambent.observability.metrics.series import UNSET_ACCOUNT, Dimensions, Series
from lambent.observability.metrics.service import MetricsService
from lambent.observability.metrics.summary import Summary

log = logging.getLogger(__name__)

#: CloudWatch Logs' limit on one event (and so on one EMF document)
MAX_DOCUMENT_BYTES = 1 << 20
MAX_DIRECTIVES = 10
MAX_DIMENSION_SETS = 30
MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100
#: data (values x dimension sets) one document may record
MAX_DATA = 10_000
MAX_NAME = 255
MAX_NAMESPACE = 255
MAX_DIMENSION_VALUE = 1024
#: (series, unit) summaries an EmfRecorder remembers for the current minute
MAX_CACHED_CELLS = 4096

#: CloudWatch's units (StandardUnit in botocore's monitoring model)
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})

_MARK = '"_aws"'


class InvalidDocument(ValueError):
    """The line looked like an EMF document but is not a valid one."""


class Datum(NamedTuple):
    """One metric of one dimension set, with its values, at ``ts`` (epoch seconds). A named
    tuple: made for every metric of every document, it must be cheap to build."""

    series: Series
    values: tuple[float, ...]
    unit: str
    ts: float


def looks_like(message: str) -> bool:
    """Cheap test, before any parsing: a JSON object mentioning ``_aws``."""
    return message[:1] == "{" and _MARK in message


@lru_cache(maxsize=4096)  # a function prints the same few series again and again; bounded anyway
def _series(namespace: str, name: str, dims: Dimensions) -> Series:
    return Series(namespace, name, dims)


def _name(value: object, what: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise InvalidDocument(f"{what} must be a string of 1 to {limit} characters")
    return value


def _numbers(value: object, name: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and type(value) is not bool:  # one value: the common case
        if not math.isfinite(value):
            raise InvalidDocument(f"metric {name}: values must be finite numbers")
        return (float(value),)
    items = value if isinstance(value, list) else [value]
    if not 1 <= len(items) <= MAX_VALUES:
        raise InvalidDocument(f"metric {name}: 1 to {MAX_VALUES} values")
    out: list[float] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidDocument(f"metric {name}: values must be finite numbers")
        out.append(float(v))
    return tuple(out)


def parse(message: str) -> list[Datum]:
    """The data of one EMF document; InvalidDocument if ``message`` is not a valid one."""
    # A character is at most 4 bytes of UTF-8: shorter texts need no encoding to be measured.
    if len(message) > MAX_DOCUMENT_BYTES or (
            len(message) > MAX_DOCUMENT_BYTES // 4 and len(message.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES):
        raise InvalidDocument("document over 1 MB")
    try:
        root = json.loads(message)
    except (ValueError, RecursionError) as exc:
        raise InvalidDocument("not a JSON object") from exc
    if not isinstance(root, dict):
        raise InvalidDocument("not a JSON object")
    meta = root.get("_aws")
    if not isinstance(meta, dict):
        raise InvalidDocument("_aws must be an object")
    stamp = meta.get("Timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp) or stamp < 0:
        raise InvalidDocument("_aws.Timestamp must be epoch milliseconds")
    ts = float(stamp) / 1000.0
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or len(directives) > MAX_DIRECTIVES:
        raise InvalidDocument(f"_aws.CloudWatchMetrics must be an array of at most {MAX_DIRECTIVES} directives")
    out: list[Datum] = []
    data = 0
    for directive in directives:
        if not isinstance(directive, dict):
            raise InvalidDocument("a metric directive must be an object")
        namespace = _name(directive.get("Namespace"), "Namespace", MAX_NAMESPACE)
        if namespace.startswith("AWS/"):
            raise InvalidDocument("namespaces starting with AWS/ are reserved")
        sets = directive.get("Dimensions")
        if not isinstance(sets, list) or len(sets) > MAX_DIMENSION_SETS:
            raise InvalidDocument(f"Dimensions must be an array of at most {MAX_DIMENSION_SETS} dimension sets")
        dim_sets = []
        for names in sets or [[]]:
            if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
                raise InvalidDocument(f"a dimension set is an array of at most {MAX_DIMENSIONS} names")
            pairs = []
            for n in names:
                key = _name(n, "a dimension name")
                value = root.get(key)
                if not isinstance(value, str) or not 1 <= len(value) <= MAX_DIMENSION_VALUE:
                    raise InvalidDocument(f"dimension {key}: the member must be a string of 1 to 1024 characters")
                pairs.append((key, value))
            dim_sets.append(tuple(sorted(pairs)))  # what dimensions() makes of validated strings
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
            raise InvalidDocument(f"Metrics must be an array of at most {MAX_METRICS} definitions")
        for definition in metrics:
            if not isinstance(definition, dict):
                raise InvalidDocument("a metric definition must be an object")
            name = _name(definition.get("Name"), "a metric Name")
            unit = definition.get("Unit", "None")
            if unit not in UNITS:
                raise InvalidDocument(f"metric {name}: unknown Unit")
            resolution = definition.get("StorageResolution", 60)
            if resolution not in (1, 60) or isinstance(resolution, bool):
                raise InvalidDocument(f"metric {name}: StorageResolution must be 1 or 60")
            if name not in root:
                raise InvalidDocument(f"metric {name}: no member of that name")
            values = _numbers(root[name], name)
            data += len(values) * len(dim_sets)
            if data > MAX_DATA:  # refused before more is built
                raise InvalidDocument(f"over {MAX_DATA} data in one document")
            for dims in dim_sets:
                out.append(Datum(_series(namespace, name, dims), values, str(unit), ts))
    return out


class EmfRecorder:
    """Turns EMF lines of function logs into custom metrics. Scope: one per server, on the event
    loop, beside its :class:`MetricsService`; :meth:`line` is the log store's line hook."""

    def __init__(self, metrics: MetricsService) -> None:
        self.metrics = metrics
        #: documents refused as invalid, and data the metrics service refused (range, series cap)
        self.invalid = 0
        self.refused = 0
        self.recorded = 0
        #: (series, unit) -> (minute, service epoch, its summary; None: the service refused it)
        self._cells: dict[tuple[Series, str], tuple[int, int, Summary | None]] = {}

    def line(self, group: str, message: str, timestamp_ms: int) -> None:
        """One function log line (any line: the cheap test comes first). Never raises. ``group``
        is the stored group name, ``ACCOUNT:/aws/lambda/NAME`` (lambent.observability.logs.account_group):
        the metrics go to that account, the function's, as CloudWatch puts EMF metrics in the log
        group's account; a group without an account is the server's."""
        if not looks_like(message):
            return
        try:
            data = parse(message)
        except InvalidDocument as exc:
            self.invalid += 1
            log.debug("EMF line in %s not extracted: %s", group, exc)
            return
        metrics = self.metrics
        if not metrics.has_room(len(data)):
            self.refused += sum(len(d.values) for d in data)
            return
        cells = self._cells
        epoch = metrics.epoch
        account = _account_of(group)
        for d in data:
            series = d.series.in_account(account)
            # One lookup per series, unit and minute (while the service's epoch stays): a function
            # printing the same metrics every invocation adds to the same summary.
            key = (series, d.unit)
            minute = int(d.ts // 60)
            cached = cells.get(key)
            if cached is None or cached[0] != minute or cached[1] != epoch:
                if len(cells) >= MAX_CACHED_CELLS:
                    cells.clear()
                found = metrics.cells((series,), d.unit, d.ts)  # counts a refusal once
                cached = cells[key] = (minute, epoch, found[0] if found else None)
                if not found:
                    metrics.refused -= 1
            summary = cached[2]
            if summary is None:  # too old, too far ahead, or a new series past the cap
                self.refused += len(d.values)
                metrics.refused += len(d.values)
                continue
            for value in d.values:
                summary.add(value)
            self.recorded += len(d.values)


def _account_of(group: str) -> str:
    """The account part of a stored group name (``ACCOUNT:GROUP``); UNSET_ACCOUNT (the server's)
    for a name without one (``:`` is in no CloudWatch group name)."""
    account, sep, _ = group.partition(":")
    return account if sep and len(account) == 12 and account.isdigit() else UNSET_ACCOUNT


#: (log group, message, timestamp ms): what a log store hands each function line to
LineHook = Callable[[str, str, int], None]
