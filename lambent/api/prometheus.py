"""``GET /metrics``: lambent's counters in the Prometheus text exposition format (version 0.0.4).

Served without a signature (scrapers do not sign) on the server's port, and can be turned off
(settings ``metrics.prometheus_enabled``): it shows function names and versions and their
counts, nothing else — no payloads, no configuration, no account data. The figures are cumulative
since the server started (Prometheus computes rates), per function version, labelled
``account`` (the AWS account owning the function: two accounts' functions of one name are two
series), ``function`` (the bare name) and ``version``:

- ``lambent_invocations_total``, ``lambent_errors_total``, ``lambent_throttles_total`` (counters)
- ``lambent_duration_seconds`` (histogram of handler durations: ``_bucket{le=...}``, ``_sum``, ``_count``)
- ``lambent_async_events_received_total``, ``lambent_async_events_dropped_total``,
  ``lambent_dead_letter_errors_total``, ``lambent_destination_delivery_failures_total``
- ``lambent_concurrent_executions`` (gauge per function) and ``lambent_unreserved_concurrent_executions``

:func:`render` takes what :class:`lambent.observability.metrics.LambdaMetrics` exposes
(``totals()``) through the :class:`TotalsLike` protocol, so this module needs no import of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from lambent.arns import key_account, key_name, parse_key

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class TotalsLike(Protocol):
    """lambent.observability.metrics.Totals, as rendered."""

    @property
    def function(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def account(self) -> str: ...

    @property
    def invocations(self) -> int: ...

    @property
    def errors(self) -> int: ...

    @property
    def throttles(self) -> int: ...

    @property
    def duration_sum_s(self) -> float: ...

    @property
    def duration_buckets(self) -> Sequence[int]: ...

    @property
    def async_received(self) -> int: ...

    @property
    def async_dropped(self) -> int: ...

    @property
    def dead_letter_errors(self) -> int: ...

    @property
    def destination_failures(self) -> int: ...


_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("lambent_invocations_total", "invocations", "Invocations that ran the function's code (successes and function errors)."),
    ("lambent_errors_total", "errors", "Invocations that ended in a function error."),
    ("lambent_throttles_total", "throttles", "Requests refused for lack of concurrency."),
    ("lambent_async_events_received_total", "async_received", "Asynchronous events queued."),
    ("lambent_async_events_dropped_total", "async_dropped", "Asynchronous events dropped without a successful run."),
    ("lambent_dead_letter_errors_total", "dead_letter_errors", "Failed events that could not reach the dead-letter queue."),
    ("lambent_destination_delivery_failures_total", "destination_failures",
     "Results that could not reach their destination."),
)


def escape(value: str) -> str:
    """A label value as the text format requires: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _le(bound: float) -> str:
    return repr(float(bound))


def _labels(t: TotalsLike) -> str:
    own = f'account="{escape(t.account)}",' if t.account else ""
    return f'{own}function="{escape(t.function)}",version="{escape(t.version)}"'


def render(totals: Iterable[TotalsLike], buckets_s: Sequence[float], *,
           concurrency: Mapping[str, int] | None = None, unreserved: int | None = None) -> str:
    """The body of ``GET /metrics``; ``buckets_s``: the histogram's upper bounds (seconds),
    LambdaMetrics' ``DURATION_BUCKETS_S``."""
    rows = sorted(totals, key=lambda t: (t.account, t.function, t.version))
    lines: list[str] = []
    for metric, attr, help_text in _COUNTERS:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        for t in rows:
            lines.append(f"{metric}{{{_labels(t)}}} {getattr(t, attr)}")
    name = "lambent_duration_seconds"
    lines += [f"# HELP {name} Time spent in the function's handler.", f"# TYPE {name} histogram"]
    for t in rows:
        labels = _labels(t)
        for bound, count in zip(buckets_s, t.duration_buckets, strict=True):
            lines.append(f'{name}_bucket{{{labels},le="{_le(bound)}"}} {count}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {t.invocations}')
        lines.append(f"{name}_sum{{{labels}}} {_number(t.duration_sum_s)}")
        lines.append(f"{name}_count{{{labels}}} {t.invocations}")
    if concurrency is not None:
        gauge = "lambent_concurrent_executions"
        lines += [f"# HELP {gauge} Environments processing an event now.", f"# TYPE {gauge} gauge"]
        for function, count in sorted(concurrency.items()):
            key = parse_key(function)  # keyed by function key (account labelled) or by bare name
            labels = (f'account="{key_account(key)}",function="{escape(key_name(key))}"' if key is not None
                      else f'function="{escape(function)}"')
            lines.append(f"{gauge}{{{labels}}} {count}")
    if unreserved is not None:
        gauge = "lambent_unreserved_concurrent_executions"
        lines += [f"# HELP {gauge} Executions using the account's unreserved concurrency.", f"# TYPE {gauge} gauge",
                  f"{gauge} {unreserved}"]
    return "\n".join(lines) + "\n"
