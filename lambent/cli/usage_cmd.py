"""``lambent usage [--by function|version|day] [--since] [--until] [--format table|json|csv]``:
requests, GB-seconds and cost from the server's usage records (docs/billing.md)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lambent.billing.aggregate import UsageRow, parse_time, totals, usage_report
from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.cli._args import account_id
from lambent.errors import LambentError
from lambent.settings import Settings
from lambent.store.usage import AccountScope

USAGE_DB = "usage.db"


def register(sub: Any) -> None:
    p = sub.add_parser("usage", help="requests, GB-seconds and cost per function, version or day")
    p.add_argument("--by", choices=("function", "version", "day"), default="function")
    p.add_argument("--since", default=None, help="start: 30m, 2h, 7d (ago), epoch seconds or ISO 8601 (UTC)")
    p.add_argument("--until", default=None, help="end (exclusive), same forms as --since")
    p.add_argument("--function", default=None, help="only this function")
    p.add_argument("--account", default=None, type=account_id, help="the account whose usage is shown (default: the server's)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--prices", type=Path, default=None,
                   help="JSON price table (default: AWS us-east-1 on-demand prices, docs/billing.md)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    err = Console(stderr=True, highlight=False)
    if not settings.data_dir.is_dir():
        err.print(f"no lambent data directory at {settings.data_dir} (give --data-dir or LAMBENT_DATA_DIR)")
        return 2
    try:
        prices = PriceTable.from_file(args.prices) if args.prices is not None else DEFAULT_PRICES
        now = time.time()
        since = parse_time(args.since, now) if args.since is not None else None
        until = parse_time(args.until, now) if args.until is not None else None
        scope = AccountScope(account=args.account or settings.account_id, unowned=settings.account_id)
        rows = usage_report(settings.data_dir / USAGE_DB, args.by, since, until, prices, args.function, scope)
    except LambentError as exc:
        err.print(f"lambent usage: {exc.message}")
        return 2
    if args.format == "json":
        sys.stdout.write(json.dumps([r.as_json(prices.currency) for r in rows], indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(rows, prices.currency))
    else:
        print_table(rows, args.by, prices.currency)
    return 0


_CSV_FIELDS = ("function", "version", "day", "requests", "billed_duration_ms", "gb_seconds",
               "ephemeral_gb_seconds", "cost", "currency")


def to_csv(rows: list[UsageRow], currency: str) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _csv_safe(v) for k, v in r.as_json(currency).items()})
    return buf.getvalue()


def _csv_safe(value: object) -> object:
    """Function names cannot start with a formula character, but a spreadsheet must never run
    one: neutralise ``=+-@`` at the start of a text cell."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def print_table(rows: list[UsageRow], by: str, currency: str) -> None:
    console = Console(highlight=False)
    if not rows:
        console.print("no usage recorded in this period")
        return
    table = Table(title=f"Usage by {by} ({currency})")
    table.add_column("function")
    if by == "version":
        table.add_column("version")
    if by == "day":
        table.add_column("day (UTC)")
    for col in ("requests", "billed ms", "GB-s", "cost"):
        table.add_column(col, justify="right")
    for r in [*rows, totals(rows)]:
        key = [r.function if r.function != "*" else "total"]
        if by == "version":
            key.append(r.version or "")
        if by == "day":
            key.append(r.day or "")
        table.add_row(*key, f"{r.requests:,}", f"{r.billed_duration_ms:,}", f"{float(r.gb_seconds):.6f}",
                      f"{float(r.cost):.6f}", end_section=r.function != "*" and r is rows[-1])
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """``python -m lambent.cli.usage_cmd``: the command on its own."""
    parser = argparse.ArgumentParser(prog="lambent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["usage", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
