"""``lambent logs``: reads the server's log store without creating anything, --since, --filter."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lambent.cli.logs_cmd import parse_since
from lambent.cli.main import main
from lambent.observability.logs import LogStore, account_group


def _now() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    store = LogStore(tmp_path / "logs")
    # the server account's (LAMBENT_ACCOUNT_ID's default) function fn
    w = store.writer(account_group("000000000000", "/aws/lambda/fn"), "2026/12/02/[$LATEST]e1")
    w.write("old line ERROR", _now() - 3_600_000)
    w.write('{"level": "ERROR", "msg": "boom"}', _now() - 1000)
    w.write("START RequestId: r1", _now() - 500)
    w.close()
    return tmp_path


def test_prints_every_event(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "fn", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "old line ERROR" in out and "boom" in out and "START RequestId: r1" in out


def test_since_and_filter(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "fn", "--since", "10m", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "old line" not in out and "boom" in out and "START" in out
    assert main(["logs", "fn", "--filter", '{ $.level = "ERROR" }', "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "boom" in out and "old line" not in out and "START" not in out
    assert main(["logs", "fn", "--filter", "ERROR -boom", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "old line ERROR" in out and "boom" not in out


def test_a_missing_data_dir_is_reported_and_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["logs", "fn", "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    # one line naming the path and how to point at another one
    assert err.count("\n") == 1 and f"no lambent data directory at {missing}" in err
    assert "--data-dir" in err and "LAMBENT_DATA_DIR" in err
    assert not missing.exists()


def test_the_default_data_dir_is_not_created_either(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAMBENT_DATA_DIR", raising=False)
    assert main(["logs", "fn"]) == 2
    assert f"no lambent data directory at {tmp_path / '.lambent'}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_function_has_no_streams_and_nothing_is_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "fn", "--data-dir", str(tmp_path)]) == 1
    assert "no log streams in /aws/lambda/fn" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_bad_since_or_filter_or_group(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "fn", "--since", "ten minutes", "--data-dir", str(data)]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["logs", "fn", "--filter", "{ $.a = ", "--data-dir", str(data)]) == 2
    assert "Invalid JSON filter pattern" in capsys.readouterr().err
    assert main(["logs", "fn", "--log-group", "..", "--data-dir", str(data)]) == 2


def test_parse_since_units() -> None:
    assert [parse_since(s) for s in ("30s", "10m", "2h", "1d", "1w")] == [30, 600, 7200, 86400, 604800]


def test_account_must_be_an_account_id(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "fn", "--account", "000000000000", "--data-dir", str(data)]) == 0
    assert "boom" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        main(["logs", "fn", "--account", "../x", "--data-dir", str(data)])
    assert bad.value.code == 2 and "not a 12-digit account id" in capsys.readouterr().err
