"""``lambent accounts``, as the operator runs it: a real process on a data dir. create prints the
new account's root key pair once, as JSON; list never shows a secret; names are unique; the data
dir's key file and database are private and hold no secret in the clear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _accounts(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBENT_")}
    return subprocess.run(
        [sys.executable, "-m", "lambent.cli.accounts_cmd", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_create_prints_a_root_key_pair_once_and_list_shows_no_secret(tmp_path: Path) -> None:
    created = _json(_accounts(tmp_path, "create", "tenant-a"))
    assert set(created) == {"AccountId", "AccessKeyId", "SecretAccessKey"}
    assert len(created["AccountId"]) == 12 and created["AccountId"].isdigit() and created["AccountId"] != "000000000000"
    assert created["AccessKeyId"].startswith("AKIA") and len(created["AccessKeyId"]) == 20
    assert len(created["SecretAccessKey"]) == 40
    second = _json(_accounts(tmp_path, "create", "tenant-b"))
    assert second["AccountId"] != created["AccountId"]

    listing = _accounts(tmp_path, "list")
    accounts = _json(listing)
    assert [(a["AccountId"], a["Name"]) for a in accounts] == [
        ("000000000000", "root"), (created["AccountId"], "tenant-a"), (second["AccountId"], "tenant-b")]
    assert created["SecretAccessKey"] not in listing.stdout and created["AccessKeyId"] not in listing.stdout

    key_file = tmp_path / "iam.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("iam.db*"))
    assert created["SecretAccessKey"].encode() not in on_disk and second["SecretAccessKey"].encode() not in on_disk


def test_a_duplicate_or_invalid_name_fails_without_creating(tmp_path: Path) -> None:
    _json(_accounts(tmp_path, "create", "tenant"))
    dup = _accounts(tmp_path, "create", "TENANT")
    assert dup.returncode == 1 and "Account with name TENANT already exists." in dup.stderr and dup.stdout == ""
    bad = _accounts(tmp_path, "create", "no spaces; please")
    assert bad.returncode == 1 and "account name" in bad.stderr
    assert [a["Name"] for a in _json(_accounts(tmp_path, "list"))] == ["root", "tenant"]


def test_a_key_file_others_can_read_stops_the_command(tmp_path: Path) -> None:
    _json(_accounts(tmp_path, "create", "tenant"))
    (tmp_path / "iam.key").chmod(0o644)
    proc = _accounts(tmp_path, "list")
    assert proc.returncode == 1 and "chmod 600" in proc.stderr and proc.stdout == ""
