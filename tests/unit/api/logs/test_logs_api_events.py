"""GetLogEvents, FilterLogEvents and PutLogEvents through boto3's logs client and the layer:
tokens (forward/backward, repeated at the end as AWS does), paging without repeats or gaps,
filter patterns, PutLogEvents' rules."""

from __future__ import annotations

import base64
import time
import zlib
from typing import Any

import pytest

from lambent.observability.logs import account_group
from botocore.exceptions import ClientError
from logs_wire import Server

G, S = "/app/g", "s1"


def _now() -> int:
    return int(time.time() * 1000)


def _put(logs: Any, messages: list[str], stream: str = S, t0: int | None = None, step: int = 1) -> int:
    t0 = _now() - 60_000 if t0 is None else t0
    logs.put_log_events(logGroupName=G, logStreamName=stream,
                        logEvents=[{"timestamp": t0 + i * step, "message": m} for i, m in enumerate(messages)])
    return t0


@pytest.fixture
def group(logs: Any) -> Any:
    logs.create_log_group(logGroupName=G)
    logs.create_log_stream(logGroupName=G, logStreamName=S)
    return logs


def _msgs(answer: dict[str, Any]) -> list[str]:
    return [e["message"] for e in answer["events"]]


def test_get_log_events_newest_first_page_then_backward_and_forward(group: Any) -> None:
    logs = group
    _put(logs, [f"m{i}" for i in range(10)])
    tail = logs.get_log_events(logGroupName=G, logStreamName=S, limit=3)
    assert _msgs(tail) == ["m7", "m8", "m9"]
    back = logs.get_log_events(logGroupName=G, logStreamName=S, limit=3, nextToken=tail["nextBackwardToken"])
    assert _msgs(back) == ["m4", "m5", "m6"]
    head = logs.get_log_events(logGroupName=G, logStreamName=S, limit=4, startFromHead=True)
    assert _msgs(head) == ["m0", "m1", "m2", "m3"]
    nxt = logs.get_log_events(logGroupName=G, logStreamName=S, limit=4, nextToken=head["nextForwardToken"])
    assert _msgs(nxt) == ["m4", "m5", "m6", "m7"]
    assert tail["nextForwardToken"].startswith("f/") and tail["nextBackwardToken"].startswith("b/")


