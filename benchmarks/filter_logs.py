"""FilterLogEvents' first page over 1,000,000 log events of one group, through the real server's
API with boto3, against a raw read of the same bytes.

The events are generated directly into the server's log store (``lambent.observability.logs``'s
writer, the format an execution environment writes: segments of at most 8 MB, one stream per
environment), spread over one hour and ``--streams`` streams the way Lambda's invocation lines
are (START, an application line, END, REPORT; one ERROR line in 1000, one JSON line in 10).
Then the first page of each query below is timed, ``--repeats`` times (the median counts):

- ``all``: no pattern (a full page: 10,000 events or 1 MB, as CloudWatch's);
- ``term``: ``ERROR`` (one event in 1000 matches);
- ``json``: ``{ $.level = "ERROR" }`` (JSON lines only);
- ``last 5 min``: no pattern, ``startTime`` five minutes before the newest event (the page must
  not come back empty after reading the 55 minutes before);
- ``no match``: a term no event has (every byte is searched; on a loaded machine the page may
  end at its time budget with a ``nextToken``, as CloudWatch's pages may).

A page that ends at its time budget (0.1 s of reading) is short but still a first page: the
number of events each first page carried is printed too.

Baseline: reading every byte of the group's files (``os.read`` in 1 MB blocks, page cache warm),
in the same run: what any scan of the data costs at least.

Target: each first page ≤ 200 ms (issue 12).

Usage: python benchmarks/filter_logs.py [--events 1000000] [--streams 50] [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from _common import ACCESS_KEY, REGION, SECRET_KEY, Figure, LambentServer, Report, arg_parser

MAX_MS = 200.0
GROUP = "/aws/lambda/filter-bench"


def _logs_client(url: str) -> Any:
    return boto3.client("logs", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 0}, read_timeout=120))


def generate(data_dir: Path, events: int, streams: int, end_ms: int) -> tuple[int, int]:
    """Write ``events`` events into ``GROUP``, spread over the hour before ``end_ms``; returns
    (events written, bytes). Bounded: one pass, one writer per stream, 64 KB buffers."""
    from lambent.observability.logs import LogStore, stream_name
    from lambent.observability.quota import LogQuota

    store = LogStore(data_dir / "logs", LogQuota(1 << 40, 1 << 40, 8 * 1024 * 1024))
    store.create_group(GROUP)
    writers = [store.writer(GROUP, stream_name("$LATEST", uuid.uuid4().hex, end_ms / 1000)) for _ in range(streams)]
    start_ms = end_ms - 3_600_000
    step = 3_600_000 / events
    rid = str(uuid.uuid4())
    for i in range(events):
        t = int(start_ms + i * step)
        w = writers[(i // 4) % streams]  # an invocation's four lines in one stream, as on Lambda
        kind = i % 4
        if kind == 0:
            rid = str(uuid.uuid4())
            w.write(f"START RequestId: {rid} Version: $LATEST", t)
        elif kind == 1:
            if i % 1000 == 1:
                w.write(f"[ERROR]\t2026-12-01T10:00:00.000Z\t{rid}\tERROR payment declined for order {i}", t)
            elif i % 10 == 5:
                level = "ERROR" if i % 1000 == 5 else "INFO"
                w.write(f'{{"timestamp":"2026-12-01T10:00:00Z","level":"{level}","message":"order {i}",'
                        f'"requestId":"{rid}","latency":{i % 250}}}', t)
            else:
                w.write(f"[INFO]\t2026-12-01T10:00:00.000Z\t{rid}\tprocessed order {i} in {i % 97} ms", t)
        elif kind == 2:
            w.write(f"END RequestId: {rid}", t)
        else:
            w.write(f"REPORT RequestId: {rid}\tDuration: 1.{i % 100:02d} ms\tBilled Duration: 2 ms\t"
                    "Memory Size: 128 MB\tMax Memory Used: 40 MB", t)
    for w in writers:
        w.close()
    nbytes = sum(f.stat().st_size for f in store.group_dir(GROUP).iterdir() if f.suffix == ".jsonl")
    return events, nbytes


def raw_read_s(group_dir: Path) -> float:
    t0 = time.perf_counter()
    for f in sorted(group_dir.iterdir()):
        if f.suffix != ".jsonl":
            continue
        fd = os.open(f, os.O_RDONLY)
        try:
            while os.read(fd, 1 << 20):
                pass
        finally:
            os.close(fd)
    return time.perf_counter() - t0


def first_page(logs: Any, **kwargs: Any) -> tuple[float, int, bool]:
    t0 = time.perf_counter()
    out = logs.filter_log_events(logGroupName=GROUP, **kwargs)
    return time.perf_counter() - t0, len(out["events"]), "nextToken" in out


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    events = max(1000, min(args.events, 5_000_000))  # bounded
    report = Report("filter_logs", f"FilterLogEvents first page over {events:,} events of one group")
    end_ms = int(time.time() * 1000)
    with LambentServer({"LAMBENT_STORAGE_LOG_GROUP_MAX_BYTES": str(4 << 30),
                        "LAMBENT_STORAGE_LOGS_MAX_BYTES": str(8 << 30)}) as srv:
        t0 = time.perf_counter()
        written, nbytes = generate(srv.data_dir, events, max(1, min(args.streams, 1000)), end_ms)
        gen_s = time.perf_counter() - t0
        logs = _logs_client(srv.url)
        group_dir = srv.data_dir / "logs" / GROUP.replace("/", "%2F")
        raw_read_s(group_dir)  # warm the page cache for both sides
        base = statistics.median(raw_read_s(group_dir) for _ in range(args.repeats))
        queries: dict[str, dict[str, Any]] = {
            "all": {},
            "term": {"filterPattern": "ERROR"},
            "json": {"filterPattern": '{ $.level = "ERROR" }'},
            "last 5 min": {"startTime": end_ms - 300_000},
            "no match": {"filterPattern": "nosuchtermanywhere"},
        }
        results: dict[str, dict[str, Any]] = {}
        for label, kwargs in queries.items():
            first_page(logs, **kwargs)  # one warm-up (the server's first read of these files)
            runs = [first_page(logs, **kwargs) for _ in range(args.repeats)]
            ms = statistics.median(r[0] for r in runs) * 1000
            results[label] = {"median_ms": round(ms, 2), "max_ms": round(max(r[0] for r in runs) * 1000, 2),
                              "events": runs[0][1], "next_token": runs[0][2]}
            report.add(Figure(f"{label}: first page", ms, "ms", base * 1000, "raw read of all bytes", max_value=MAX_MS))
        report.info.update({"events": written, "bytes": nbytes, "streams": args.streams, "generate_s": round(gen_s, 2),
                            "raw_read_ms": round(base * 1000, 2), "queries": results})
        # what the pages carried (a page that is fast because it is empty would not be a result)
        report.notes += [f"{label}: {r['events']} events on the first page, nextToken={r['next_token']}"
                         for label, r in results.items()]
        report.notes.append("baseline: os.read of every segment file of the group in 1 MB blocks, page cache warm")
    report.note_server(srv)
    report.emit(args.json)


if __name__ == "__main__":
    main()
