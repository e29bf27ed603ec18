"""Platform lines: the Text format byte for byte as before, the JSON records' exact shape
(Telemetry API event schema), SystemLogLevel filtering, and a forged error type."""

from __future__ import annotations

import json

import pytest

from lambent.worker.platform_lines import EVENT_LEVELS, PlatformLines, Report, iso_time

NOW = 1_796_000_000.123  # 2026-11-30T...


def _json(line: str | None) -> dict[str, object]:
    assert line is not None
    obj = json.loads(line)
    assert isinstance(obj, dict)
    return obj


def test_text_lines_are_lambdas() -> None:
    text = PlatformLines("Text", None)
    assert text.start("r-1", "$LATEST") == "START RequestId: r-1 Version: $LATEST"
    assert text.runtime_done("r-1", "success", 1.0, 2) == "END RequestId: r-1"
    assert text.report(Report("r-1", 12.344, 13, 128, 40)) == (
        "REPORT RequestId: r-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"
    )
    assert text.report(Report("r-1", 2.5, 103, 128, 40, init_ms=100.126)) == (
        "REPORT RequestId: r-1\tDuration: 2.50 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"
        "Init Duration: 100.13 ms\t"
    )
    assert text.report(Report("r-1", 3000.0, 3000, 128, 41, status="timeout")).endswith(
        "Max Memory Used: 41 MB\tStatus: timeout\t")
    assert text.report(Report("r-1", 9.0, 9, 128, 128, status="error", error_type="Runtime.OutOfMemory")).endswith(
        "Max Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory\t")
    assert text.init_report(12.345, "error", "Runtime.ImportModuleError") == (
        "INIT_REPORT Init Duration: 12.35 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError"
    )
    assert text.init_report(10000.0, "timeout") == "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"
    assert text.logs_dropped(10, 1, 100) == (
        "[lambent] log output truncated: 10 bytes over the per-invocation cap of 100 bytes were dropped"
    )
    # Text has no INIT_START, initRuntimeDone: lambent's Text log never had them
    assert text.init_start() is None and text.init_runtime_done("success") is None


def test_json_records_have_the_telemetry_schemas_shape() -> None:
    lines = PlatformLines("JSON", "DEBUG")
    assert _json(lines.start("r-1", "7", NOW)) == {
        "time": iso_time(NOW), "type": "platform.start", "record": {"requestId": "r-1", "version": "7"}}
    report = _json(lines.report(Report("r-1", 693.924, 1092, 128, 84, init_ms=397.678), NOW))
    assert report == {"time": iso_time(NOW), "type": "platform.report", "record": {
        "requestId": "r-1", "status": "success",
        "metrics": {"durationMs": 693.92, "billedDurationMs": 1092, "memorySizeMB": 128, "maxMemoryUsedMB": 84,
                    "initDurationMs": 397.68}}}
    failed = _json(lines.report(Report("r-1", 1.0, 2, 128, 9, status="error", error_type="Runtime.ExitError")))
    assert failed["record"]["status"] == "error" and failed["record"]["errorType"] == "Runtime.ExitError"  # type: ignore[index]
    assert "initDurationMs" not in failed["record"]["metrics"]  # type: ignore[index]
    assert _json(lines.init_report(125.333, "error", "Runtime.ImportModuleError"))["record"] == {
        "initializationType": "on-demand", "phase": "init", "status": "error", "errorType": "Runtime.ImportModuleError",
        "metrics": {"durationMs": 125.33}}
    assert _json(lines.init_start())["record"] == {"initializationType": "on-demand", "phase": "init"}
    assert _json(lines.runtime_done("r-1", "success", 140.0, 16))["record"] == {
        "requestId": "r-1", "status": "success", "metrics": {"durationMs": 140.0, "producedBytes": 16}}
    assert _json(lines.logs_dropped(12345, 123, 1000))["record"] == {
        "droppedBytes": 12345, "droppedRecords": 123,
        "reason": "the invocation's log output exceeded lambent's per-invocation cap of 1000 bytes"}
    # time: UTC, milliseconds
    assert iso_time(0.5) == "1970-01-01T00:00:00.500Z"