def test_forward_token_repeats_when_nothing_is_new_and_then_moves_on(group: Any) -> None:
    logs = group
    _put(logs, ["a", "b"])
    first = logs.get_log_events(logGroupName=G, logStreamName=S, startFromHead=True)
    assert _msgs(first) == ["a", "b"]
    again = logs.get_log_events(logGroupName=G, logStreamName=S, nextToken=first["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == first["nextForwardToken"]
    _put(logs, ["c"])
    later = logs.get_log_events(logGroupName=G, logStreamName=S, nextToken=again["nextForwardToken"])
    assert _msgs(later) == ["c"] and later["nextForwardToken"] != first["nextForwardToken"]
    # At the beginning, the backward token repeats too.
    oldest = logs.get_log_events(logGroupName=G, logStreamName=S, startFromHead=True, limit=1)
    before = logs.get_log_events(logGroupName=G, logStreamName=S, nextToken=oldest["nextBackwardToken"])
    assert before["events"] == [] and before["nextBackwardToken"] == oldest["nextBackwardToken"]


def test_time_range_start_inclusive_end_exclusive(group: Any) -> None:
    logs = group
    t0 = _put(logs, ["a", "b", "c", "d"], step=1000)
    got = logs.get_log_events(logGroupName=G, logStreamName=S, startTime=t0 + 1000, endTime=t0 + 3000, startFromHead=True)
    assert _msgs(got) == ["b", "c"]


def test_a_forged_token_is_refused(group: Any) -> None:
    logs = group
    _put(logs, ["hello world"])
    for token in ("f/00000000000000000000000000000000000000000000000000000003/s", "x/1/s", "garbage"):
        with pytest.raises(ClientError) as exc:
            logs.get_log_events(logGroupName=G, logStreamName=S, nextToken=token)
        assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_get_log_events_of_a_missing_stream(group: Any) -> None:
    with pytest.raises(ClientError) as exc:
        group.get_log_events(logGroupName=G, logStreamName="nope")
    err = exc.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("ResourceNotFoundException", "The specified log stream does not exist.")


def test_put_log_events_ignores_sequence_tokens_and_checks_order(group: Any) -> None:
    logs = group
    now = _now()
    out = logs.put_log_events(logGroupName=G, logStreamName=S, sequenceToken="whatever",
                              logEvents=[{"timestamp": now, "message": "x"}])
    assert "nextSequenceToken" in out and "rejectedLogEventsInfo" not in out
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=G, logStreamName=S,
                            logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=G, logStreamName="missing", logEvents=[{"timestamp": now, "message": "x"}])
    assert exc.value.response["Error"]["Message"] == "The specified log stream does not exist."


def test_put_log_events_rejects_too_old_too_new_and_expired(group: Any) -> None:
    logs = group
    now = _now()
    day, hour = 86_400_000, 3_600_000
    old = now - 14 * day - hour
    out = logs.put_log_events(logGroupName=G, logStreamName=S, logEvents=[
        {"timestamp": old, "message": "old"}, {"timestamp": old + 2 * hour, "message": "kept"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    out = logs.put_log_events(logGroupName=G, logStreamName=S, logEvents=[
        {"timestamp": now, "message": "now"}, {"timestamp": now + 3 * hour, "message": "future"}])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    logs.put_retention_policy(logGroupName=G, retentionInDays=1)
    out = logs.put_log_events(logGroupName=G, logStreamName=S, logEvents=[
        {"timestamp": now - day - hour, "message": "expired"}, {"timestamp": now - hour, "message": "fresh"}])
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    got = logs.get_log_events(logGroupName=G, logStreamName=S, startFromHead=True)
    assert _msgs(got) == ["kept", "now", "fresh"]
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=G, logStreamName=S, logEvents=[
            {"timestamp": now - 2 * day, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_put_log_events_shares_the_environments_writer(server: Server, group: Any) -> None:
    env = server.logs.writer(account_group("000000000000", G), "env")
    env.write("from the function", _now() - 10)
    env.flush()
    group.put_log_events(logGroupName=G, logStreamName="env", logEvents=[{"timestamp": _now(), "message": "from a tool"}])
    env.write("function again", _now())
    env.close()
    got = group.get_log_events(logGroupName=G, logStreamName="env", startFromHead=True)
    assert _msgs(got) == ["from the function", "from a tool", "function again"]


def test_filter_log_events_merges_streams_by_time_with_patterns(group: Any) -> None:
    logs = group
    logs.create_log_stream(logGroupName=G, logStreamName="s2")
    t0 = _now() - 60_000
    _put(logs, ["ERROR one", "INFO two", '{"level": "ERROR", "latency": 150}'], stream=S, t0=t0, step=10)
    _put(logs, ["ERROR three", '{"level": "INFO", "latency": 50}'], stream="s2", t0=t0 + 5, step=10)
    every = logs.filter_log_events(logGroupName=G)
    assert _msgs(every) == ["ERROR one", "ERROR three", "INFO two", '{"level": "INFO", "latency": 50}',
                            '{"level": "ERROR", "latency": 150}']
    assert [e["logStreamName"] for e in every["events"]] == [S, "s2", S, "s2", S]
    assert len({e["eventId"] for e in every["events"]}) == 5
    # A term is a substring of the whole message, JSON or not.
    assert _msgs(logs.filter_log_events(logGroupName=G, filterPattern="ERROR")) == [
        "ERROR one", "ERROR three", '{"level": "ERROR", "latency": 150}']
    assert _msgs(logs.filter_log_events(logGroupName=G, filterPattern='{ $.level = "ERROR" }')) == [
        '{"level": "ERROR", "latency": 150}']
    assert _msgs(logs.filter_log_events(logGroupName=G, filterPattern="{ $.latency > 100 }")) == [
        '{"level": "ERROR", "latency": 150}']
    assert _msgs(logs.filter_log_events(logGroupName=G, filterPattern="ERROR", logStreamNames=["s2"])) == ["ERROR three"]
    assert _msgs(logs.filter_log_events(logGroupName=G, startTime=t0 + 5, endTime=t0 + 15)) == ["ERROR three", "INFO two"]
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=G, filterPattern="{ $.a = ")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_filter_log_events_pages_never_repeat_or_skip(group: Any) -> None:
    logs = group
    for s in ("s2", "s3"):
        logs.create_log_stream(logGroupName=G, logStreamName=s)
    t0 = _now() - 60_000
    expected: list[str] = []
    for k, s in enumerate((S, "s2", "s3")):
        msgs = [f"{s}-{i}" for i in range(25)]
        _put(logs, msgs, stream=s, t0=t0 + k, step=3)
        expected += msgs
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw: dict[str, Any] = {"logGroupName": G, "limit": 7}
        if token:
            kw["nextToken"] = token
        page = logs.filter_log_events(**kw)
        seen += _msgs(page)
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted(expected) and len(seen) == 75 and pages == 11
    paginated = [e["message"] for p in logs.get_paginator("filter_log_events").paginate(
        logGroupName=G, PaginationConfig={"PageSize": 10}) for e in p["events"]]
    assert paginated == seen


def test_filter_log_events_forged_tokens(group: Any) -> None:
    logs = group
    bomb = base64.urlsafe_b64encode(zlib.compress(b"[" * (8 << 20))).decode()
    for token in ("!!!", base64.urlsafe_b64encode(zlib.compress(b'{"s1": "x"}')).decode(), bomb):
        with pytest.raises(ClientError) as exc:
            logs.filter_log_events(logGroupName=G, nextToken=token)
        assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_page_reading_past_many_events_outside_the_range_ends_with_a_moved_token(
        group: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import lambent.api.logs_api as api

    monkeypatch.setattr(api, "_PAGE_SECONDS", 0.0)  # every 1,024 events read: the page is over
    logs = group
    t0 = _now() - 60_000
    for k in range(3):
        _put(logs, [f"old{k}-{i}" for i in range(1000)], t0=t0 + k * 1000)
    _put(logs, ["new"], t0=t0 + 10_000)
    tokens: list[str] = []
    got: list[str] = []
    kw: dict[str, Any] = {"logGroupName": G, "logStreamName": S, "startFromHead": True, "startTime": t0 + 10_000}
    for _ in range(10):
        page = logs.get_log_events(**kw)
        got += _msgs(page)
        tokens.append(page["nextForwardToken"])
        if len(tokens) > 1 and tokens[-1] == tokens[-2]:
            break
        kw["nextToken"] = page["nextForwardToken"]
    assert got == ["new"]
    assert len(set(tokens)) == len(tokens) - 1  # every page moved on, until the end repeats
    tail = logs.get_log_events(logGroupName=G, logStreamName=S, endTime=t0 + 1)  # the oldest one only
    back: list[str] = _msgs(tail)
    token = tail["nextBackwardToken"]
    for _ in range(10):
        if back:
            break
        page = logs.get_log_events(logGroupName=G, logStreamName=S, endTime=t0 + 1, nextToken=token)
        back = _msgs(page)
        assert page["nextBackwardToken"] != token
        token = page["nextBackwardToken"]
    assert back == ["old0-0"]
