"""vpc.db (store/vpc_schema.py, store/vpc.py). That no applied migration is edited (the schema each
step produces is pinned in ``vpc_ddl.json``) is checked with the other databases' chains, by
``CHAINS`` in tests/unit/store/test_migrations.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lambent.errors import ServiceError
from lambent.store.vpc import VpcStore, Write


def _ddl(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        db.close()


def test_reopening_is_a_no_op_and_keeps_rows(tmp_path: Path) -> None:
    store = VpcStore.open_in(tmp_path)
    row = {"vpc_id": "vpc-0123456789abcdef0", "account_id": "111122223333", "cidr": "10.0.0.0/16", "tags": "[]",
           "created_at": 1.0}
    store.write([Write("insert", "vpcs", row)])
    store.close()
    before = _ddl(tmp_path / "vpc.db")
    store = VpcStore.open_in(tmp_path)
    try:
        assert store.load_all()["vpcs"] == [row]
    finally:
        store.close()
    assert _ddl(tmp_path / "vpc.db") == before


def test_a_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    store = VpcStore.open_in(tmp_path)
    try:
        iface = {"interface_id": "eni-1", "account_id": "1", "vpc_id": "vpc-1", "subnet_id": "subnet-1",
                 "address": "10.0.0.4", "interface_type": "lambda", "availability_zone": "us-east-1a",
                 "description": "", "group_ids": "[]", "created_at": 1.0}
        store.write([Write("insert", "network_interfaces", iface)])
        twin = {**iface, "interface_id": "eni-2"}  # the same address of the same subnet: refused
        with pytest.raises(ServiceError):
            store.write([Write("delete", "network_interfaces", {"interface_id": "eni-1"}),
                         Write("insert", "network_interfaces", {**twin, "address": "10.0.0.5"}),
                         Write("insert", "network_interfaces", {**twin, "interface_id": "eni-3", "address": "10.0.0.5"})])
        assert [r["interface_id"] for r in store.load_all()["network_interfaces"]] == ["eni-1"]
        with pytest.raises(ValueError):
            store.write([Write("delete", "vpcs", {})])  # never an unconditional delete
    finally:
        store.close()


def test_a_broken_database_file_is_a_service_error_not_a_driver_error(tmp_path: Path) -> None:
    (tmp_path / "vpc.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ServiceError) as caught:
        VpcStore.open_in(tmp_path)
    assert "sqlite" not in caught.value.message.lower()
