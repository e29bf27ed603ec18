"""Function logs: log groups and streams stored durably under ``<data dir>/logs``.

Layout: ``logs/<group, '/' as '%2F'>/<stream, '/' as '%2F'>.jsonl``, one JSON object per event
``{"t": epoch_ms, "m": message}`` in append order. One writer per stream (the execution environment
that owns it); readers (``lambent logs``, later the CloudWatch Logs API) read the files.
Stream names follow Lambda: ``YYYY/MM/DD/[<version>]<environment id>``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str
    stream: str = ""


_encode = json.JSONEncoder(ensure_ascii=False).encode


def stream_name(version: str, env_id: str, now: float | None = None) -> str:
    day = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{env_id}"


def _enc(name: str) -> str:
    return quote(name, safe="")


class LogStreamWriter:
    """Appends events to one stream. Scope: owned by one execution environment."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115 - lives with the env

    def write(self, message: str, timestamp_ms: int | None = None) -> None:
        t = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        # The same JSON as json.dumps({"t": t, "m": message}), built without a dict: this runs
        # three times per invocation at least.
        self._f.write(f'{{"t": {t}, "m": {_encode(message)}}}\n')

    def flush(self) -> None:
        if not self._f.closed:
            self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()


class LogStore:
    """All log groups of a server. Scope: one per server (or CLI reader)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def writer(self, group: str, stream: str) -> LogStreamWriter:
        return LogStreamWriter(self.root / _enc(group) / f"{_enc(stream)}.jsonl")

    def groups(self) -> list[str]:
        return sorted(unquote(p.name) for p in self.root.iterdir() if p.is_dir())

    def streams(self, group: str) -> list[str]:
        d = self.root / _enc(group)
        if not d.is_dir():
            return []
        return sorted(unquote(p.name[: -len(".jsonl")]) for p in d.glob("*.jsonl"))

    def read(self, group: str, stream: str, offset: int = 0) -> tuple[list[LogEvent], int]:
        """Events of one stream from byte ``offset``; returns them and the next offset."""
        path = self.root / _enc(group) / f"{_enc(stream)}.jsonl"
        if not path.exists():
            return [], offset
        out: list[LogEvent] = []
        with open(path, "rb") as f:
            f.seek(offset)
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # a half-written line: read it next time
                offset += len(raw)
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                out.append(LogEvent(int(obj["t"]), str(obj["m"]), stream))
        return out, offset

    def events(self, group: str) -> Iterator[LogEvent]:
        """All events of a group, merged across streams in timestamp order."""
        evs: list[LogEvent] = []
        for s in self.streams(group):
            evs.extend(self.read(group, s)[0])
        evs.sort(key=lambda e: e.timestamp_ms)
        return iter(evs)
