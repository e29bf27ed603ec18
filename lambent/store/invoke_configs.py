"""Per-version/alias asynchronous invocation settings (FunctionEventInvokeConfig), stored next to
the queue they govern (``async-queue.db``)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from lambent.store.queue_schema import event_invoke_configs
from lambent.store.reserve import DiskGuard

class InvokeConfigStore:
    """Scope: one per server; shares the async queue's engine."""

    def __init__(self, engine: sa.Engine, disk: DiskGuard | None = None) -> None:
        self.engine = engine
        #: A full data dir refuses new configs; deleting one uses the reserve.
        self.disk = disk
        # The table is created by the queue database's migrations (store/queue_schema.py).

    def put(self, function: str, qualifier: str, config: dict[str, Any]) -> None:
        if self.disk is not None:
            self.disk.guarded("the event invoke config", self._put, function, qualifier, config)
        else:
            self._put(function, qualifier, config)

    def _put(self, function: str, qualifier: str, config: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(event_invoke_configs.delete().where(
                (event_invoke_configs.c.function == function) & (event_invoke_configs.c.qualifier == qualifier)))
            conn.execute(event_invoke_configs.insert().values(function=function, qualifier=qualifier, config=json.dumps(config)))

    def delete(self, function: str, qualifier: str | None = None) -> None:
        cond = event_invoke_configs.c.function == function
        if qualifier is not None:
            cond = cond & (event_invoke_configs.c.qualifier == qualifier)
        if self.disk is not None:
            self.disk.essential("DeleteFunctionEventInvokeConfig", self._delete, cond)
        else:
            self._delete(cond)

    def _delete(self, cond: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(event_invoke_configs.delete().where(cond))

    def own_unkeyed(self, account_id: str) -> int:
        """Give the configurations written before accounts (``function`` a bare name) to
        ``account_id``: ``function`` becomes the key ``ACCOUNT:function:NAME``. At start-up."""
        c = event_invoke_configs.c
        with self.engine.begin() as conn:
            moved = conn.execute(event_invoke_configs.update().where(sa.func.instr(c.function, ":") == 0)
                                 .values(function=f"{account_id}:function:" + c.function))
        return int(moved.rowcount or 0)

    def all(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(event_invoke_configs)).all()
        return [(r.function, r.qualifier, json.loads(r.config)) for r in rows]
