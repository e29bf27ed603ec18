"""``lambent usage``: json, csv and table output from a real usage.db; a missing data dir is said."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from lambent.cli import usage_cmd
from lambent.store.usage import UsageRecord, UsageStore


def main(argv: list[str]) -> int:
    """The command as lambent/cli/main.py runs it (its register() on a sub-parser)."""
    parser = argparse.ArgumentParser(prog="lambent")
    usage_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05).open()
    for function, billed, memory in (("alpha", 10, 128), ("alpha", 3, 128), ("=cmd", 1000, 1024)):
        store.offer(UsageRecord("r", function, "$LATEST", 1764583200.0, billed - 0.5, None, billed, memory, 512,
                                "x86_64"))
    assert store.wait_settled(3, 10)
    store.close()
    return tmp_path


def test_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--format", "json", "--data-dir", str(data_dir)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["function"], r["requests"], r["billed_duration_ms"], r["gb_seconds"]) for r in rows] == [
        ("=cmd", 1, 1000, 1.0), ("alpha", 2, 13, 13 * 128 / 1024 / 1000)]
    assert rows[0]["cost"] == round(0.2 / 1e6 + 0.0000166667, 8)


def test_csv_neutralises_formula_cells(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--format", "csv", "--data-dir", str(data_dir), "--by", "version"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["function"], r["version"], r["requests"]) for r in rows] == [("'=cmd", "$LATEST", "1"),
                                                                           ("alpha", "$LATEST", "2")]


def test_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--data-dir", str(data_dir), "--by", "day"]) == 0
    out = capsys.readouterr().out
    assert "Usage by day (USD)" in out and "2025-12-01" in out and "alpha" in out and "total" in out


def test_time_range_and_function_filter(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--format", "json", "--data-dir", str(data_dir), "--since", "2025-12-02"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["usage", "--format", "json", "--data-dir", str(data_dir), "--function", "alpha",
                 "--until", "2025-12-02"]) == 0
    assert [r["function"] for r in json.loads(capsys.readouterr().out)] == ["alpha"]


def test_custom_prices(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "p.json"
    prices.write_text(json.dumps({"request_per_million": 1_000_000, "gb_second": {"x86_64": 0}}))
    assert main(["usage", "--format", "json", "--data-dir", str(data_dir), "--prices", str(prices)]) == 0
    assert [r["cost"] for r in json.loads(capsys.readouterr().out)] == [1.0, 2.0]


def test_errors_are_said_not_raised(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["usage", "--data-dir", str(missing)]) == 2
    assert "no lambent data directory" in capsys.readouterr().err
    assert not missing.exists()
    assert main(["usage", "--data-dir", str(data_dir), "--since", "tomorrow"]) == 2
    assert "not a time" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"gb_second": {"x86_64": -1}}')
    assert main(["usage", "--data-dir", str(data_dir), "--prices", str(bad)]) == 2
    assert "between 0" in capsys.readouterr().err


def test_an_empty_data_dir_has_no_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--data-dir", str(tmp_path)]) == 0
    assert "no usage recorded" in capsys.readouterr().out
    assert not (tmp_path / "usage.db").exists()


def test_account_selects_whose_usage_and_must_be_an_account_id(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBENT_ACCOUNT_ID", raising=False)
    store = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05).open()
    store.offer(UsageRecord("r", "f", "$LATEST", 1764583200.0, 1.5, None, 2, 128, 512, "x86_64",
                            account="000000000000"))
    store.offer(UsageRecord("r", "f", "$LATEST", 1764583200.0, 6.5, None, 7, 128, 512, "x86_64",
                            account="111122223333"))
    assert store.wait_settled(2, 10)
    store.close()
    base = ["usage", "--format", "json", "--data-dir", str(tmp_path)]
    assert main(base) == 0  # the server's account by default
    assert [r["billed_duration_ms"] for r in json.loads(capsys.readouterr().out)] == [2]
    assert main([*base, "--account", "111122223333"]) == 0
    assert [r["billed_duration_ms"] for r in json.loads(capsys.readouterr().out)] == [7]
    with pytest.raises(SystemExit) as bad:
        main([*base, "--account", "../../etc"])
    assert bad.value.code == 2 and "not a 12-digit account id" in capsys.readouterr().err
