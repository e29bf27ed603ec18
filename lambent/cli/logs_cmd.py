"""``lambent logs FUNCTION [--follow]``: print a function's log group."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from lambent.observability.logs import LogStore
from lambent.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("logs", help="print a function's logs")
    p.add_argument("function", help="function name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--log-group", default=None, help="log group (default /aws/lambda/FUNCTION)")
    p.set_defaults(func=run)


def _fmt(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _style(message: str) -> str:
    text = escape(message)
    if message.startswith(("START ", "END ", "REPORT ", "INIT_REPORT ")):
        return f"[dim]{text}[/dim]"
    return text


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    store = LogStore(settings.data_dir / "logs")
    group = args.log_group or f"/aws/lambda/{args.function}"
    console = Console(highlight=False, soft_wrap=True)
    offsets: dict[str, int] = {}
    first = True
    try:
        while True:
            # One directory listing per look; offsets stay valid while old segments rotate away.
            batch = store.read_group(group, offsets)
            for ev in batch:
                console.print(f"[cyan]{_fmt(ev.timestamp_ms)}[/cyan] {_style(ev.message)}")
            if first and not batch and not store.streams(group) and not args.follow:
                console.print(f"no log streams in {group}", style="yellow")
                return 1
            first = False
            if not args.follow:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
