"""The invoke path's observer: one record per invocation with the REPORT line's figures, never
raising into the invocation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lambent.billing.recorder import UsageRecorder
from lambent.control.model import FunctionConfig
from lambent.store.usage import UsageRecord, UsageStore
from lambent.worker.environment import InvokeOutcome


def cfg(**kw: object) -> FunctionConfig:
    base: dict[str, object] = dict(name="fn", runtime="python3.11", role="arn:aws:iam::000000000000:role/r",
                                   handler="app.handler", code_hash_hex="00", code_sha256_b64="AA==", code_size=1,
                                   last_modified="2026-12-01T00:00:00.000+0000", revision_id="rev")
    base.update(kw)
    return FunctionConfig(**base)  # type: ignore[arg-type]


def outcome(duration: float, init: float | None = None) -> InvokeOutcome:
    return InvokeOutcome(b"{}", None, b"", duration, 40, init)


class _Capture(UsageStore):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp / "usage.db")
        self.offered: list[UsageRecord] = []

    def offer(self, record: UsageRecord) -> bool:
        self.offered.append(record)
        return True


def test_a_warm_invocation_is_billed_as_its_report_line(tmp_path: Path) -> None:
    store = _Capture(tmp_path)
    UsageRecorder(store, clock=lambda: 1234.5).observe(cfg(version="3", memory_mb=256, ephemeral_storage_mb=2048,
                                                           architectures=("arm64",)), outcome(12.34), "req-1")
    [r] = store.offered
    assert r == UsageRecord("req-1", "fn", "3", 1234.5, 12.34, None, max(1, math.ceil(12.34)), 256, 2048, "arm64", 1)
    # built as a bare tuple on the hot path: still the named tuple, every field where it belongs
    assert type(r) is UsageRecord and (r.request_id, r.billed_ms, r.architecture, r.requests) == ("req-1", 13, "arm64", 1)


def test_a_cold_invocation_bills_its_init(tmp_path: Path) -> None:
    store = _Capture(tmp_path)
    UsageRecorder(store).observe(cfg(), outcome(2.5, 180.25), "req-2")
    [r] = store.offered
    assert (r.init_ms, r.billed_ms, r.memory_mb, r.ephemeral_mb, r.architecture) == (180.25, 183, 128, 512, "x86_64")


def test_an_invocation_that_never_ran_still_bills_one_request_and_one_ms(tmp_path: Path) -> None:
    store = _Capture(tmp_path)
    UsageRecorder(store).observe(cfg(), outcome(0.0))
    assert [(r.requests, r.billed_ms) for r in store.offered] == [(1, 1)]


def test_a_failing_store_never_raises_into_the_invoke_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(_Capture):
        def offer(self, record: UsageRecord) -> bool:
            raise RuntimeError("boom")

    UsageRecorder(Broken(tmp_path)).observe(cfg(), outcome(1.0), "r")
    assert "usage record of fn:$LATEST not made" in caplog.text


def test_a_bogus_outcome_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = _Capture(tmp_path)
    UsageRecorder(store).observe(cfg(), outcome(-1.0), "r")
    assert store.offered == []
    assert "not made" in caplog.text
