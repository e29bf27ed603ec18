"""Durable state of safe deployments: one row per deployment (the record as JSON plus indexed
columns) and an append-only event log. Synchronous SQLAlchemy Core; async callers use a thread.

The record's JSON belongs to :mod:`lambent.deployments`; this module only stores it. Each
write of a record and its new events is one transaction, so a crash leaves either both or neither.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lambent.store import schema as t
from lambent.errors import ConstraintViolation
from lambent.store.reserve import DiskGuard


class ActiveDeploymentExists(Exception):
    """The alias already has an InProgress deployment (the partial unique index said so)."""


@dataclass(frozen=True)
class StoredEvent:
    at: float
    type: str
    message: str
    details: dict[str, Any]


@dataclass(frozen=True)
class DeploymentRow:
    doc: dict[str, Any]
    stop_requested: bool


class DeploymentStore:
    """Deployment rows and events in the server's database. Scope: one per server."""

    def __init__(self, engine: sa.Engine, disk: DiskGuard | None = None) -> None:
        self.engine = engine
        #: A full data dir refuses new deployments; a running one's transitions use the reserve.
        self.disk = disk

    def own_unkeyed(self, account_id: str) -> int:
        """Give the deployments recorded before accounts (``function_name`` a bare name) to
        ``account_id``: the column and the record's ``function_name`` become the function key
        ``ACCOUNT:function:NAME``. At start-up, before the runners resume."""
        c = t.deployments.c
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(c.id, c.doc).where(sa.func.instr(c.function_name, ":") == 0)).all()
            for r in rows:
                doc = json.loads(r.doc)
                doc["function_name"] = f"{account_id}:function:{doc['function_name']}"
                conn.execute(t.deployments.update().where(c.id == r.id)
                             .values(function_name=doc["function_name"], doc=json.dumps(doc)))
        return len(rows)

    def insert(self, doc: dict[str, Any], events: Sequence[StoredEvent]) -> None:
        """Insert a new InProgress deployment; :class:`ActiveDeploymentExists` if its alias has one."""
        if self.disk is not None:
            self.disk.guarded("the deployment", self._insert, doc, events)
        else:
            self._insert(doc, events)

    def _insert(self, doc: dict[str, Any], events: Sequence[StoredEvent]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    t.deployments.insert().values(
                        **_columns(doc, active=True), stop_requested=0, created_at=doc["created_at"]
                    )
                )
                _append(conn, doc["id"], events)
        except ConstraintViolation as exc:  # the partial unique index: one InProgress per alias
            raise ActiveDeploymentExists(str(exc.context.get("reason", exc.message))) from None

    def save(self, doc: dict[str, Any], active: bool, events: Sequence[StoredEvent] = ()) -> None:
        """Replace the record and append ``events``, in one transaction. ``active`` False frees
        the alias for its next deployment."""
        if self.disk is not None:
            self.disk.essential("a deployment's state change", self._save, doc, active, events)
        else:
            self._save(doc, active, events)

    def _save(self, doc: dict[str, Any], active: bool, events: Sequence[StoredEvent]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.deployments.update().where(t.deployments.c.id == doc["id"]).values(**_columns(doc, active=active))
            )
            _append(conn, doc["id"], events)

    def request_stop(self, deployment_id: str, event: StoredEvent) -> None:
        if self.disk is not None:
            self.disk.essential("StopDeployment", self._request_stop, deployment_id, event)
        else:
            self._request_stop(deployment_id, event)

    def _request_stop(self, deployment_id: str, event: StoredEvent) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.deployments.update().where(t.deployments.c.id == deployment_id).values(stop_requested=1))
            _append(conn, deployment_id, [event])

    def get(self, deployment_id: str) -> DeploymentRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.deployments.c.doc, t.deployments.c.stop_requested).where(t.deployments.c.id == deployment_id)
            ).first()
        return DeploymentRow(json.loads(row.doc), bool(row.stop_requested)) if row else None

    def find(self, function_name: str | None = None, active_only: bool = False) -> list[DeploymentRow]:
        """Newest first."""
        q = sa.select(t.deployments.c.doc, t.deployments.c.stop_requested).order_by(t.deployments.c.created_at.desc())
        if function_name is not None:
            q = q.where(t.deployments.c.function_name == function_name)
        if active_only:
            q = q.where(t.deployments.c.active == 1)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [DeploymentRow(json.loads(r.doc), bool(r.stop_requested)) for r in rows]

    def events(self, deployment_id: str) -> list[StoredEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.deployment_events)
                .where(t.deployment_events.c.deployment_id == deployment_id)
                .order_by(t.deployment_events.c.seq)
            ).all()
        return [StoredEvent(r.at, r.type, r.message, json.loads(r.details)) for r in rows]


def _columns(doc: dict[str, Any], *, active: bool) -> dict[str, Any]:
    return {
        "id": doc["id"], "function_name": doc["function_name"], "alias": doc["alias"], "status": doc["status"],
        "active": 1 if active else 0, "doc": json.dumps(doc),
    }


def _append(conn: sa.Connection, deployment_id: str, events: Sequence[StoredEvent]) -> None:
    if events:
        conn.execute(
            t.deployment_events.insert(),
            [
                {"deployment_id": deployment_id, "at": e.at, "type": e.type, "message": e.message,
                 "details": json.dumps(e.details)}
                for e in events
            ],
        )
