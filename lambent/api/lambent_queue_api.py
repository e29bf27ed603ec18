"""lambent's own API, the asynchronous queue part (SigV4 service ``lambent``, rest-json like the
deployments in :mod:`lambent.api.lambent_api`):

    GET  /lambent/2026-11-27/async-event-queues[?FunctionName=]      ListAsyncEventQueues
    GET  /lambent/2026-11-27/undeliverable-records[?FunctionName=&Marker=&MaxItems=]
                                                                    ListUndeliverableRecords
    POST /lambent/2026-11-27/undeliverable-records/redrive          RedriveUndeliverableRecords

What waits in the durable queue per function, and the destination and dead-letter records that no
attempt could deliver, which an operator (the console's button, ``lambent queue redrive``) sends
again, as they were first sent (same target, body, execution role for a Lambda destination, same
retries). A redriven record that fails again stays, with the new error: none is lost, none doubled.
Bounded: at most 100 records a page, 100 ids a redrive.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from lambent import arns
from lambent.api.dispatch import Call
from lambent.api.services import LAMBENT
from lambent.errors import InvalidParameterValue

Output = dict[str, Any]


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _name(key: str) -> str:
    """The function name shown for a stored key (``ACCOUNT:function:NAME``)."""
    parsed = arns.parse_key(key)
    return arns.key_name(parsed) if parsed is not None else key


def _function(call: Call) -> str | None:
    raw = call.params.get("FunctionName")
    return call.platform.functions.ref(raw, account_id=call.principal.account_id)[0] if raw else None


@LAMBENT.register("ListAsyncEventQueues")
async def list_async_event_queues(call: Call) -> Output:
    rows = await call.platform.queue_ops.queues(call.principal.account_id, _function(call))
    return {"Queues": [{
        "FunctionName": _name(r.function), "Qualifier": r.qualifier or "$LATEST", "Events": r.events, "DueEvents": r.due,
        "RetriedEvents": r.retried, "OldestEventTime": _when(r.oldest_enqueued_at),
    } for r in rows]}


@LAMBENT.register("ListUndeliverableRecords")
async def list_undeliverable_records(call: Call) -> Output:
    ops = call.platform.queue_ops
    marker = call.params.get("Marker")
    before: int | None = None
    if marker:
        if not marker.isdigit():
            raise InvalidParameterValue("Invalid Marker.")
        before = int(marker)
    limit = max(1, min(int(call.params.get("MaxItems") or ops.max_page), ops.max_page))
    rows, total = await ops.records(call.principal.account_id, _function(call), before, limit)
    out: Output = {"Records": [{
        "RecordId": r.record_id, "RequestId": r.request_id, "Target": r.target,
        "Kind": "DeadLetter" if r.redrive.kind == "dlq" else "InvocationRecord",
        "ErrorMessage": r.error, "FailedTime": _when(r.failed_at),
        **({"FunctionName": _name(r.function)} if r.function else {}),
    } for r in rows], "Total": total}
    if len(rows) == limit:
        out["NextMarker"] = str(rows[-1].record_id)
    return out


@LAMBENT.register("RedriveUndeliverableRecords")
async def redrive_undeliverable_records(call: Call) -> Output:
    result = await call.platform.queue_ops.redrive(call.principal.account_id, list(call.params["RecordIds"]))
    return {"Redriven": result.redriven,
            "Failed": [{"RecordId": i, "ErrorMessage": why} for i, why in result.failed]}
