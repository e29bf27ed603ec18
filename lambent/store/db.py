"""The storage layer: every SQL statement lambent runs lives in this package.

:class:`Store` is synchronous (SQLAlchemy Core); async callers run it in a thread. SQLite in WAL mode
with ``synchronous=FULL`` by default; a PostgreSQL URL works through the same code for cluster mode.
The store lives as long as the server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from lambent.store import schema as t


@dataclass(frozen=True)
class FunctionRow:
    name: str
    created_at: float
    tags: dict[str, str]
    reserved_concurrency: int | None
    last_version: int


class Store:
    """Durable state. Scope: one per server process."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        t.migrate(self.engine)

    @classmethod
    def open_in(cls, data_dir: Path) -> Store:
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{data_dir / 'lambent.db'}")

    def close(self) -> None:
        self.engine.dispose()

    # -- functions -----------------------------------------------------------------------------
    def create_function(self, name: str, latest_config: dict[str, Any], tags: dict[str, str]) -> bool:
        """Insert a new function with its $LATEST config; False if the name is taken."""
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

    def put_version_config(self, name: str, version: str, config: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.function_versions.update()
                .where((t.function_versions.c.name == name) & (t.function_versions.c.version == version))
                .values(config=json.dumps(config))
            )

    def delete_function(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.aliases.delete().where(t.aliases.c.name == name))
            conn.execute(t.function_versions.delete().where(t.function_versions.c.name == name))
            conn.execute(t.functions.delete().where(t.functions.c.name == name))

    # -- versions ------------------------------------------------------------------------------
    def add_version(self, name: str, number: int, config: dict[str, Any]) -> None:
        """Insert published version ``number`` and advance the function's version counter."""
        with self.engine.begin() as conn:
            conn.execute(t.function_versions.insert().values(name=name, version=str(number), config=json.dumps(config)))
            conn.execute(t.functions.update().where(t.functions.c.name == name).values(last_version=number))

    def delete_version(self, name: str, version: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.function_versions.delete().where(
                    (t.function_versions.c.name == name) & (t.function_versions.c.version == version)
                )
            )

    # -- aliases -------------------------------------------------------------------------------
    def put_alias(self, name: str, alias: str, config: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.aliases.delete().where((t.aliases.c.name == name) & (t.aliases.c.alias == alias)))
            conn.execute(t.aliases.insert().values(name=name, alias=alias, config=json.dumps(config)))

    def delete_alias(self, name: str, alias: str) -> None:
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
        with self.engine.begin() as conn:
            conn.execute(t.functions.update().where(t.functions.c.name == name).values(tags=json.dumps(tags)))

    def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.functions.update().where(t.functions.c.name == name).values(reserved_concurrency=value)
            )

    # -- code ----------------------------------------------------------------------------------
    def add_code_blob(self, sha256_hex: str, size: int, unzipped_size: int) -> None:
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
