"""Table definitions and numbered migrations of the trace database (``traces.db``): one row per
segment document (or subsegment sent on its own), per account. Its own chain, like
:mod:`lambent.store.usage_schema`: append only, never edit an applied migration.
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

#: ``start``/``end`` are the document's own times (epoch seconds), ``received`` when lambent got
#: it (the retention counts from there); ``document`` the JSON text as received.
segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("trace_id", sa.String(35), nullable=False),
    sa.Column("segment_id", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(16), nullable=True),
    sa.Column("is_subsegment", sa.Boolean, nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=True),
    sa.Column("received", sa.Float, nullable=False),
    sa.Column("fault", sa.Boolean, nullable=False),
    sa.Column("error", sa.Boolean, nullable=False),
    sa.Column("throttle", sa.Boolean, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Index("ix_segments_trace", "account", "trace_id"),
    sa.Index("ix_segments_start", "account", "start"),
    sa.Index("ix_segments_received", "received"),
)


def _t1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[segments])


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_t1]


def migrate_traces(engine: sa.Engine) -> int:
    """Bring ``traces.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
