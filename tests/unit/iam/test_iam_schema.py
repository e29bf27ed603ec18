"""iam.db (store/iam_schema.py, store/iam.py). That no applied migration is edited (the schema each
step produces is pinned in ``iam_ddl.json``) is checked with the other databases' chains, by
``CHAINS`` in tests/unit/store/test_migrations.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lambent.errors import ServiceError

from lambent.store import iam_schema
from lambent.store.iam import IamStore


def _ddl(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        db.close()


def test_migrating_again_is_a_no_op_and_keeps_rows(tmp_path: Path) -> None:
    store = IamStore.open_in(tmp_path)
    store.insert("accounts", {"account_id": "123456789012", "name": "a", "created_at": 1.0})
    store.close()
    before = _ddl(tmp_path / "iam.db")
    store = IamStore.open_in(tmp_path)
    try:
        assert store.load_all()["accounts"] == [{"account_id": "123456789012", "name": "a", "created_at": 1.0}]
    finally:
        store.close()
    assert _ddl(tmp_path / "iam.db") == before
    db = sqlite3.connect(tmp_path / "iam.db")
    try:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        db.close()
    assert versions == list(range(1, len(iam_schema.MIGRATIONS) + 1))


def test_the_database_file_is_private(tmp_path: Path) -> None:
    IamStore.open_in(tmp_path).close()
    assert (tmp_path / "iam.db").stat().st_mode & 0o077 == 0


def test_a_broken_database_file_is_a_service_error_not_a_driver_error(tmp_path: Path) -> None:
    (tmp_path / "iam.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ServiceError) as caught:
        IamStore.open_in(tmp_path)
    assert "SELECT" not in caught.value.message and "sqlite" not in caught.value.message.lower()
