"""EMF extraction: the documents Powertools and aws-embedded-metrics print become metrics with
their dimensions, units and every value; invalid or oversized documents stay plain logs; the
log store hands only its environments' lines to the hook."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lambent.observability import emf
from lambent.observability.logs import LogStore
from lambent.observability.metrics import MetricsService, Series, dimensions

T0 = 1_800_000_000.0
TS_MS = int(T0 * 1000)

#: what aws-lambda-powertools' Metrics prints at the end of a handler (metrics.add_metric(
#: name="SuccessfulBooking", unit=MetricUnit.Count, value=1) twice, service="booking")
POWERTOOLS = ('{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"ServerlessAirline",'
              '"Dimensions":[["service"]],"Metrics":[{"Name":"SuccessfulBooking","Unit":"Count"}]}]},'
              '"service":"booking","SuccessfulBooking":[1.0,1.0]}') % TS_MS
#: what aws-embedded-metrics (Python) prints from a Lambda function (its default dimensions,
#: the metadata members first, StorageResolution given)
EMBEDDED_METRICS = json.dumps({
    "LogGroup": "my-fn", "ServiceName": "my-fn", "ServiceType": "AWS::Lambda::Function",
    "executionEnvironment": "AWS_Lambda_python3.11", "memorySize": "128", "functionVersion": "$LATEST",
    "_aws": {"Timestamp": TS_MS, "CloudWatchMetrics": [{
        "Dimensions": [["LogGroup", "ServiceName", "ServiceType"], ["functionVersion"]],
        "Metrics": [{"Name": "ProcessingLatency", "Unit": "Milliseconds", "StorageResolution": 60}],
        "Namespace": "aws-embedded-metrics"}]},
    "ProcessingLatency": 100,
})


def service() -> MetricsService:
    return MetricsService(None, retention_s=15 * 86400.0, max_series=50, flush_interval_s=10.0, clock=lambda: T0)


def stats(svc: MetricsService, series: Series) -> dict[str, float] | None:
    minutes = asyncio.run(svc.minutes(series, T0 - 60, T0 + 60))
    if not minutes:
        return None
    s = minutes[0][2]
    return {k: s.statistic(k) for k in ("SampleCount", "Sum", "Minimum", "Maximum")}


def test_powertools_line_becomes_a_metric_with_every_value() -> None:
    svc = service()
    rec = emf.EmfRecorder(svc)
    rec.line("/aws/lambda/f", POWERTOOLS, TS_MS)
    series = Series("ServerlessAirline", "SuccessfulBooking", dimensions({"service": "booking"}))
    assert stats(svc, series) == {"SampleCount": 2, "Sum": 2.0, "Minimum": 1.0, "Maximum": 1.0}
    assert svc.unit_of(series) == "Count"
    assert (rec.recorded, rec.invalid, rec.refused) == (2, 0, 0)


def test_aws_embedded_metrics_line_gets_one_series_per_dimension_set() -> None:
    svc = service()
    emf.EmfRecorder(svc).line("/aws/lambda/my-fn", EMBEDDED_METRICS, TS_MS)
    first = Series("aws-embedded-metrics", "ProcessingLatency",
                   dimensions({"LogGroup": "my-fn", "ServiceName": "my-fn", "ServiceType": "AWS::Lambda::Function"}))
    second = Series("aws-embedded-metrics", "ProcessingLatency", dimensions({"functionVersion": "$LATEST"}))
    assert stats(svc, first) == {"SampleCount": 1, "Sum": 100.0, "Minimum": 100.0, "Maximum": 100.0}
    assert stats(svc, second) == {"SampleCount": 1, "Sum": 100.0, "Minimum": 100.0, "Maximum": 100.0}
    assert svc.unit_of(first) == "Milliseconds"


def test_an_empty_dimension_set_is_a_metric_without_dimensions() -> None:
    doc = {"_aws": {"Timestamp": TS_MS, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]],
                                                               "Metrics": [{"Name": "m"}]}]}, "m": 3}
    [datum] = emf.parse(json.dumps(doc))
    assert datum.series == Series("N", "m", ()) and datum.values == (3.0,) and datum.unit == "None"
    assert datum.ts == T0


def _doc(**over: Any) -> dict[str, Any]:
    directive: dict[str, Any] = {"Namespace": "N", "Dimensions": [["d"]], "Metrics": [{"Name": "m", "Unit": "Count"}]}
    directive.update(over.pop("directive", {}))
    doc: dict[str, Any] = {"_aws": {"Timestamp": TS_MS, "CloudWatchMetrics": [directive]}, "d": "x", "m": 1}
    doc.update(over)
    return doc


@pytest.mark.parametrize("bad", [
    "{not json",
    '{"_aws": 1}',
    json.dumps({"_aws": {"CloudWatchMetrics": []}}),                                   # no Timestamp
    json.dumps(_doc(m="1")),                                                             # value not a number
    json.dumps(_doc(m=[1] * 101)),                                                       # over 100 values
    json.dumps(_doc(m=[])),
    json.dumps(_doc(m=True)),
    json.dumps(_doc(d=7)),                                                               # dimension not a string
    json.dumps(_doc(directive={"Dimensions": [["missing"]]})),
    json.dumps(_doc(directive={"Dimensions": [[f"k{i}" for i in range(31)]]})),          # over 30 dimensions
    json.dumps(_doc(directive={"Metrics": [{"Name": f"m{i}"} for i in range(101)]})),    # over 100 metrics
    json.dumps(_doc(directive={"Metrics": [{"Name": "m", "Unit": "Parsecs"}]})),
    json.dumps(_doc(directive={"Metrics": [{"Name": "m", "StorageResolution": 5}]})),
    json.dumps(_doc(directive={"Metrics": [{"Name": "absent"}]})),
    json.dumps(_doc(directive={"Namespace": ""})),
    json.dumps(_doc(directive={"Namespace": "AWS/Lambda"})),                             # reserved
    json.dumps(_doc(directive={"Namespace": "n" * 256})),
    '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N"}]}} trailing',
])
def test_invalid_documents_stay_plain_logs(bad: str) -> None:
    svc = service()
    rec = emf.EmfRecorder(svc)
    rec.line("/aws/lambda/f", bad, TS_MS)
    assert rec.recorded == 0 and list(svc.series()) == []
    if emf.looks_like(bad):
        assert rec.invalid == 1


def test_bounds_on_size_and_total_data() -> None:
    huge = json.dumps(_doc(pad="x" * emf.MAX_DOCUMENT_BYTES))
    with pytest.raises(emf.InvalidDocument, match="1 MB"):
        emf.parse(huge)
    # 30 dimension sets x 100 metrics x 100 values would be 300,000 data: refused whole
    members = {f"m{i}": [1.0] * 100 for i in range(100)}
    doc = {"_aws": {"Timestamp": TS_MS, "CloudWatchMetrics": [{
        "Namespace": "N", "Dimensions": [["d"]] * 30, "Metrics": [{"Name": n} for n in members]}]}, "d": "x", **members}
    with pytest.raises(emf.InvalidDocument, match="10000 data"):
        emf.parse(json.dumps(doc))


def test_the_series_cap_and_the_time_range_refuse_data_counted() -> None:
    svc = service()  # max_series=50
    rec = emf.EmfRecorder(svc)
    for i in range(60):
        rec.line("/aws/lambda/f", json.dumps(_doc(d=f"v{i}")), TS_MS)
    assert len(list(svc.series())) == 50 and rec.recorded == 50 and rec.refused == 10
    old = json.dumps({**_doc(), "_aws": {**_doc()["_aws"], "Timestamp": TS_MS - 16 * 86400 * 1000}})
    rec.line("/aws/lambda/f", old, TS_MS)
    assert rec.refused == 11


def test_only_environment_writers_feed_the_hook(tmp_path: Path) -> None:
    seen: list[tuple[str, str, int]] = []
    store = LogStore(tmp_path / "logs")
    store.line_hook = lambda group, message, t: seen.append((group, message, t))
    w = store.writer("/aws/lambda/f", "2026/01/01/[$LATEST]abc")
    w.write("START RequestId: 1", 5)
    w.write(POWERTOOLS, 6)
    w.close()
    store.put_events("/aws/lambda/f", "api-stream", [(7, POWERTOOLS)])  # PutLogEvents: not extracted
    assert seen == [("/aws/lambda/f", POWERTOOLS, 6)]
    assert [e.message for e in store.events("/aws/lambda/f")].count(POWERTOOLS) == 2  # stored as logs too


def test_a_failing_hook_never_fails_the_write(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")

    def boom(group: str, message: str, t: int) -> None:
        raise RuntimeError("hook bug")

    store.line_hook = boom
    w = store.writer("/aws/lambda/f", "s")
    w.write(POWERTOOLS, 6)
    w.close()
    assert [e.message for e in store.events("/aws/lambda/f")] == [POWERTOOLS]


def test_platform_lines_are_never_handed_to_the_hook(tmp_path: Path) -> None:
    # A platform record is lambent's own line (START/REPORT, JSON in LogFormat=JSON): it is never
    # parsed as EMF, whatever it contains (issue 12: the hook costs nothing on them).
    seen: list[str] = []
    store = LogStore(tmp_path / "logs")
    store.line_hook = lambda group, message, t: seen.append(message)
    w = store.writer("/aws/lambda/f", "s")
    w.write(POWERTOOLS, 5, platform=True)
    w.write(POWERTOOLS, 6)
    w.close()
    assert seen == [POWERTOOLS]
    assert [e.message for e in store.events("/aws/lambda/f")] == [POWERTOOLS, POWERTOOLS]  # both stored


def test_repeated_documents_are_counted_exactly_across_minutes_and_flushes(tmp_path: Path) -> None:
    from lambent.store.metrics import MetricsStore

    store = MetricsStore.open_in(tmp_path)
    try:
        svc = MetricsService(store, retention_s=15 * 86400.0, max_series=50, flush_interval_s=10.0,
                             clock=lambda: T0 + 120)
        rec = emf.EmfRecorder(svc)
        series = Series("ServerlessAirline", "SuccessfulBooking", dimensions({"service": "booking"}))
        next_minute = POWERTOOLS.replace(str(TS_MS), str(TS_MS + 60_000))
        for _ in range(5):
            rec.line("/aws/lambda/f", POWERTOOLS, TS_MS)
        rec.line("/aws/lambda/f", next_minute, TS_MS)
        asyncio.run(svc.flush(everything=True))  # the cached summaries left memory
        for _ in range(3):
            rec.line("/aws/lambda/f", POWERTOOLS, TS_MS)
        minutes = asyncio.run(svc.minutes(series, T0 - 60, T0 + 180))
        assert [(m, s.count) for m, _, s in minutes] == [(int(T0 // 60), 16.0), (int(T0 // 60) + 1, 2.0)]
        assert (rec.recorded, rec.refused, rec.invalid) == (18, 0, 0)
    finally:
        store.close()


def test_a_refused_series_is_counted_per_value_every_time() -> None:
    svc = service()  # max_series=50
    rec = emf.EmfRecorder(svc)
    for i in range(50):
        rec.line("/aws/lambda/f", json.dumps(_doc(d=f"v{i}")), TS_MS)
    for _ in range(3):  # a 51st series, three times, two values each
        rec.line("/aws/lambda/f", json.dumps(_doc(d="over", m=[1, 2])), TS_MS)
    assert (rec.recorded, rec.refused) == (50, 6)
    assert svc.refused == 6  # the service's own count agrees: once per value


def test_the_summary_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emf, "MAX_CACHED_CELLS", 4)
    svc = service()  # max_series=50
    rec = emf.EmfRecorder(svc)
    for i in range(40):
        rec.line("/aws/lambda/f", json.dumps(_doc(d=f"v{i % 20}")), TS_MS)
        assert len(rec._cells) <= 4
    assert rec.recorded == 40 and len(list(svc.series())) == 20
    assert stats(svc, Series("N", "m", dimensions({"d": "v3"}))) == {
        "SampleCount": 2, "Sum": 2.0, "Minimum": 1.0, "Maximum": 1.0}
