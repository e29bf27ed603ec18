"""The platform's own log lines, as Lambda writes them: ``START``/``END``/``REPORT``/``INIT_REPORT``
in the Text log format, the Telemetry API's platform records in the JSON one. Pure.

With ``LoggingConfig.LogFormat=JSON`` Lambda writes its system logs as JSON records of the Telemetry
API's event schema (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html):
``{"time": "2026-12-02T05:17:58.123Z", "type": "platform.start", "record": {"requestId": ..., "version": ...}}``
and filters them by ``SystemLogLevel``
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html): each event
type has a level, and a record is written only when its level is at or above the function's.

===========================  =====  ==========================================
event                        level  Text equivalent
===========================  =====  ==========================================
``platform.initStart``       INFO   (none: lambent's Text log never had INIT_START)
``platform.initRuntimeDone`` DEBUG  (none)
``platform.initReport``      INFO   ``INIT_REPORT`` (a failed init)
``platform.start``           INFO   ``START``
``platform.runtimeDone``     DEBUG  ``END``
``platform.report``          INFO   ``REPORT``
``platform.logsDropped``     WARN   ``[lambent] log output truncated ...``
===========================  =====  ==========================================

So at the default level INFO a JSON log shows ``initStart``, ``start`` and ``report``; DEBUG adds
``initRuntimeDone`` and ``runtimeDone``; WARN keeps only ``logsDropped``. In Text format every line
is written (levels need JSON: the control plane refuses them otherwise).

Abuse case: nothing in a platform line comes from function code but the error type of a failed
init or invocation (the runtime's ``Lambda-Runtime-Function-Error-Type`` header or error body). It is
written through :func:`json.dumps` (JSON) or with its control characters replaced (Text), so a
function cannot forge a second platform line (a newline in its error type) or break the record.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EVENT_LEVELS", "PlatformLines", "Report", "iso_time"]

#: SystemLogLevel's values, most detailed first.
_SYSTEM_RANK = {"DEBUG": 0, "INFO": 1, "WARN": 2}

#: The level of each platform event (the table above).
EVENT_LEVELS = {
    "platform.initStart": "INFO",
    "platform.initRuntimeDone": "DEBUG",
    "platform.initReport": "INFO",
    "platform.start": "INFO",
    "platform.runtimeDone": "DEBUG",
    "platform.report": "INFO",
    "platform.logsDropped": "WARN",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


#: one encoder for every record (``json.dumps`` with options builds a new one per call)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: a JSON string literal of a text, as ``json.dumps(..., ensure_ascii=False)`` writes it
_string: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
#: (epoch second, its ``%Y-%m-%dT%H:%M:%S`` text): several records per invocation share a second
_last_second: tuple[int, str] = (-1, "")


def iso_time(t: float | None = None) -> str:
    """``2026-12-02T05:17:58.123Z``: the Telemetry API's ``time`` (UTC, milliseconds)."""
    global _last_second
    t = time.time() if t is None else t
    ms = int(t * 1000)
    second = ms // 1000
    cached = _last_second
    if cached[0] != second:
        cached = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{ms % 1000:03d}Z"


def _text(value: str) -> str:
    """A value from the function (an error type) made safe for one Text line."""
    return _CONTROL.sub(" ", value)[:256]


