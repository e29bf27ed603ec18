"""Table definitions and numbered migrations of the metrics database (``metrics.db``).

Its own chain, like :mod:`lambent.store.queue_schema`: append only, never edit an applied
migration. A series is (namespace, metric name, dimensions as the JSON text of sorted
``[name, value]`` pairs); each row is one flush's summary of one series-minute (a minute may have
several rows when data for it arrived after an earlier flush: readers merge them).
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

series = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("dims", sa.Text, nullable=False),
    #: the newest minute (epoch seconds // 60) with data
    sa.Column("newest_minute", sa.Integer, nullable=False),
    sa.UniqueConstraint("namespace", "name", "dims", name="series_key"),
)

minutes = sa.Table(
    "minutes",
    metadata,
    sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), nullable=False),
    sa.Column("minute", sa.Integer, nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    #: lambent.observability.metrics.summary.Summary as JSON
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index("minutes_by_series", "series_id", "minute"),
    sa.Index("minutes_by_time", "minute"),
)


def _m1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[series, minutes])


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_m1]


def migrate_metrics(engine: sa.Engine) -> int:
    """Bring ``metrics.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
