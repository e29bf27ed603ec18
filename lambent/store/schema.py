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


#: Safe deployments (lambent.deployments): indexed columns + the whole record as JSON.
#: ``active`` is 1 while InProgress; the partial unique index allows one active deployment per alias.
#: ``stop_requested`` is its own column so a stop request never races the runner's writes of ``doc``.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("function_name", sa.String(64), nullable=False, index=True),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("active", sa.Integer, nullable=False),
    sa.Column("stop_requested", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
    sa.Index("deployments_one_active_per_alias", "function_name", "alias", unique=True,
             sqlite_where=sa.text("active = 1"), postgresql_where=sa.text("active = 1")),
)

#: Append-only event log of each deployment (timestamps in epoch seconds).
deployment_events = sa.Table(
    "deployment_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deployment_id", sa.String(32), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
)


def _m1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[functions, function_versions, code_blobs])


def _m2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[aliases])


def _m3(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[deployments, deployment_events])


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_m1, _m2, _m3]


def migrate(engine: sa.Engine) -> int:
    """Bring the database to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)


def run_migrations(engine: sa.Engine, version_table: sa.Table,
                   migrations: list[Callable[[sa.Connection], None]]) -> int:
    """Apply, in one transaction, each migration newer than the version recorded in
    ``version_table`` (one row per applied migration); returns the newest version."""
    with engine.begin() as conn:
        version_table.create(conn, checkfirst=True)
        current = conn.execute(sa.select(sa.func.max(version_table.c.version))).scalar() or 0
        for number, step in enumerate(migrations, start=1):
            if number > current:
                step(conn)
                conn.execute(version_table.insert().values(version=number))
        return len(migrations)


# -- EventBridge Scheduler (lambent.schedules) -----------------------------------------------------
#: Schedule groups; ``tags`` is a JSON list of [key, value] pairs.
schedule_groups = sa.Table(
    "schedule_groups",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
)

#: Schedules: the caller's definition as JSON, plus the engine's plan in schedule time
#: (see lambent.schedules.timing). ``last_occurrence`` is the exactly-once watermark.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("group_name", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("anchor", sa.Float, nullable=False),
    sa.Column("next_occurrence", sa.Float, nullable=True),
    sa.Column("fire_at", sa.Float, nullable=True),
    sa.Column("last_occurrence", sa.Float, nullable=True),
)

#: The outbox: one row per fired occurrence until the async queue has it (or it is given up).
schedule_deliveries = sa.Table(
    "schedule_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.String(32), nullable=False),
    sa.Column("schedule_arn", sa.String(1224), nullable=False),
    sa.Column("scheduled_time", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error_code", sa.String(128), nullable=False),
    sa.Column("last_error_message", sa.Text, nullable=False),
)

#: One row: where schedule time was anchored (lambent.schedules.clock).
schedule_clock = sa.Table(
    "schedule_clock",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("real_anchor", sa.Float, nullable=False),
    sa.Column("virtual_anchor", sa.Float, nullable=False),
    sa.Column("scale", sa.Float, nullable=False),
)


def _m_schedules(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[schedule_groups, schedules, schedule_deliveries, schedule_clock])


MIGRATIONS.append(_m_schedules)
