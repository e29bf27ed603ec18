"""``lambent queue``: what the asynchronous invocation queue holds and what could not be
delivered; ``lambent queue redrive``: deliver undeliverable records again.

Both go through lambent's API (ListAsyncEventQueues, ListUndeliverableRecords,
RedriveUndeliverableRecords; lambent/api/lambent_queue_api.py), signed like the aws CLI
(``--profile``, the environment's keys, ``--endpoint-url``: lambent/cli/_client.py), so they work
against a remote server and only as far as the caller's policy allows.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from lambent.cli._client import TargetError, add_arguments, client, resolve_args

_CONFIG = Config(retries={"max_attempts": 2}, read_timeout=300)


def register(sub: Any) -> None:
    p = sub.add_parser("queue", help="show queued asynchronous events and undeliverable records; redrive them")
    add_arguments(p)
    p.add_argument("--function", default=None, help="only this function's")
    p.set_defaults(func=run)
    inner = p.add_subparsers(dest="queue_command")
    r = inner.add_parser("redrive", help="deliver undeliverable destination/DLQ records again")
    add_arguments(r)
    r.add_argument("--function", default=None, help="only this function's records (with --all)")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every undeliverable record (of --function)")
    which.add_argument("record_ids", nargs="*", type=int, default=[], metavar="RECORD_ID")
    r.set_defaults(func=run_redrive)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _api(args: argparse.Namespace) -> Any:
    return client(resolve_args(args), "lambent", _CONFIG)


def _filter(args: argparse.Namespace) -> dict[str, str]:
    return {"FunctionName": args.function} if args.function else {}


def _fail(exc: Exception) -> int:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        print(f"lambent queue: {err.get('Code', 'Error')}: {err.get('Message', '')}", file=sys.stderr)
    else:
        print(f"lambent queue: {exc}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    try:
        api = _api(args)
        queues = api.list_async_event_queues(**_filter(args))["Queues"]
        dead = api.list_undeliverable_records(MaxItems=50, **_filter(args))
    except (TargetError, BotoCoreError, ClientError) as exc:
        return _fail(exc)
    now = datetime.now(timezone.utc)
    console = Console(highlight=False)
    if not queues:
        console.print("no queued asynchronous events")
    else:
        table = Table(title="Queued asynchronous events")
        for col, justify in (("function", "left"), ("qualifier", "left"), ("queued", "right"), ("due now", "right"),
                             ("retrying", "right"), ("oldest", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for q in queues:
            table.add_row(q["FunctionName"], q["Qualifier"], str(q["Events"]), str(q["DueEvents"]),
                          str(q["RetriedEvents"]), _age((now - q["OldestEventTime"]).total_seconds()))
        console.print(table)
    records = dead["Records"]
    if dead["Total"]:
        table = Table(title=f"Undeliverable destination/DLQ records: {dead['Total']} (latest {len(records)})")
        for col in ("id", "failed at", "function", "request id", "target", "error"):
            table.add_column(col)
        for d in records:
            table.add_row(str(d["RecordId"]), d["FailedTime"].strftime("%Y-%m-%dT%H:%M:%SZ"), d.get("FunctionName", ""),
                          d["RequestId"], d["Target"], d["ErrorMessage"][:120])
        console.print(table)
        console.print("deliver them again with: lambent queue redrive --all (or RECORD_ID ...)")
    else:
        console.print("no undeliverable records")
    return 0


def run_redrive(args: argparse.Namespace) -> int:
    try:
        api = _api(args)
        ids: list[int] = list(args.record_ids)
        if args.all:
            marker: str | None = None
            for _ in range(10_000):  # bounded: 100 records a page
                page = api.list_undeliverable_records(MaxItems=100, **({"Marker": marker} if marker else {}),
                                                      **_filter(args))
                ids.extend(r["RecordId"] for r in page["Records"])
                marker = page.get("NextMarker")
                if not marker:
                    break
        redriven: list[int] = []
        failed: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):
            out = api.redrive_undeliverable_records(RecordIds=ids[start:start + 100])
            redriven += out["Redriven"]
            failed += out["Failed"]
    except (TargetError, BotoCoreError, ClientError) as exc:
        return _fail(exc)
    console = Console(highlight=False)
    console.print(f"redriven: {len(redriven)}" + (f" ({', '.join(map(str, redriven))})" if redriven else ""))
    for f in failed:
        console.print(f"not delivered: {f['RecordId']}: {f['ErrorMessage']}")
    return 0 if not failed else 1
