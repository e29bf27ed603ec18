"""Table definitions and numbered migrations of the usage database (``usage.db``): one row per
invocation, the facts a bill is made of (see docs/billing.md). Its own chain, like
:mod:`lambent.store.queue_schema`: append only, never edit an applied migration.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from lambent.store.schema import run_migrations

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
)

#: One invocation each. ``at`` is the end of the invocation (epoch seconds, UTC); ``billed_ms``
#: the billed duration (init included, see lambent.billing.rounding); ``memory_mb`` and
#: ``ephemeral_mb`` the configuration the invocation ran with; ``account`` the account that owns
#: the function (``function`` is its bare name; NULL: a record made before accounts, the server
#: account's).
invocations = sa.Table(
    "invocations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("function", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("init_ms", sa.Float, nullable=True),
    sa.Column("billed_ms", sa.Integer, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("ephemeral_mb", sa.Integer, nullable=False),
    sa.Column("architecture", sa.String(16), nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("account", sa.String(12), nullable=True),
)

#: ``invocations`` as version 1 created it (``_u1`` must never change; ``_u2`` adds the account).
_v1 = sa.MetaData()
_invocations_v1 = sa.Table(
    "invocations",
    _v1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("function", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("init_ms", sa.Float, nullable=True),
    sa.Column("billed_ms", sa.Integer, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("ephemeral_mb", sa.Integer, nullable=False),
    sa.Column("architecture", sa.String(16), nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Index("ix_invocations_at", "at"),
    sa.Index("ix_invocations_function_at", "function", "at"),
)


def _u1(conn: sa.Connection) -> None:
    _v1.create_all(conn, tables=[_invocations_v1])


def _u2(conn: sa.Connection) -> None:
    """The owning account of each record (a nullable column: no rewrite of a large table)."""
    if "account" not in {c["name"] for c in sa.inspect(conn).get_columns("invocations")}:
        conn.execute(sa.text("ALTER TABLE invocations ADD COLUMN account VARCHAR(12)"))


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_u1, _u2]


def migrate_usage(engine: sa.Engine) -> int:
    """Bring ``usage.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
