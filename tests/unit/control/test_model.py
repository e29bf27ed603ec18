"""FunctionConfig's JSON: rows written before a field existed still load, with its default."""

from __future__ import annotations

from lambent.control.model import FunctionConfig, State


def old_row(**kw: object) -> dict[str, object]:
    # a $LATEST row as stored before the log levels and SnapStart's ApplyOn were kept
    row: dict[str, object] = {
        "name": "fn", "runtime": "python3.11", "role": "arn:aws:iam::000000000000:role/r", "handler": "app.handler",
        "code_hash_hex": "ab" * 32, "code_sha256_b64": "x", "code_size": 1, "last_modified": "now", "revision_id": "r",
        "version": "$LATEST", "state": "Active", "log_format": "Text", "architectures": ["x86_64"], "extra": {},
    }
    row.update(kw)
    return row


def test_an_old_text_row_loads_with_no_levels_and_apply_on_none() -> None:
    cfg = FunctionConfig.from_json(old_row())
    assert (cfg.state, cfg.application_log_level, cfg.system_log_level, cfg.snap_start_apply_on) == (
        State.ACTIVE, None, None, "None")


def test_an_old_json_row_gets_awss_default_levels_and_round_trips() -> None:
    cfg = FunctionConfig.from_json(old_row(log_format="JSON"))
    assert (cfg.application_log_level, cfg.system_log_level) == ("INFO", "INFO")
    assert FunctionConfig.from_json(cfg.to_json()) == cfg
    debug = FunctionConfig.from_json({**cfg.to_json(), "application_log_level": "DEBUG"})
    assert debug.application_log_level == "DEBUG"  # a stored level is never replaced by the default
