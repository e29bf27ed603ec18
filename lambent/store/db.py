"""The storage layer: every SQL statement lambent runs lives in this package.

:class:`Store` is synchronous (SQLAlchemy Core); async callers run it in a thread. SQLite in WAL mode
with ``synchronous=FULL`` by default; a PostgreSQL URL works through the same code for cluster mode.
The store lives as long as the server.

Given a :class:`~lambent.store.reserve.DiskGuard` (a server's SQLite store), writes that grow
state are refused on a full data directory with ``StorageFull``, and deletes and state changes
(``essential=True`` for the background ``$LATEST`` transitions) use the disk reserve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from lambent.errors import LambentError
from lambent.store import errors as store_errors
from lambent.store import schema as t
from lambent.store.reserve import DiskGuard

T = TypeVar("T")


@dataclass(frozen=True)
class FunctionRow:
    name: str
    created_at: float
    tags: dict[str, str]
    reserved_concurrency: int | None
    last_version: int


class Store:
    """Durable state. Scope: one per server process."""

    def __init__(self, url: str, disk: DiskGuard | None = None) -> None:
        """Cheap: the engine connects on first use; :meth:`open` migrates."""
        self.engine = sa.create_engine(url, future=True)
        self.disk = disk
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if disk is not None:
            disk.install(self.engine)
        store_errors.install(self.engine, self.engine.url.database or str(self.engine.url))

    @classmethod
    def in_dir(cls, data_dir: Path, disk: DiskGuard | None = None) -> Store:
        """The store of a data dir (``lambent.db``), not opened yet."""
        return cls(f"sqlite:///{data_dir / 'lambent.db'}", disk)

    @classmethod
    def open_in(cls, data_dir: Path, disk: DiskGuard | None = None) -> Store:
        """:meth:`in_dir`, the directory created and the store opened (for tools and tests)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls.in_dir(data_dir, disk).open()

    def open(self) -> Store:
        """Connect and bring the schema up to date (numbered migrations). Blocking; once.
        :class:`~lambent.store.errors.StoreUnavailable` if the database cannot be opened."""
        try:
            t.migrate(self.engine)
        except LambentError as exc:
            raise store_errors.unavailable(exc, self.engine.url.database or str(self.engine.url)) from exc
        return self

    def close(self) -> None:
        self.engine.dispose()

    def own_unkeyed(self, account_id: str) -> int:
        """Give the functions of a database written before accounts (rows named by a bare name)
        to ``account_id``: their ``name`` becomes the function key ``ACCOUNT:function:NAME``
        (lambent.arns.FunctionKey), as every row written since. Blocking; at start-up, before the
        registry loads. Returns how many functions moved (0 once done)."""
        prefix = f"{account_id}:function:"
        bare = sa.func.instr(t.functions.c.name, ":") == 0
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(t.functions).where(bare)).all()
            for r in rows:  # parent first, children moved, old parent last: no foreign key broken
                conn.execute(t.functions.insert().values(
                    name=prefix + r.name, created_at=r.created_at, tags=r.tags,
                    reserved_concurrency=r.reserved_concurrency, last_version=r.last_version))
                for child in (t.function_versions, t.aliases):
                    conn.execute(child.update().where(child.c.name == r.name).values(name=prefix + r.name))
                conn.execute(t.functions.delete().where(t.functions.c.name == r.name))
        return len(rows)

    # -- the disk ------------------------------------------------------------------------------
    def guarded(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run a write that grows state (SQL here, or files such as a code package, for the
        control plane): StorageFull on a full data directory instead of a bare ENOSPC."""
        return self.disk.guarded(what, fn, *args) if self.disk is not None else fn(*args)

    def essential(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run a delete or state change with the disk reserve (see reserve.DiskGuard.essential)."""
        return self.disk.essential(what, fn, *args) if self.disk is not None else fn(*args)

    # -- functions -----------------------------------------------------------------------------
    def create_function(self, name: str, latest_config: dict[str, Any], tags: dict[str, str]) -> bool:
        """Insert a new function with its $LATEST config; False if the name is taken."""
        return self.guarded("CreateFunction", self._create_function, name, latest_config, tags)

    def _create_function(self, name: str, latest_config: dict[str, Any], tags: dict[str, str]) -> bool:
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(t.functions.c.name).where(t.functions.c.name == name)).first()
            if exists:
                return False
            conn.execute(
                t.functions.insert().values(
                    name=name, created_at=time.time(), tags=json.dumps(tags), reserved_concurrency=None, last_version=0
                )
            )
            conn.execute(t.function_versions.insert().values(name=name, version="$LATEST", config=json.dumps(latest_config)))
        return True

    def put_version_config(self, name: str, version: str, config: dict[str, Any], *, essential: bool = False) -> None:
        """Overwrite one version's config; ``essential`` for state transitions (Pending -> Active,
        InProgress -> Successful), which must land on a full disk too."""
        if essential:
            self.essential("a state change", self._put_version_config, name, version, config)
        else:
            self.guarded("the update", self._put_version_config, name, version, config)

    def _put_version_config(self, name: str, version: str, config: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.function_versions.update()
                .where((t.function_versions.c.name == name) & (t.function_versions.c.version == version))
                .values(config=json.dumps(config))
            )

    def delete_function(self, name: str) -> None:
        self.essential("DeleteFunction", self._delete_function, name)

    def _delete_function(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.aliases.delete().where(t.aliases.c.name == name))
            conn.execute(t.function_versions.delete().where(t.function_versions.c.name == name))
            conn.execute(t.functions.delete().where(t.functions.c.name == name))

    # -- versions ------------------------------------------------------------------------------
    def add_version(self, name: str, number: int, config: dict[str, Any]) -> None:
        """Insert published version ``number`` and advance the function's version counter."""
        self.guarded("PublishVersion", self._add_version, name, number, config)

    def _add_version(self, name: str, number: int, config: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.function_versions.insert().values(name=name, version=str(number), config=json.dumps(config)))
            conn.execute(t.functions.update().where(t.functions.c.name == name).values(last_version=number))

    def delete_version(self, name: str, version: str) -> None:
        self.essential("DeleteFunction", self._delete_version, name, version)

    def _delete_version(self, name: str, version: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.function_versions.delete().where(
                    (t.function_versions.c.name == name) & (t.function_versions.c.version == version)
                )
            )

    # -- aliases -------------------------------------------------------------------------------
    def put_alias(self, name: str, alias: str, config: dict[str, Any]) -> None:
        self.guarded("the alias change", self._put_alias, name, alias, config)

    def _put_alias(self, name: str, alias: str, config: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.aliases.delete().where((t.aliases.c.name == name) & (t.aliases.c.alias == alias)))
            conn.execute(t.aliases.insert().values(name=name, alias=alias, config=json.dumps(config)))

    def delete_alias(self, name: str, alias: str) -> None:
        self.essential("DeleteAlias", self._delete_alias, name, alias)

    def _delete_alias(self, name: str, alias: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.aliases.delete().where((t.aliases.c.name == name) & (t.aliases.c.alias == alias)))

    def iter_aliases(self) -> Iterator[tuple[str, dict[str, Any]]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.aliases)).all()
        for r in rows:
            yield r.name, json.loads(r.config)

    def get_function(self, name: str) -> FunctionRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.functions).where(t.functions.c.name == name)).first()
        return _function_row(row) if row else None

    def iter_functions(self) -> Iterator[tuple[FunctionRow, dict[str, dict[str, Any]]]]:
        """Every function with its version configs, for loading the in-memory registry at start-up."""
        with self.engine.connect() as conn:
            fns = conn.execute(sa.select(t.functions).order_by(t.functions.c.name)).all()
            vers = conn.execute(sa.select(t.function_versions)).all()
        by_name: dict[str, dict[str, dict[str, Any]]] = {}
        for v in vers:
            by_name.setdefault(v.name, {})[v.version] = json.loads(v.config)
        for f in fns:
            yield _function_row(f), by_name.get(f.name, {})

    def set_tags(self, name: str, tags: dict[str, str]) -> None:
        self.guarded("the tag change", self._set_tags, name, tags)

    def _set_tags(self, name: str, tags: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.functions.update().where(t.functions.c.name == name).values(tags=json.dumps(tags)))

    def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        if value is None:  # DeleteFunctionConcurrency: a delete
            self.essential("DeleteFunctionConcurrency", self._set_reserved_concurrency, name, value)
        else:
            self.guarded("PutFunctionConcurrency", self._set_reserved_concurrency, name, value)

    def _set_reserved_concurrency(self, name: str, value: int | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.functions.update().where(t.functions.c.name == name).values(reserved_concurrency=value)
            )

    # -- code ----------------------------------------------------------------------------------
    def add_code_blob(self, sha256_hex: str, size: int, unzipped_size: int) -> None:
        self.guarded("storing the code package", self._add_code_blob, sha256_hex, size, unzipped_size)

    def _add_code_blob(self, sha256_hex: str, size: int, unzipped_size: int) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(t.code_blobs.c.sha256_hex).where(t.code_blobs.c.sha256_hex == sha256_hex)
            ).first()
            if not exists:
                conn.execute(
                    t.code_blobs.insert().values(
                        sha256_hex=sha256_hex, size=size, unzipped_size=unzipped_size, created_at=time.time()
                    )
                )

    def code_blob_in_use(self, sha256_hex: str) -> bool:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.function_versions.c.config)).all()
        return any(json.loads(r.config).get("code_hash_hex") == sha256_hex for r in rows)

    def delete_code_blob(self, sha256_hex: str) -> None:
        self.essential("deleting a code package", self._delete_code_blob, sha256_hex)

    def _delete_code_blob(self, sha256_hex: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.code_blobs.delete().where(t.code_blobs.c.sha256_hex == sha256_hex))

    def total_code_size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.code_blobs.c.size), 0))).scalar() or 0)


def _function_row(row: Any) -> FunctionRow:
    return FunctionRow(row.name, row.created_at, json.loads(row.tags), row.reserved_concurrency, row.last_version)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
