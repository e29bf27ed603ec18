"""The SQL of the VPC model's database (``<data dir>/vpc.db``, tables in :mod:`lambent.store.vpc_schema`).

Rows travel as plain dicts of column values (the VPC domain maps them to its values; the store
knows nothing of EC2's rules). Synchronous SQLAlchemy Core, SQLite in WAL mode with
``synchronous=FULL``; every :meth:`VpcStore.write` is one transaction, so a VPC and its default
security group, or a NAT gateway and its address, are stored together or not at all. No driver
error leaves this module (:mod:`lambent.store.errors`). Given a
:class:`~lambent.store.reserve.DiskGuard`, writes that grow state are refused on a full disk and
deletes use the reserve. Scope: one per VpcService (a server).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event

from lambent.store import errors as store_errors
from lambent.store import vpc_schema as t
from lambent.store.reserve import DiskGuard

DB_FILE = "vpc.db"
Row = dict[str, Any]

TABLES: dict[str, sa.Table] = {
    "vpcs": t.vpcs,
    "subnets": t.subnets,
    "security_groups": t.security_groups,
    "security_group_rules": t.security_group_rules,
    "nat_gateways": t.nat_gateways,
    "vpc_endpoints": t.vpc_endpoints,
    "network_interfaces": t.network_interfaces,
}


@dataclass(frozen=True, slots=True)
class Write:
    """One statement of a transaction: insert ``row``, or delete the rows matching ``row`` (keys)."""

    op: Literal["insert", "delete"]
    table: str
    row: Mapping[str, Any]


class VpcStore:
    def __init__(self, path: Path, disk: DiskGuard | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        event.listen(self.engine, "connect", _pragmas)
        self.disk = disk
        if disk is not None:
            disk.install(self.engine)
        store_errors.install(self.engine, path.name)  # after the guard, which must see a full disk first
        t.migrate_vpc(self.engine)

    @classmethod
    def open_in(cls, data_dir: Path, disk: DiskGuard | None = None) -> VpcStore:
        return cls(data_dir / DB_FILE, disk)

    def close(self) -> None:
        self.engine.dispose()

    def load_all(self) -> dict[str, list[Row]]:
        """Every row of every table, by table name (the domain keeps the model in memory)."""
        with self.engine.connect() as conn:
            return {name: [dict(r._mapping) for r in conn.execute(sa.select(table))] for name, table in TABLES.items()}

    def write(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in one transaction. Any insert makes it a growing write (refused on a
        full disk); a transaction of deletes only runs through the disk reserve."""
        if not writes:
            return
        for w in writes:
            if w.table not in TABLES:
                raise ValueError(f"no VPC table {w.table!r}")
        grows = any(w.op == "insert" for w in writes)
        what = f"writing {writes[0].table}"
        if self.disk is None:
            self._write(writes)
        elif grows:
            self.disk.guarded(what, self._write, writes)
        else:
            self.disk.essential(what, self._write, writes)

    def _write(self, writes: Sequence[Write]) -> None:
        with self.engine.begin() as conn:
            for w in writes:
                table = TABLES[w.table]
                if w.op == "insert":
                    conn.execute(table.insert().values(**dict(w.row)))
                else:
                    conn.execute(table.delete().where(*_match(table, dict(w.row))))


def _match(table: sa.Table, keys: Row) -> list[sa.ColumnElement[bool]]:
    if not keys:
        raise ValueError("a keyed delete needs keys")  # never an unconditional delete
    return [table.c[k] == v for k, v in keys.items()]


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
