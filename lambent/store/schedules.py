"""The scheduler's tables (defined in :mod:`lambent.store.schema`): SQL on plain values.

Knows columns, not the scheduler's types: rows come back as dicts, and the mapping to and from
:mod:`lambent.schedules.model` (JSON of specs and targets) is :mod:`lambent.schedules.store`'s.
Synchronous, like :class:`lambent.store.Store`; async callers run it in a thread.

Accounts without a table rebuild: the ``group_name`` column of ``schedules`` and the ``name``
column of ``schedule_groups`` hold ``ACCOUNT:GROUP`` (an *owned group*, :func:`owned_group`). A
Scheduler group name matches ``[0-9a-zA-Z-_.]+``, so the ``:`` cannot collide with a name; rows an
earlier release wrote hold the bare group name and are given to the server's account by
:meth:`ScheduleTables.adopt_unowned` when the scheduler loads.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lambent.store import schema as t

Row = dict[str, Any]
#: The database handle the scheduler is given (so it names no SQLAlchemy type itself).
Engine = sa.Engine


def owned_group(account: str, group: str) -> str:
    """The stored group of ``account``'s group ``group``: ``ACCOUNT:GROUP``."""
    return f"{account}:{group}"


def split_group(stored: str, unowned_account: str) -> tuple[str, str]:
    """(account, group) of a stored group; a bare one (not adopted yet) is ``unowned_account``'s."""
    account, sep, group = stored.partition(":")
    return (account, group) if sep else (unowned_account, stored)


class ScheduleTables:
    """Scope: one per server (shares the server's engine). Groups are named by their stored,
    owned form (:func:`owned_group`) here."""

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

    # -- accounts ---------------------------------------------------------------------------------
    def adopt_unowned(self, account: str) -> int:
        """Give every group and schedule stored with a bare group name (written before schedules
        were per account) to ``account``, in one transaction; how many rows changed. A bare group
        whose owned twin already exists (only an older release running on a newer database can
        write one) is dropped: a group is just a name, tags and dates, its schedules are kept."""
        g, s = t.schedule_groups, t.schedules
        with self.engine.begin() as conn:
            owned = {r.name for r in conn.execute(sa.select(g.c.name).where(g.c.name.contains(":")))}
            bare = [r.name for r in conn.execute(sa.select(g.c.name).where(sa.not_(g.c.name.contains(":"))))]
            twins = [n for n in bare if owned_group(account, n) in owned]
            if twins:
                conn.execute(g.delete().where(g.c.name.in_(twins)))
            prefix = sa.literal(f"{account}:")
            changed = conn.execute(g.update().where(sa.not_(g.c.name.contains(":"))).values(name=prefix + g.c.name))
            moved = conn.execute(s.update().where(sa.not_(s.c.group_name.contains(":")))
                                 .values(group_name=prefix + s.c.group_name))
            return int(changed.rowcount) + int(moved.rowcount)

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
