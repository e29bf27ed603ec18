"""Table definitions and numbered migrations. The only place that knows the database layout."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
)

#: Function-level state shared by all versions (tags, reserved concurrency, version counter).
functions = sa.Table(
    "functions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("tags", sa.Text, nullable=False, default="{}"),
    sa.Column("reserved_concurrency", sa.Integer, nullable=True),
    sa.Column("last_version", sa.Integer, nullable=False, default=0),
)

#: One row per version; ``$LATEST`` is the mutable one. ``config`` is the FunctionConfig as JSON.
function_versions = sa.Table(
    "function_versions",
    metadata,
    sa.Column("name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.String(16), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
)

#: Code blobs, stored once per content hash.
code_blobs = sa.Table(
    "code_blobs",
    metadata,
    sa.Column("sha256_hex", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("unzipped_size", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


#: Aliases: a name pointing at one version, optionally with a weighted second version.
aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
)


def _m1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[functions, function_versions, code_blobs])


def _m2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[aliases])


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_m1, _m2]


def migrate(engine: sa.Engine) -> int:
    """Bring the database to the newest schema version; returns that version."""
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
        for number, step in enumerate(MIGRATIONS, start=1):
            if number > current:
                step(conn)
                conn.execute(schema_version.insert().values(version=number))
        return len(MIGRATIONS)
