"""``lambent queue``: what the asynchronous invocation queue holds, and what could not be delivered."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lambent.settings import Settings
from lambent.store.async_queue import read_queue


def register(sub: Any) -> None:
    p = sub.add_parser("queue", help="show queued asynchronous events and undeliverable records")
    p.add_argument("--data-dir", type=Path, default=None)
    p.set_defaults(func=run)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    now = time.time()
    rows, dead, dead_total = read_queue(settings.data_dir / "async-queue.db", now)
    console = Console(highlight=False)
    if not rows:
        console.print("no queued asynchronous events")
    else:
        table = Table(title="Queued asynchronous events")
        for col, justify in (("function", "left"), ("qualifier", "left"), ("queued", "right"), ("due now", "right"),
                             ("retrying", "right"), ("oldest", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(r.function, r.qualifier or "$LATEST", str(r.events), str(r.due), str(r.retried),
                          _age(now - r.oldest_enqueued_at))
        console.print(table)
    if dead_total:
        table = Table(title=f"Undeliverable destination/DLQ records: {dead_total} (latest {len(dead)})")
        for col in ("failed at", "request id", "target", "error"):
            table.add_column(col)
        for d in dead:
            when = datetime.fromtimestamp(d.failed_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            table.add_row(when, d.request_id, d.target, d.error[:120])
        console.print(table)
    else:
        console.print("no undeliverable records")
    return 0
