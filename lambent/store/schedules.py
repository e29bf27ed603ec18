"""The scheduler's tables (defined in :mod:`lambent.store.schema`): SQL on plain values.

Knows columns, not the scheduler's types: rows come back as dicts, and the mapping to and from
:mod:`lambent.schedules.model` (JSON of specs and targets) is :mod:`lambent.schedules.store`'s.
Synchronous, like :class:`lambent.store.Store`; async callers run it in a thread.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lambent.store import schema as t

Row = dict[str, Any]
#: The database handle the scheduler is given (so it names no SQLAlchemy type itself).
Engine = sa.Engine


class ScheduleTables:
    """Scope: one per server (shares the server's engine)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- clock ------------------------------------------------------------------------------------
    def load_clock(self) -> tuple[float, float, float] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.schedule_clock).where(t.schedule_clock.c.id == 1)).first()
        return (row.real_anchor, row.virtual_anchor, row.scale) if row else None

    def save_clock(self, saved: tuple[float, float, float]) -> None:
        real_anchor, virtual_anchor, scale = saved
        with self.engine.begin() as conn:
            conn.execute(t.schedule_clock.delete())
            conn.execute(t.schedule_clock.insert().values(id=1, real_anchor=real_anchor,
                                                          virtual_anchor=virtual_anchor, scale=scale))

    # -- groups -----------------------------------------------------------------------------------
    def load_groups(self) -> list[Row]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(t.schedule_groups))]

    def put_group(self, values: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedule_groups.delete().where(t.schedule_groups.c.name == values["name"]))
            conn.execute(t.schedule_groups.insert().values(**values))

    def delete_group(self, name: str) -> None:
        """Delete a group and every schedule in it."""
        with self.engine.begin() as conn:
            conn.execute(t.schedules.delete().where(t.schedules.c.group_name == name))
            conn.execute(t.schedule_groups.delete().where(t.schedule_groups.c.name == name))

    # -- schedules --------------------------------------------------------------------------------
    def load_schedules(self) -> list[Row]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(t.schedules))]

    def insert_schedule(self, group: str, name: str, values: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedules.insert().values(group_name=group, name=name, **values))

    def update_schedule(self, group: str, name: str, values: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(_where(t.schedules.update(), group, name).values(**values))

    def delete_schedule(self, group: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_where(t.schedules.delete(), group, name))

    def fire(self, group: str, name: str, plan: Row | None, delivery: Row) -> int | None:
        """In one transaction: update the schedule's plan (``plan`` None: delete the schedule) and
        add the delivery row; its id, or None if the schedule is gone (nothing written)."""
        with self.engine.begin() as conn:
            if plan is None:
                done = conn.execute(_where(t.schedules.delete(), group, name))
            else:
                done = conn.execute(_where(t.schedules.update(), group, name).values(**plan))
            if done.rowcount == 0:
                return None
            result = conn.execute(t.schedule_deliveries.insert().values(**delivery))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    # -- deliveries -------------------------------------------------------------------------------
    def load_deliveries(self) -> list[Row]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.schedule_deliveries).order_by(t.schedule_deliveries.c.id))
            return [dict(r._mapping) for r in rows]

    def update_delivery(self, delivery_id: int, values: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedule_deliveries.update().where(t.schedule_deliveries.c.id == delivery_id).values(**values))

    def delete_delivery(self, delivery_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedule_deliveries.delete().where(t.schedule_deliveries.c.id == delivery_id))


def _where(stmt: Any, group: str, name: str) -> Any:
    return stmt.where((t.schedules.c.group_name == group) & (t.schedules.c.name == name))
