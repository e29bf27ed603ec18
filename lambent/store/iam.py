"""The SQL of IAM's database (``<data dir>/iam.db``, tables in :mod:`lambent.store.iam_schema`).

Rows travel as plain dicts of column values (the IAM domain maps them to its values; the store
knows nothing of IAM's rules). Synchronous SQLAlchemy Core, SQLite in WAL mode with
``synchronous=FULL``; every method is one transaction. Secrets arrive sealed. No driver error
leaves this module (:mod:`lambent.store.errors`: StorageFull, ServiceError, ConstraintViolation). Given a
:class:`~lambent.store.reserve.DiskGuard`, writes that grow state are refused on a full disk and
deletes use the reserve. Scope: one per IAM service (a server, or one CLI command).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from lambent.store import errors as store_errors
from lambent.store import iam_schema as t
from lambent.store.reserve import DiskGuard

DB_FILE = "iam.db"
T = TypeVar("T")
Row = dict[str, Any]

#: Tables loaded at start-up, by name.
TABLES: dict[str, sa.Table] = {
    "accounts": t.accounts,
    "users": t.users,
    "access_keys": t.access_keys,
    "roles": t.roles,
    "inline_policies": t.inline_policies,
    "managed_policies": t.managed_policies,
    "policy_versions": t.policy_versions,
    "attachments": t.attachments,
    "sessions": t.sessions,
}


class IamStore:
    def __init__(self, path: Path, disk: DiskGuard | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        event.listen(self.engine, "connect", _pragmas)
        self.disk = disk
        if disk is not None:
            disk.install(self.engine)
        store_errors.install(self.engine, path.name)  # after the guard, which must see a full disk first
        t.migrate_iam(self.engine)
        try:
            path.chmod(0o600)  # sealed secrets, but names and policies are the operator's business
        except OSError:
            pass

    @classmethod
    def open_in(cls, data_dir: Path, disk: DiskGuard | None = None) -> IamStore:
        return cls(data_dir / DB_FILE, disk)

    def close(self) -> None:
        self.engine.dispose()

    def stamp(self) -> tuple[tuple[int, int], ...]:
        """(mtime ns, size) of the database file and its WAL: changes whenever anyone commits."""
        out = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                st = path.stat()
            except FileNotFoundError:
                out.append((0, 0))
            else:
                out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _grow(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return self.disk.guarded(what, fn, *args) if self.disk is not None else fn(*args)

    def _shrink(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return self.disk.essential(what, fn, *args) if self.disk is not None else fn(*args)

    # -- loading -------------------------------------------------------------------------------
    def load_all(self) -> dict[str, list[Row]]:
        """Every row of every table, by table name (the domain keeps IAM in memory)."""
        with self.engine.connect() as conn:
            return {name: [dict(r._mapping) for r in conn.execute(sa.select(table))] for name, table in TABLES.items()}

    # -- generic single-table writes -----------------------------------------------------------
    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        self._grow(f"creating an IAM {table} entry", self._insert, TABLES[table], dict(row))

    def _insert(self, table: sa.Table, row: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(table.insert().values(**row))

    def update(self, table: str, keys: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        self._grow(f"updating an IAM {table} entry", self._update, TABLES[table], dict(keys), dict(values))

    def _update(self, table: sa.Table, keys: Row, values: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(table.update().where(*_match(table, keys)).values(**values))

    def delete(self, table: str, keys: Mapping[str, Any]) -> None:
        self._shrink(f"deleting an IAM {table} entry", self._delete, TABLES[table], dict(keys))

    def _delete(self, table: sa.Table, keys: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(*_match(table, keys)))

    # -- writes spanning tables ----------------------------------------------------------------
    def put_inline_policy(self, row: Mapping[str, Any]) -> None:
        """Insert or replace one inline policy (PutUserPolicy/PutRolePolicy overwrite)."""
        self._grow("PutPolicy", self._put_inline_policy, dict(row))

    def _put_inline_policy(self, row: Row) -> None:
        table = t.inline_policies
        keys = {k: row[k] for k in ("account_id", "owner_kind", "owner_key", "policy_name")}
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(*_match(table, keys)))
            conn.execute(table.insert().values(**row))

    def add_managed_policy(self, policy: Mapping[str, Any], version: Mapping[str, Any]) -> None:
        self._grow("CreatePolicy", self._add_managed_policy, dict(policy), dict(version))

    def _add_managed_policy(self, policy: Row, version: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.managed_policies.insert().values(**policy))
            conn.execute(t.policy_versions.insert().values(**version))

    def add_policy_version(self, version: Mapping[str, Any], policy_update: Mapping[str, Any]) -> None:
        self._grow("CreatePolicyVersion", self._add_policy_version, dict(version), dict(policy_update))

    def _add_policy_version(self, version: Row, policy_update: Row) -> None:
        keys = {"account_id": version["account_id"], "name_key": version["policy_key"]}
        with self.engine.begin() as conn:
            conn.execute(t.policy_versions.insert().values(**version))
            conn.execute(t.managed_policies.update().where(*_match(t.managed_policies, keys)).values(**policy_update))

    def delete_managed_policy(self, account_id: str, name_key: str) -> None:
        self._shrink("DeletePolicy", self._delete_managed_policy, account_id, name_key)

    def _delete_managed_policy(self, account_id: str, name_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.policy_versions.delete().where(
                    t.policy_versions.c.account_id == account_id, t.policy_versions.c.policy_key == name_key
                )
            )
            conn.execute(
                t.managed_policies.delete().where(
                    t.managed_policies.c.account_id == account_id, t.managed_policies.c.name_key == name_key
                )
            )

    def delete_expired_sessions(self, now: float) -> int:
        return self._shrink("expiring STS sessions", self._delete_expired_sessions, now)

    def _delete_expired_sessions(self, now: float) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(t.sessions.delete().where(t.sessions.c.expires_at <= now)).rowcount or 0)


def _match(table: sa.Table, keys: Row) -> list[sa.ColumnElement[bool]]:
    if not keys:
        raise ValueError("a keyed write needs keys")  # never an unconditional update/delete
    return [table.c[k] == v for k, v in keys.items()]


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
