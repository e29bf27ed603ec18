"""``lambent logs FUNCTION [--follow] [--since 10m] [--filter PATTERN]``: print a function's log group.

Reads the server's log store directly (:class:`lambent.observability.logs.LogStore`, read-only:
a missing data directory is reported, never created) and filters with the CloudWatch filter
patterns FilterLogEvents uses (:mod:`lambent.observability.filter_pattern`).
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from lambent.cli._args import account_id
from lambent.observability.filter_pattern import FilterPatternError, compile_pattern
from lambent.observability.logs import LogStore, account_group
from lambent.settings import Settings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def register(sub: Any) -> None:
    p = sub.add_parser("logs", help="print a function's logs")
    p.add_argument("function", help="function name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--since", default=None, help="only events newer than this: 30s, 10m, 2h, 1d, 1w")
    p.add_argument("--filter", default=None, help="a CloudWatch Logs filter pattern, e.g. ERROR or '{ $.level = \"ERROR\" }'")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--log-group", default=None, help="log group (default /aws/lambda/FUNCTION)")
    p.add_argument("--account", default=None, type=account_id, help="the function's account (default the server's, LAMBENT_ACCOUNT_ID)")
    p.set_defaults(func=run)


def parse_since(text: str) -> float:
    """Seconds in a duration such as ``10m``; ValueError otherwise."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(f"--since {text!r}: give a number and a unit (s, m, h, d, w), e.g. 10m")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _fmt(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _style(message: str) -> str:
    text = escape(message)
    if message.startswith(("START ", "END ", "REPORT ", "INIT_REPORT ", '{"time":')) and (
            message[0] != "{" or '"type":"platform.' in message):  # Text lines, or JSON platform records
        return f"[dim]{text}[/dim]"
    return text


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    settings = Settings.from_env(data_dir=args.data_dir)
    try:
        since_ms = int((time.time() - parse_since(args.since)) * 1000) if args.since else None
        matcher = compile_pattern(args.filter)
    except (ValueError, FilterPatternError) as exc:
        err.print(escape(str(exc)), style="red")
        return 2
    if not settings.data_dir.is_dir():
        # Never created here: a typo in the path must not leave an empty data directory behind.
        err.print(f"no lambent data directory at {escape(str(settings.data_dir.resolve()))}: "
                  "point at the server's with --data-dir DIR or LAMBENT_DATA_DIR=DIR", style="yellow")
        return 2
    store = LogStore(settings.data_dir / "logs", create=False)
    # the group of an account (the server's by default): log groups are per account
    shown = args.log_group or f"/aws/lambda/{args.function}"
    try:
        group = account_group(args.account or settings.account_id, shown)
        store.group_dir(group)
    except ValueError as exc:
        err.print(escape(str(exc)), style="red")
        return 2
    offsets: dict[str, int] = {}
    first = True
    try:
        while True:
            # One directory listing per look; offsets stay valid while old segments rotate away.
            batch = store.read_group(group, offsets)
            for ev in batch:
                if since_ms is not None and ev.timestamp_ms < since_ms:
                    continue
                if matcher(ev.message):
                    console.print(f"[cyan]{_fmt(ev.timestamp_ms)}[/cyan] {_style(ev.message)}")
            if first and not batch and not store.streams(group) and not args.follow:
                console.print(f"no log streams in {escape(shown)}", style="yellow")
                return 1
            first = False
            if not args.follow:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
