"""The SQL of Lambda functions' resource-based policies (table ``function_policies`` of
``iam.db``, created by :mod:`lambent.store.iam_schema`'s step 2).

Rows travel as plain dicts of column values; the rules (statements, revision ids, size limit) are
:mod:`lambent.iam.function_policies`'. Every method is one transaction. Given a
:class:`~lambent.store.reserve.DiskGuard`, writes that grow state are refused on a full disk and
deletes use the reserve. Scope: one per server, sharing the IAM store's engine (so the schema is
migrated before this store is used).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

from lambent.store.iam_schema import function_policies as t
from lambent.store.reserve import DiskGuard

T = TypeVar("T")
Row = dict[str, Any]

#: The primary key, in order.
KEY = ("account_id", "function_name", "qualifier")


class FunctionPolicyStore:
    def __init__(self, engine: sa.Engine, disk: DiskGuard | None = None) -> None:
        self.engine = engine
        self.disk = disk

    def _grow(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return self.disk.guarded(what, fn, *args) if self.disk is not None else fn(*args)

    def _shrink(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return self.disk.essential(what, fn, *args) if self.disk is not None else fn(*args)

    def all(self) -> list[Row]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(t))]

    def put(self, row: Mapping[str, Any]) -> None:
        """Insert or replace the policy of one (account, function, qualifier)."""
        self._grow("AddPermission", self._put, dict(row))

    def _put(self, row: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(*_key(row)))
            conn.execute(t.insert().values(**row))

    def delete(self, account_id: str, function_name: str, qualifier: str) -> None:
        keys = {"account_id": account_id, "function_name": function_name, "qualifier": qualifier}
        self._shrink("RemovePermission", self._delete, keys)

    def _delete(self, keys: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(*_key(keys)))

    def delete_function(self, account_id: str, function_name: str) -> None:
        """Every policy of a function (all its qualifiers)."""
        self._shrink("deleting a function's policies", self._delete_function, account_id, function_name)

    def _delete_function(self, account_id: str, function_name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.account_id == account_id, t.c.function_name == function_name))


def _key(row: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    return [t.c[k] == row[k] for k in KEY]