@dataclass(frozen=True)
class Report:
    """What one REPORT line says. ``status`` is the environment's: ``success`` (also when the
    handler raised: Lambda's REPORT shows no status then), ``error`` (the runtime died, ran out
    of memory, failed its init; ``error_type`` names it) or ``timeout``."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None
    status: str = "success"
    error_type: str | None = None


class PlatformLines:
    """Formats and filters one function's platform lines. Each method returns the line to write,
    or None when the format has no such line or ``SystemLogLevel`` filters it out."""

    def __init__(self, log_format: str = "Text", system_log_level: str | None = None) -> None:
        self.json = log_format == "JSON"
        self._min_rank = _SYSTEM_RANK.get((system_log_level or "INFO").upper(), 1)
        self._start_on = self.enabled("platform.start")
        self._report_on = self.enabled("platform.report")

    def enabled(self, event: str) -> bool:
        return not self.json or _SYSTEM_RANK[EVENT_LEVELS[event]] >= self._min_rank

    def _record(self, event: str, record: dict[str, object], now: float | None) -> str | None:
        if not self.enabled(event):
            return None
        return _ENCODE({"time": iso_time(now), "type": event, "record": record})

    # -- init ---------------------------------------------------------------------------------
    def init_start(self, now: float | None = None) -> str | None:
        if not self.json:
            return None
        return self._record("platform.initStart", {"initializationType": "on-demand", "phase": "init"}, now)

    def init_runtime_done(self, status: str, error_type: str | None = None, now: float | None = None) -> str | None:
        if not self.json:
            return None
        record: dict[str, object] = {"initializationType": "on-demand", "phase": "init", "status": status}
        if error_type:
            record["errorType"] = error_type
        return self._record("platform.initRuntimeDone", record, now)

    def init_report(self, duration_ms: float, status: str, error_type: str | None = None, phase: str = "init",
                    now: float | None = None) -> str | None:
        """A failed init: ``status`` ``error`` (with its ``error_type``) or ``timeout``."""
        if not self.json:
            line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
            return line + (f"\tError Type: {_text(error_type)}" if error_type else "")
        record: dict[str, object] = {"initializationType": "on-demand", "phase": phase, "status": status}
        if error_type:
            record["errorType"] = error_type
        record["metrics"] = {"durationMs": round(duration_ms, 2)}
        return self._record("platform.initReport", record, now)

    # -- invoke -------------------------------------------------------------------------------
    def start(self, request_id: str, version: str, now: float | None = None) -> str | None:
        if not self.json:
            return f"START RequestId: {request_id} Version: {version}"
        if not self._start_on:
            return None
        # What _record makes of it, formatted directly (every invocation writes one).
        return (f'{{"time":"{iso_time(now)}","type":"platform.start","record":{{"requestId":{_string(request_id)},'
                f'"version":{_string(version)}}}}}')

    def runtime_done(self, request_id: str, status: str, duration_ms: float, produced_bytes: int,
                     error_type: str | None = None, now: float | None = None) -> str | None:
        if not self.json:
            return f"END RequestId: {request_id}"
        record: dict[str, object] = {"requestId": request_id, "status": status}
        if error_type:
            record["errorType"] = error_type
        record["metrics"] = {"durationMs": round(duration_ms, 2), "producedBytes": produced_bytes}
        return self._record("platform.runtimeDone", record, now)

    def report(self, r: Report, now: float | None = None) -> str | None:
        if not self.json:
            line = (
                f"REPORT RequestId: {r.request_id}\tDuration: {r.duration_ms:.2f} ms\t"
                f"Billed Duration: {r.billed_ms} ms\tMemory Size: {r.memory_mb} MB\t"
                f"Max Memory Used: {r.max_memory_mb} MB\t"
            )
            if r.init_ms is not None:
                line += f"Init Duration: {r.init_ms:.2f} ms\t"
            if r.status != "success":
                line += f"Status: {r.status}\t"
                if r.error_type:
                    line += f"Error Type: {_text(r.error_type)}\t"
            return line
        if not self._report_on:
            return None
        if r.init_ms is None and not r.error_type:
            # The warm invocation's record, formatted directly: byte for byte what _record makes.
            return (f'{{"time":"{iso_time(now)}","type":"platform.report","record":{{"requestId":{_string(r.request_id)},'
                    f'"metrics":{{"durationMs":{round(r.duration_ms, 2)!r},"billedDurationMs":{int(r.billed_ms)},'
                    f'"memorySizeMB":{int(r.memory_mb)},"maxMemoryUsedMB":{int(r.max_memory_mb)}}},'
                    f'"status":{_string(r.status)}}}}}')
        metrics: dict[str, object] = {
            "durationMs": round(r.duration_ms, 2), "billedDurationMs": r.billed_ms,
            "memorySizeMB": r.memory_mb, "maxMemoryUsedMB": r.max_memory_mb,
        }
        if r.init_ms is not None:
            metrics["initDurationMs"] = round(r.init_ms, 2)
        record: dict[str, object] = {"requestId": r.request_id, "metrics": metrics, "status": r.status}
        if r.error_type:
            record["errorType"] = r.error_type
        return self._record("platform.report", record, now)

    def logs_dropped(self, dropped_bytes: int, dropped_records: int, cap_bytes: int,
                     now: float | None = None) -> str | None:
        if not self.json:
            return (f"[lambent] log output truncated: {dropped_bytes} bytes over the per-invocation cap of "
                    f"{cap_bytes} bytes were dropped")
        return self._record("platform.logsDropped", {
            "droppedBytes": dropped_bytes, "droppedRecords": dropped_records,
            "reason": f"the invocation's log output exceeded lambent's per-invocation cap of {cap_bytes} bytes",
        }, now)
