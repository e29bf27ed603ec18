"""Table definitions and numbered migrations of the metrics database (``metrics.db``).

Its own chain, like :mod:`lambent.store.queue_schema`: append only, never edit an applied
migration. A series is (account, namespace, metric name, dimensions as the JSON text of sorted
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
    #: the AWS account the series belongs to; NULL: archived before accounts (schema version 1),
    #: the server's account's (MetricsStore.adopt gives them to it at start)
    sa.Column("account", sa.String(12), nullable=True),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("dims", sa.Text, nullable=False),
    #: the newest minute (epoch seconds // 60) with data
    sa.Column("newest_minute", sa.Integer, nullable=False),
    sa.UniqueConstraint("account", "namespace", "name", "dims", name="series_key"),
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

# -- version 1's tables, as _m1 made them (frozen: an applied migration never changes) -------------
_v1 = sa.MetaData()
_series_v1 = sa.Table(
    "series",
    _v1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("dims", sa.Text, nullable=False),
    sa.Column("newest_minute", sa.Integer, nullable=False),
    sa.UniqueConstraint("namespace", "name", "dims", name="series_key"),
)
_minutes_v1 = sa.Table(
    "minutes",
    _v1,
    sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), nullable=False),
    sa.Column("minute", sa.Integer, nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index("minutes_by_series", "series_id", "minute"),
    sa.Index("minutes_by_time", "minute"),
)


def _m1(conn: sa.Connection) -> None:
    _v1.create_all(conn, tables=[_series_v1, _minutes_v1])


def _m2(conn: sa.Connection) -> None:
    """Series per account (issue 10): the series key gains ``account``. SQLite cannot change a
    table's UNIQUE constraint in place, so both tables are rebuilt in this transaction, their rows
    (ids included) copied; existing series get account NULL, the server's (adopted at start)."""
    conn.exec_driver_sql("ALTER TABLE minutes RENAME TO minutes_v1")
    conn.exec_driver_sql("ALTER TABLE series RENAME TO series_v1")
    conn.exec_driver_sql("DROP INDEX minutes_by_series")
    conn.exec_driver_sql("DROP INDEX minutes_by_time")
    metadata.create_all(conn, tables=[series, minutes])
    conn.exec_driver_sql("INSERT INTO series (id, account, namespace, name, dims, newest_minute) "
                         "SELECT id, NULL, namespace, name, dims, newest_minute FROM series_v1")
    conn.exec_driver_sql("INSERT INTO minutes (series_id, minute, unit, summary) "
                         "SELECT series_id, minute, unit, summary FROM minutes_v1")
    conn.exec_driver_sql("DROP TABLE minutes_v1")
    conn.exec_driver_sql("DROP TABLE series_v1")


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_m1, _m2]


def migrate_metrics(engine: sa.Engine) -> int:
    """Bring ``metrics.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
