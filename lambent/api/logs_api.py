"""CloudWatch Logs API (2014-03-28, json 1.1: ``X-Amz-Target: Logs_20140328.<Op>``) over lambent's
log store (:mod:`lambent.observability.logs`): function logs (``/aws/lambda/NAME``, one stream per
execution environment) and whatever clients create and put.

Behaviour follows the CloudWatch Logs API reference
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/):

- GetLogEvents: without a token, the newest ``limit`` events (or the oldest with
  ``startFromHead``); ``nextForwardToken`` / ``nextBackwardToken`` name stream offsets
  (``f/<56 digits>/s``, ``b/...``) and, at the end of the stream, come back equal to the token
  sent ("If you have reached the end of the stream, it returns the same token you passed in").
  A token is checked to name an event boundary of that stream before it is used.
- FilterLogEvents: events of every selected stream merged by timestamp; ``nextToken`` carries each
  stream's position, so pages never repeat or skip events. A page reads at most
  :data:`lambent.observability.logs.FILTER_SCAN_BUDGET` events and may come back short or empty
  with a ``nextToken`` (as CloudWatch's does); it holds at most 10,000 events and about 1 MB
  (botocore's model: "Each page returned can contain up to 1 MB of log events or up to 10,000
  log events").
- PutLogEvents: the sequence token is ignored ("The sequence token is now ignored in PutLogEvents
  actions. PutLogEvents actions are always accepted ... even if the sequence token is not
  valid."); events must be in chronological order, a batch spans at most 24 hours, events more
  than 2 hours ahead or older than 14 days / the retention are rejected and reported in
  ``rejectedLogEventsInfo``.

Each account has its own log groups (its functions' ``/aws/lambda/NAME`` among them): a caller
sees, names and writes only its account's (stored as ``ACCOUNT:GROUP``:
:func:`lambent.observability.logs.account_group`); a log group ARN of another account names none.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import zlib
from typing import Any

from lambent.api.dispatch import Call
from lambent.api.services import LOGS
from lambent.errors import EntityAlreadyExists, InvalidParameterValue, ResourceNotFound
from lambent.observability.filter_pattern import FilterPatternError, compile_pattern
from lambent.observability.logs import LogNameError, LogStore, StreamInfo, account_group, filter_events
from lambent.observability.retention import check_days


_NO_GROUP = "The specified log group does not exist."
_NO_STREAM = "The specified log stream does not exist."
_BAD_TOKEN = "The specified nextToken is invalid."
_PAGE = 50
_EVENTS = 10_000
_PAGE_BYTES = 1 << 20
_PAGE_SECONDS = 0.15
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


# -- helpers ---------------------------------------------------------------------------------------

def _store(call: Call) -> LogStore:
    return call.platform.logs


def _own(call: Call, group: str) -> str:
    """The stored name of the caller's account's log group ``group``."""
    try:
        return account_group(call.principal.account_id, group)
    except LogNameError as exc:
        raise InvalidParameterValue(str(exc)) from None


def _named(call: Call) -> str:
    """The stored name of the group ``logGroupName`` names (the caller's account's)."""
    return _own(call, str(call.params["logGroupName"]))


def _arn(call: Call, group: str) -> str:
    """The ARN of stored group ``group`` (one of the caller's account's)."""
    s = call.platform.settings
    prefix = f"{call.principal.account_id}:"  # account_group's form
    return f"arn:aws:logs:{s.region}:{call.principal.account_id}:log-group:{group.removeprefix(prefix)}"


def _group(call: Call) -> str:
    """The stored name of logGroupName, or of the name in logGroupIdentifier (a name, or a log
    group ARN of the caller's account and this region: another's names no group here)."""
    return _own(call, _group_name(call))


def _group_name(call: Call) -> str:
    params = call.params
    name = params.get("logGroupName")
    ident = params.get("logGroupIdentifier")
    if name is not None and ident is not None:
        raise InvalidParameterValue("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if ident is not None:
        if ident.startswith("arn:"):
            parts = ident.split(":", 6)
            if len(parts) < 7 or parts[5] != "log-group":
                raise InvalidParameterValue(f"Invalid log group identifier {ident!r}.")
            s = call.platform.settings
            if parts[3] != s.region or parts[4] != call.principal.account_id:
                raise ResourceNotFound(_NO_GROUP)
            ident = parts[6].removesuffix(":*")
        return str(ident)
    if name is None:
        raise InvalidParameterValue("Either logGroupName or logGroupIdentifier must be given.")
    return str(name)


def _existing_group(store: LogStore, group: str) -> None:
    try:
        if not store.has_group(group):
            raise ResourceNotFound(_NO_GROUP)
    except LogNameError as exc:
        raise InvalidParameterValue(str(exc)) from None


def _existing_stream(store: LogStore, group: str, stream: str) -> None:
    _existing_group(store, group)
    try:
        if not store.has_stream(group, stream):
            raise ResourceNotFound(_NO_STREAM)
    except LogNameError as exc:
        raise InvalidParameterValue(str(exc)) from None


def _page_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def _read_page_token(token: str | None) -> Any:
    if token is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise InvalidParameterValue(_BAD_TOKEN) from None


# -- groups ----------------------------------------------------------------------------------------

@LOGS.register("CreateLogGroup", handled={"logGroupName": None, "logGroupClass": None})
async def create_log_group(call: Call) -> None:
    store = _store(call)
    group = _named(call)
    cls = call.params.get("logGroupClass", "STANDARD")
    if cls != "STANDARD":
        raise InvalidParameterValue(f"Log group class {cls} is not supported by this lambent server (STANDARD only).")
    try:
        if not store.create_group(group):
            raise EntityAlreadyExists("The specified log group already exists")
    except LogNameError as exc:
        raise InvalidParameterValue(str(exc)) from None


@LOGS.register("DeleteLogGroup")
async def delete_log_group(call: Call) -> None:
    store = _store(call)
    group = _named(call)
    _existing_group(store, group)
    # On the event loop, as DeleteFunction does: the store's writers and quota accounts live there.
    store.delete_group(group)


@LOGS.register("DescribeLogGroups", handled={"logGroupNamePrefix": None, "logGroupNamePattern": None,
                                             "limit": None, "nextToken": None})
async def describe_log_groups(call: Call) -> dict[str, Any]:
    store = _store(call)
    p = call.params
    prefix, pattern = p.get("logGroupNamePrefix"), p.get("logGroupNamePattern")
    if prefix is not None and pattern is not None:
        raise InvalidParameterValue("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    after = _read_page_token(p.get("nextToken"))
    if after is not None and not isinstance(after, str):
        raise InvalidParameterValue(_BAD_TOKEN)
    limit = p.get("limit", _PAGE)
    mine = f"{call.principal.account_id}:"  # the caller's account's groups only (account_group's form)
    names = [g for g in (s.removeprefix(mine) for s in store.groups() if s.startswith(mine))
             if (prefix is None or g.startswith(prefix))
             and (pattern is None or pattern.lower() in g.lower())
             and (after is None or g > after)]
    page = names[:limit]
    out: list[dict[str, Any]] = []
    for name in page:
        try:
            info = store.group_info(_own(call, name))
        except LogNameError:
            continue
        if info is None:
            continue
        arn = _arn(call, _own(call, name))
        entry: dict[str, Any] = {"logGroupName": name, "creationTime": info.creation_ms, "metricFilterCount": 0,
                                 "arn": f"{arn}:*", "logGroupArn": arn, "storedBytes": info.stored_bytes,
                                 "logGroupClass": "STANDARD"}
        if info.retention_days is not None:
            entry["retentionInDays"] = info.retention_days
        out.append(entry)
    answer: dict[str, Any] = {"logGroups": out}
    if len(names) > limit:
        answer["nextToken"] = _page_token(page[-1])
    return answer


@LOGS.register("PutRetentionPolicy", skip=frozenset({"retentionInDays"}))
async def put_retention_policy(call: Call) -> None:
    store = _store(call)
    group, days = _named(call), call.params["retentionInDays"]
    try:
        check_days(days)
    except ValueError as exc:
        raise InvalidParameterValue(str(exc)) from None
    _existing_group(store, group)
    store.set_retention(group, days)


@LOGS.register("DeleteRetentionPolicy")
async def delete_retention_policy(call: Call) -> None:
    store = _store(call)
    group = _named(call)
    _existing_group(store, group)
    store.set_retention(group, None)


# -- streams ---------------------------------------------------------------------------------------

@LOGS.register("CreateLogStream")
async def create_log_stream(call: Call) -> None:
    store = _store(call)
    group, stream = _named(call), call.params["logStreamName"]
    _existing_group(store, group)
    try:
        if not store.create_stream(group, stream):
            raise EntityAlreadyExists("The specified log stream already exists")
    except LogNameError as exc:
        raise InvalidParameterValue(str(exc)) from None


@LOGS.register("DeleteLogStream")
async def delete_log_stream(call: Call) -> None:
    store = _store(call)
    group, stream = _named(call), call.params["logStreamName"]
    _existing_stream(store, group, stream)
    store.delete_stream(group, stream)  # on the event loop: writers and quota accounts live there


def _stream_entry(call: Call, group: str, s: StreamInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {"logStreamName": s.name, "creationTime": s.creation_ms,
                             "arn": f"{_arn(call, group)}:log-stream:{s.name}", "storedBytes": s.stored_bytes}
    if s.first_ms is not None:
        entry["firstEventTimestamp"] = s.first_ms
    if s.last_ms is not None:
        entry["lastEventTimestamp"] = s.last_ms
        entry["lastIngestionTime"] = s.last_write_ms
    return entry


def _stream_token_ok(after: Any, order: str) -> bool:
    if not isinstance(after, list):
        return False
    if order == "LastEventTime":
        return len(after) == 2 and type(after[0]) is int and isinstance(after[1], str)
    return len(after) == 1 and isinstance(after[0], str)


@LOGS.register("DescribeLogStreams", handled={"logGroupName": None, "logGroupIdentifier": None,
                                              "logStreamNamePrefix": None, "orderBy": None, "descending": None,
                                              "nextToken": None, "limit": None})
async def describe_log_streams(call: Call) -> dict[str, Any]:
    store = _store(call)
    p = call.params
    group = _group(call)
    order = p.get("orderBy", "LogStreamName")
    prefix = p.get("logStreamNamePrefix", "")
    if order == "LastEventTime" and prefix:
        raise InvalidParameterValue("Cannot order by LastEventTime with a logStreamNamePrefix.")
    descending = bool(p.get("descending", False))
    limit = p.get("limit", _PAGE)
    _existing_group(store, group)
    after = _read_page_token(p.get("nextToken"))
    if after is not None and not _stream_token_ok(after, order):
        raise InvalidParameterValue(_BAD_TOKEN)

    def key(s: StreamInfo) -> list[Any]:
        return [s.last_ms or 0, s.name] if order == "LastEventTime" else [s.name]

    if order == "LastEventTime":
        infos = await asyncio.to_thread(store.stream_infos, group, prefix)
        infos.sort(key=key, reverse=descending)
        if after is not None:
            infos = [s for s in infos if (key(s) < after if descending else key(s) > after)]
        more = len(infos) > limit
        page = infos[:limit]
    else:
        # By name: page the names first, then read only the page's streams.
        names = sorted((n for n in store.streams(group) if n.startswith(prefix)), reverse=descending)
        if after is not None:
            names = [n for n in names if (n < after[0] if descending else n > after[0])]
        more = len(names) > limit
        page = await asyncio.to_thread(store.stream_infos, group, prefix, names[:limit])
        page.sort(key=key, reverse=descending)
    answer: dict[str, Any] = {"logStreams": [_stream_entry(call, group, s) for s in page]}
    if more and page:
        answer["nextToken"] = _page_token(key(page[-1]))
    return answer


# -- events ----------------------------------------------------------------------------------------

def _event_token(direction: str, offset: int) -> str:
    return f"{direction}/{offset:056d}/s"


def _read_event_token(store: LogStore, group: str, stream: str, token: str) -> tuple[str, int]:
    parts = token.split("/")
    if len(parts) != 3 or parts[0] not in ("f", "b") or parts[2] != "s" or not parts[1].isdigit() or len(parts[1]) > 56:
        raise InvalidParameterValue(_BAD_TOKEN)
    offset = int(parts[1])
    if not store.at_boundary(group, stream, offset):
        raise InvalidParameterValue(_BAD_TOKEN)
    return parts[0], offset


def _get_events(store: LogStore, group: str, stream: str, p: dict[str, Any]) -> dict[str, Any]:
    start, end = p.get("startTime"), p.get("endTime")
    limit = p.get("limit", _EVENTS)
    token = p.get("nextToken")
    direction, offset = _read_event_token(store, group, stream, token) if token else (
        "f" if p.get("startFromHead") else "t", 0)

    def in_range(t: int) -> bool:
        return (start is None or t >= start) and (end is None or t < end)

    page: list[Any] = []
    size = 0
    last_end = offset
    # Events outside the time range are read past for at most about _PAGE_SECONDS: the page then
    # ends (maybe empty) with a token that has moved past them.
    stop_at = time.monotonic() + _PAGE_SECONDS
    scanned = 0
    cut = False
    if direction == "f":
        for pe in store.scan(group, stream, offset):
            last_end = pe.end
            scanned += 1
            if not in_range(pe.event.timestamp_ms):
                if scanned & 1023 == 0 and time.monotonic() >= stop_at:
                    cut = True
                    break
                continue
            page.append(pe)
            size += len(pe.event.message) + 26
            if len(page) >= limit or size >= _PAGE_BYTES:
                break
    else:
        # The newest `limit` events before the offset (the stream's end without a token), read
        # backwards from there: a tail costs what it returns.
        last_end = store.stream_end(group, stream) if direction == "t" else offset
        last_start = last_end
        for pe in store.scan_back(group, stream, offset if direction == "b" else None):
            last_start = pe.start
            scanned += 1
            if not in_range(pe.event.timestamp_ms):
                if scanned & 1023 == 0 and time.monotonic() >= stop_at:
                    cut = True
                    break
                continue
            page.append(pe)
            size += len(pe.event.message) + 26
            if len(page) >= limit or size >= _PAGE_BYTES:
                break
        page.reverse()
    events = [{"timestamp": pe.event.timestamp_ms, "message": pe.event.message,
               "ingestionTime": pe.event.timestamp_ms} for pe in page]
    if page:
        forward, backward = _event_token("f", page[-1].end), _event_token("b", page[0].start)
        if cut and direction != "f":
            backward = _event_token("b", last_start)
    elif cut:
        forward = _event_token("f", offset if direction == "b" else last_end)
        backward = _event_token("b", last_start) if direction != "f" else _event_token("b", offset)
    elif token:
        # Nothing (new): the token sent comes back, and its mirror image.
        forward = token if direction == "f" else _event_token("f", offset)
        backward = token if direction == "b" else _event_token("b", offset)
    else:
        forward, backward = _event_token("f", last_end), _event_token("b", last_end)
    return {"events": events, "nextForwardToken": forward, "nextBackwardToken": backward}


@LOGS.register("GetLogEvents", handled={"logGroupName": None, "logGroupIdentifier": None, "logStreamName": None,
                                        "startTime": None, "endTime": None, "nextToken": None, "limit": None,
                                        "startFromHead": None, "unmask": None})
async def get_log_events(call: Call) -> dict[str, Any]:
    store = _store(call)
    p = call.params
    group, stream = _group(call), p["logStreamName"]
    _existing_stream(store, group, stream)
    return await asyncio.to_thread(_get_events, store, group, stream, p)


def _filter_token(token: str | None) -> dict[str, int] | None:
    if token is None:
        return None
    try:
        inflate = zlib.decompressobj()
        data = inflate.decompress(base64.urlsafe_b64decode(token.encode()), 1 << 20)
        if inflate.unconsumed_tail:
            raise ValueError("token too large")
        raw = json.loads(data)
    except (ValueError, binascii.Error, zlib.error):
        raise InvalidParameterValue(_BAD_TOKEN) from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, int) and v >= -1
                                            for k, v in raw.items()):
        raise InvalidParameterValue(_BAD_TOKEN)
    return raw


@LOGS.register("FilterLogEvents", handled={"logGroupName": None, "logGroupIdentifier": None, "logStreamNames": None,
                                           "logStreamNamePrefix": None, "startTime": None, "endTime": None,
                                           "filterPattern": None, "nextToken": None, "limit": None,
                                           "interleaved": None, "unmask": None})
async def filter_log_events(call: Call) -> dict[str, Any]:
    store = _store(call)
    p = call.params
    group = _group(call)
    names, prefix = p.get("logStreamNames"), p.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise InvalidParameterValue("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    try:
        matcher = compile_pattern(p.get("filterPattern"))
    except FilterPatternError as exc:
        raise InvalidParameterValue(str(exc)) from None
    _existing_group(store, group)
    positions = _filter_token(p.get("nextToken"))
    start, end = p.get("startTime"), p.get("endTime")
    if start is not None and end is not None and end < start:
        raise InvalidParameterValue("endTime must be greater than or equal to startTime.")
    result = await asyncio.to_thread(
        filter_events, store, group, matcher, streams=names, prefix=prefix or "", start_ms=start, end_ms=end,
        limit=p.get("limit", _EVENTS), positions=positions, max_bytes=_PAGE_BYTES,
    )
    events = [{"logStreamName": pe.event.stream, "timestamp": pe.event.timestamp_ms, "message": pe.event.message,
               "ingestionTime": pe.event.timestamp_ms,
               "eventId": f"{zlib.crc32(pe.event.stream.encode()):010d}{pe.start:020d}"} for pe in result.events]
    answer: dict[str, Any] = {"events": events}
    if result.positions is not None:
        answer["nextToken"] = base64.urlsafe_b64encode(
            zlib.compress(json.dumps(result.positions, separators=(",", ":")).encode())).decode()
    return answer


@LOGS.register("PutLogEvents", handled={"logGroupName": None, "logStreamName": None, "logEvents": None,
                                        "sequenceToken": None})
async def put_log_events(call: Call) -> dict[str, Any]:
    store = _store(call)
    p = call.params
    group, stream = _named(call), p["logStreamName"]
    _existing_stream(store, group, stream)
    events: list[dict[str, Any]] = p["logEvents"]
    stamps = [int(e["timestamp"]) for e in events]
    if any(b < a for a, b in zip(stamps, stamps[1:], strict=False)):
        raise InvalidParameterValue("Log events in a single PutLogEvents request must be in chronological order.")
    if stamps[-1] - stamps[0] > _DAY_MS:
        raise InvalidParameterValue("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    total = sum(len(e["message"].encode()) + 26 for e in events)
    if total > 1_048_576:
        raise InvalidParameterValue("Upload too large: the batch exceeds 1,048,576 bytes (messages + 26 bytes each).")
    now = int(time.time() * 1000)
    info = store.group_info(group)
    retention = info.retention_days if info is not None else None
    too_old_before = now - 14 * _DAY_MS
    expired_before = now - retention * _DAY_MS if retention is not None else None
    too_new_after = now + 2 * _HOUR_MS
    rejected: dict[str, int] = {}
    accepted: list[tuple[int, str]] = []
    for i, (e, t) in enumerate(zip(events, stamps, strict=True)):
        if t > too_new_after:
            rejected.setdefault("tooNewLogEventStartIndex", i)
            continue
        if expired_before is not None and t < expired_before:
            rejected["expiredLogEventEndIndex"] = i
            continue
        if t < too_old_before:
            rejected["tooOldLogEventEndIndex"] = i
            continue
        accepted.append((t, e["message"]))
    store.put_events(group, stream, accepted)
    answer: dict[str, Any] = {"nextSequenceToken": f"{now:056d}"}
    if rejected:
        answer["rejectedLogEventsInfo"] = rejected
    return answer
