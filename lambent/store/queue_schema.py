"""Table definitions and numbered migrations of the asynchronous queue's own database file
(``async-queue.db``): queued events, undeliverable records and the per-qualifier event invoke
configs (FunctionEventInvokeConfig) that govern them. Its own chain, like
:mod:`lambent.store.schema` for ``lambent.db``: append only, never edit an applied migration.

The previous release created these tables without a version table (``create_all``); every
migration here creates with ``checkfirst``, so on such a file it is a no-op that only records
the version.
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

events = sa.Table(
    "async_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("function", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    #: invocations that ran the function (function errors count towards MaximumRetryAttempts)
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    #: throttle/system-error backoff step, for the exponential delay
    sa.Column("backoff_step", sa.Integer, nullable=False, default=0),
    #: since version 4: the X-Ray trace header the event was accepted with (its attempts run in
    #: that trace, also after a restart); None: none came, the trace is derived from the request id
    sa.Column("trace_header", sa.String(256), nullable=True),
)

undeliverable = sa.Table(
    "undeliverable",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("target", sa.String(350), nullable=False),
    sa.Column("record", sa.LargeBinary, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", sa.Float, nullable=False),
    # since version 3: what a redrive needs to deliver the record again as it was first sent
    #: the source function's name (None: recorded before version 3)
    sa.Column("function", sa.String(64), nullable=True),
    #: "record" (a destination's invocation record) or "dlq" (the event for a dead-letter queue)
    sa.Column("kind", sa.String(8), nullable=True),
    #: an OnSuccess record (EventBridge's detail type says so)
    sa.Column("success", sa.Boolean, nullable=True),
    #: the source function's execution role, which a Lambda destination is invoked with
    sa.Column("role", sa.String(2048), nullable=True),
    #: a dead letter's message attributes (JSON)
    sa.Column("attributes", sa.Text, nullable=True),
)

_UNDELIVERABLE_V3 = ("function VARCHAR(64)", "kind VARCHAR(8)", "success BOOLEAN", "role VARCHAR(2048)", "attributes TEXT")

event_invoke_configs = sa.Table(
    "event_invoke_configs",
    metadata,
    sa.Column("function", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
)


#: ``async_events`` and ``undeliverable`` as version 1 created them (``_q1`` must never change;
#: ``_q3`` and ``_q4`` add the rest).
_v1 = sa.MetaData()
_events_v1 = sa.Table(
    "async_events",
    _v1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("function", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("backoff_step", sa.Integer, nullable=False, default=0),
)
_undeliverable_v1 = sa.Table(
    "undeliverable",
    _v1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("target", sa.String(350), nullable=False),
    sa.Column("record", sa.LargeBinary, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", sa.Float, nullable=False),
)


def _q1(conn: sa.Connection) -> None:
    _v1.create_all(conn, tables=[_events_v1, _undeliverable_v1])


def _q2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[event_invoke_configs])


def _q3(conn: sa.Connection) -> None:
    """The columns a redrive of an undeliverable record needs."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("undeliverable")}
    for column in _UNDELIVERABLE_V3:
        if column.split()[0] not in have:
            conn.execute(sa.text(f"ALTER TABLE undeliverable ADD COLUMN {column}"))


def _q4(conn: sa.Connection) -> None:
    """An event's trace header (a nullable column: no rewrite of the queue)."""
    if "trace_header" not in {c["name"] for c in sa.inspect(conn).get_columns("async_events")}:
        conn.execute(sa.text("ALTER TABLE async_events ADD COLUMN trace_header VARCHAR(256)"))


#: Migrations in order; index + 1 is the schema version they produce. Append only.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_q1, _q2, _q3, _q4]


def migrate_queue(engine: sa.Engine) -> int:
    """Bring ``async-queue.db`` to the newest schema version; returns that version."""
    return run_migrations(engine, schema_version, MIGRATIONS)