@pytest.mark.parametrize(("level", "written"), [
    ("DEBUG", {"platform.initStart", "platform.initRuntimeDone", "platform.initReport", "platform.start",
               "platform.runtimeDone", "platform.report", "platform.logsDropped"}),
    ("INFO", {"platform.initStart", "platform.initReport", "platform.start", "platform.report", "platform.logsDropped"}),
    (None, {"platform.initStart", "platform.initReport", "platform.start", "platform.report", "platform.logsDropped"}),
    ("WARN", {"platform.logsDropped"}),
])
def test_system_log_level_filters_the_json_records(level: str | None, written: set[str]) -> None:
    lines = PlatformLines("JSON", level)
    made = [
        lines.init_start(), lines.init_runtime_done("success"), lines.init_report(1.0, "error", "X"),
        lines.start("r", "$LATEST"), lines.runtime_done("r", "success", 1.0, 0),
        lines.report(Report("r", 1.0, 1, 128, 1)), lines.logs_dropped(1, 1, 1),
    ]
    assert {_json(x)["type"] for x in made if x is not None} == written
    assert set(EVENT_LEVELS) >= written


def test_text_format_is_never_filtered() -> None:
    # SystemLogLevel needs LogFormat JSON (the control plane refuses it otherwise); a stale level is ignored
    lines = PlatformLines("Text", "WARN")
    assert lines.start("r", "1") == "START RequestId: r Version: 1"
    assert lines.report(Report("r", 1.0, 1, 128, 1)) is not None


def test_a_forged_error_type_cannot_add_a_platform_line() -> None:
    # Abuse case: the runtime (function code) chooses the error type it posts
    forged = "X\nREPORT RequestId: fake\tDuration: 0.00 ms\tBilled Duration: 0 ms"
    text = PlatformLines("Text")
    for line in (text.init_report(1.0, "error", forged),
                 text.report(Report("r", 1.0, 1, 128, 1, status="error", error_type=forged))):
        # one line still (the log store splits nothing else into a second event), its control characters gone
        assert line is not None and "\n" not in line and "\tError Type: X REPORT RequestId: fake Duration:" in line
    record = PlatformLines("JSON").report(Report("r", 1.0, 1, 128, 1, status="error", error_type=forged))
    assert record is not None and "\n" not in record
    assert _json(record)["record"]["errorType"] == forged  # type: ignore[index]


@pytest.mark.parametrize("request_id", ["r-1", "8f5e0cbe-5a55-4d0a-9e0b-1e7b0b5b3c1e", 'q"uote\\back\nnew\u2028é\x00'])
@pytest.mark.parametrize("duration_ms", [0.0, 0.004, 1.005, 2.675, 693.924, 1e7 + 0.125])
def test_direct_start_and_report_records_are_byte_for_byte_json_dumps(request_id: str, duration_ms: float) -> None:
    # platform.start and a warm platform.report are formatted without json.dumps (every invocation
    # writes them): they must be exactly what the generic record formatter writes.
    lines = PlatformLines("JSON")
    start = lines.start(request_id, "$LATEST", NOW)
    assert start == json.dumps({"time": iso_time(NOW), "type": "platform.start",
                                "record": {"requestId": request_id, "version": "$LATEST"}},
                               ensure_ascii=False, separators=(",", ":"))
    for status in ("success", "timeout"):
        report = lines.report(Report(request_id, duration_ms, 1092, 128, 84, status=status), NOW)
        assert report == json.dumps({"time": iso_time(NOW), "type": "platform.report", "record": {
            "requestId": request_id, "metrics": {"durationMs": round(duration_ms, 2), "billedDurationMs": 1092,
                                                 "memorySizeMB": 128, "maxMemoryUsedMB": 84},
            "status": status}}, ensure_ascii=False, separators=(",", ":"))
    assert PlatformLines("JSON", "WARN").start(request_id, "1", NOW) is None
    assert PlatformLines("JSON", "WARN").report(Report(request_id, duration_ms, 1, 128, 84), NOW) is None


def test_iso_time_is_right_across_seconds() -> None:
    # (the second's text is cached between calls)
    assert iso_time(0.999) == "1970-01-01T00:00:00.999Z"
    assert iso_time(1.0) == "1970-01-01T00:00:01.000Z"
    assert iso_time(0.001) == "1970-01-01T00:00:00.001Z"
    assert iso_time(86400 * 365.25 * 30 + 0.25).endswith(":00.250Z")
