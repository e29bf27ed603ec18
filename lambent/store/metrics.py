"""The metrics archive: ended series-minutes in ``<data dir>/metrics.db`` (SQLite, WAL).

The archive behind :class:`lambent.observability.metrics.MetricsService` (it satisfies that
module's ``Archive`` protocol with plain tuples, so neither package imports the other). Blocking:
the service calls it in a worker thread, one flush (one transaction) at a time; reads run
concurrently on their own connections (WAL). Every series belongs to an account; series archived
before accounts (schema version 1) have none until :meth:`MetricsStore.adopt` gives them to the
server's account at start. Metrics are not essential state: ``synchronous=NORMAL``
(a crash may lose the last flush, never corrupt the file), and on a full data directory a write is
refused with ``StorageFull`` (the service keeps the minutes in memory and retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from lambent.errors import LambentError
from lambent.store import errors as store_errors
from lambent.store.metrics_schema import migrate_metrics, minutes, series
from lambent.store.reserve import DiskGuard

#: (account, namespace, metric name, dims text, minute, unit, summary JSON)
MinuteRow = tuple[str, str, str, str, int, str, str]
_SeriesKey = tuple[str, str, str, str]


class MetricsStore:
    """Scope: one per server."""

    def __init__(self, path: Path, disk: DiskGuard | None = None) -> None:
        self.path = path
        self.disk = disk
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        event.listen(self.engine, "connect", _pragmas)
        if disk is not None:
            disk.install(self.engine)
        store_errors.install(self.engine, path.name)
        self._ids: dict[_SeriesKey, int] = {}

    @classmethod
    def open_in(cls, data_dir: Path, disk: DiskGuard | None = None) -> MetricsStore:
        return cls(data_dir / "metrics.db", disk).open()

    def open(self) -> MetricsStore:
        try:
            migrate_metrics(self.engine)
        except LambentError as exc:
            raise store_errors.unavailable(exc, str(self.path)) from exc
        return self

    def close(self) -> None:
        self.engine.dispose()

    # -- writes (one flush at a time) ----------------------------------------------------------------
    def write_minutes(self, rows: Sequence[MinuteRow]) -> None:
        """Every row in one transaction; StorageFull on a full data directory (nothing written)."""
        if self.disk is not None:
            self.disk.guarded("storing metrics", self._write, rows)
        else:
            self._write(rows)

    def _write(self, rows: Sequence[MinuteRow]) -> None:
        created: list[_SeriesKey] = []
        try:
            with self.engine.begin() as conn:
                newest: dict[int, int] = {}
                values = []
                for account, namespace, name, dims, minute, unit, summary in rows:
                    key = (account, namespace, name, dims)
                    sid = self._ids.get(key)
                    if sid is None:
                        sid = self._series_id(conn, key)
                        self._ids[key] = sid
                        created.append(key)
                    newest[sid] = max(minute, newest.get(sid, minute))
                    values.append({"series_id": sid, "minute": minute, "unit": unit, "summary": summary})
                if values:
                    conn.execute(minutes.insert(), values)
                for sid, minute in newest.items():
                    conn.execute(series.update().where(series.c.id == sid, series.c.newest_minute < minute)
                                 .values(newest_minute=minute))
        except BaseException:
            for key in created:  # rolled back: those ids may not exist
                self._ids.pop(key, None)
            raise

    @staticmethod
    def _series_id(conn: sa.Connection, key: _SeriesKey) -> int:
        account, namespace, name, dims = key
        where = (series.c.account == account, series.c.namespace == namespace, series.c.name == name,
                 series.c.dims == dims)
        found = conn.execute(sa.select(series.c.id).where(*where)).scalar()
        if found is not None:
            return int(found)
        result = conn.execute(series.insert().values(account=account, namespace=namespace, name=name, dims=dims,
                                                     newest_minute=0))
        pk = result.inserted_primary_key
        assert pk is not None  # noqa: S101 - SQLAlchemy always returns it for an INSERT with a PK
        return int(pk[0])

    def prune(self, before_minute: int) -> int:
        """Drop every minute older than ``before_minute`` and the series left without data; returns
        the rows dropped. Uses the disk reserve (a delete must work on a full disk)."""
        def run() -> int:
            with self.engine.begin() as conn:
                dropped = conn.execute(minutes.delete().where(minutes.c.minute < before_minute)).rowcount
                gone = conn.execute(sa.select(series.c.account, series.c.namespace, series.c.name, series.c.dims)
                                    .where(series.c.newest_minute < before_minute)).all()
                if gone:
                    conn.execute(series.delete().where(series.c.newest_minute < before_minute))
            for account, namespace, name, dims in gone:
                self._ids.pop((account, namespace, name, dims), None)
            return int(dropped or 0)

        return self.disk.essential("pruning metrics", run) if self.disk is not None else run()

    def adopt(self, account: str) -> int:
        """Give every series without an account (archived before accounts) to ``account``, the
        server's; returns how many. At start, before any write: nothing of ``account`` can clash
        with them yet (one that does, from an interrupted earlier adoption, keeps its own rows and
        the unowned one its own; both are read as ``account``'s)."""
        def run() -> int:
            with self.engine.begin() as conn:
                orphans = conn.execute(sa.select(series.c.id, series.c.namespace, series.c.name, series.c.dims)
                                       .where(series.c.account.is_(None))).all()
                adopted = 0
                for sid, namespace, name, dims in orphans:
                    clash = conn.execute(sa.select(series.c.id).where(
                        series.c.account == account, series.c.namespace == namespace, series.c.name == name,
                        series.c.dims == dims)).scalar()
                    if clash is None:
                        conn.execute(series.update().where(series.c.id == sid).values(account=account))
                    else:  # move its minutes to the owned series, then drop it
                        conn.execute(minutes.update().where(minutes.c.series_id == sid).values(series_id=clash))
                        newest = conn.execute(sa.select(series.c.newest_minute).where(series.c.id == sid)).scalar_one()
                        conn.execute(series.update().where(series.c.id == clash, series.c.newest_minute < newest)
                                     .values(newest_minute=newest))
                        conn.execute(series.delete().where(series.c.id == sid))
                    adopted += 1
                return adopted

        return self.disk.essential("adopting metrics", run) if self.disk is not None else run()

    # -- reads (any thread) --------------------------------------------------------------------------
    def read_minutes(self, account: str, namespace: str, name: str, dims: str, start_minute: int,
                     end_minute: int) -> list[tuple[int, str, str]]:
        query = (
            sa.select(minutes.c.minute, minutes.c.unit, minutes.c.summary)
            .select_from(minutes.join(series, minutes.c.series_id == series.c.id))
            .where(series.c.account == account, series.c.namespace == namespace, series.c.name == name,
                   series.c.dims == dims,
                   minutes.c.minute >= start_minute, minutes.c.minute < end_minute)
            .order_by(minutes.c.minute)
        )
        with self.engine.connect() as conn:
            return [(int(m), str(u), str(s)) for m, u, s in conn.execute(query)]

    def list_series(self, since_minute: int) -> list[tuple[str | None, str, str, str, int]]:
        """(account, namespace, name, dims text, newest minute); account None: not adopted yet."""
        query = (sa.select(series.c.account, series.c.namespace, series.c.name, series.c.dims, series.c.newest_minute)
                 .where(series.c.newest_minute >= since_minute))
        with self.engine.connect() as conn:
            return [(None if a is None else str(a), str(b), str(c), str(d), int(e)) for a, b, c, d, e in conn.execute(query)]


def _pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
