"""Durable state of the scheduler: SQL (SQLAlchemy Core) on the server's database.

Synchronous, like :class:`lambent.store.Store`; async callers run it in a thread. The tables are
defined with the others in :mod:`lambent.store.schema`. :meth:`ScheduleStore.fire` is the one
place an occurrence becomes a delivery: the schedule's new plan and the outbox row are written in
one transaction, so an occurrence is either still to fire or has exactly one delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lambent.schedules.model import (
    ActionAfterCompletion,
    Delivery,
    Plan,
    RetryPolicy,
    Schedule,
    ScheduleGroup,
    ScheduleSpec,
    ScheduleState,
    Target,
)
from lambent.store import schema as t


@dataclass(frozen=True)
class NewDelivery:
    execution_id: str
    schedule_arn: str
    scheduled_time: float
    created_at: float
    target: Target


class ScheduleStore:
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
    def load_groups(self) -> list[ScheduleGroup]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.schedule_groups)).all()
        return [
            ScheduleGroup(r.name, r.created_at, r.modified_at, tuple((k, v) for k, v in json.loads(r.tags)))
            for r in rows
        ]

    def put_group(self, group: ScheduleGroup) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedule_groups.delete().where(t.schedule_groups.c.name == group.name))
            conn.execute(t.schedule_groups.insert().values(
                name=group.name, created_at=group.created_at, modified_at=group.modified_at,
                tags=json.dumps([list(kv) for kv in group.tags]),
            ))

    def delete_group(self, name: str) -> None:
        """Delete a group and every schedule in it."""
        with self.engine.begin() as conn:
            conn.execute(t.schedules.delete().where(t.schedules.c.group_name == name))
            conn.execute(t.schedule_groups.delete().where(t.schedule_groups.c.name == name))

    # -- schedules --------------------------------------------------------------------------------
    def load_schedules(self) -> list[tuple[Schedule, Plan]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.schedules)).all()
        return [
            (
                Schedule(r.group_name, r.name, spec_from_json(json.loads(r.spec)), r.created_at, r.modified_at),
                Plan(r.anchor, r.next_occurrence, r.fire_at, r.last_occurrence),
            )
            for r in rows
        ]

    def insert_schedule(self, schedule: Schedule, plan: Plan) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedules.insert().values(
                group_name=schedule.group, name=schedule.name, **_schedule_values(schedule), **_plan_values(plan)
            ))

    def update_schedule(self, schedule: Schedule, plan: Plan) -> None:
        with self.engine.begin() as conn:
            conn.execute(_where(t.schedules.update(), schedule.group, schedule.name).values(
                **_schedule_values(schedule), **_plan_values(plan)
            ))

    def save_plan(self, group: str, name: str, plan: Plan) -> None:
        with self.engine.begin() as conn:
            conn.execute(_where(t.schedules.update(), group, name).values(**_plan_values(plan)))

    def delete_schedule(self, group: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_where(t.schedules.delete(), group, name))

    def fire(self, group: str, name: str, plan: Plan | None, new: NewDelivery) -> Delivery | None:
        """Atomically: record the schedule's plan after this occurrence (``plan`` None: delete the
        schedule, it is complete) and add the delivery. None if the schedule is gone."""
        with self.engine.begin() as conn:
            if plan is None:
                done = conn.execute(_where(t.schedules.delete(), group, name))
            else:
                done = conn.execute(_where(t.schedules.update(), group, name).values(**_plan_values(plan)))
            if done.rowcount == 0:
                return None
            result = conn.execute(t.schedule_deliveries.insert().values(
                execution_id=new.execution_id, schedule_arn=new.schedule_arn, scheduled_time=new.scheduled_time,
                created_at=new.created_at, target=json.dumps(target_to_json(new.target)), attempts=0,
                next_attempt_at=new.created_at, last_error_code="", last_error_message="",
            ))
            delivery_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Delivery(delivery_id, new.execution_id, new.schedule_arn, new.scheduled_time, new.created_at,
                        new.target, 0, new.created_at)

    # -- deliveries -------------------------------------------------------------------------------
    def load_deliveries(self) -> list[Delivery]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.schedule_deliveries).order_by(t.schedule_deliveries.c.id)).all()
        return [
            Delivery(r.id, r.execution_id, r.schedule_arn, r.scheduled_time, r.created_at,
                     target_from_json(json.loads(r.target)), r.attempts, r.next_attempt_at,
                     r.last_error_code, r.last_error_message)
            for r in rows
        ]

    def update_delivery(self, d: Delivery) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedule_deliveries.update().where(t.schedule_deliveries.c.id == d.id).values(
                attempts=d.attempts, next_attempt_at=d.next_attempt_at,
                last_error_code=d.last_error_code, last_error_message=d.last_error_message,
            ))

    def delete_delivery(self, delivery_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.schedule_deliveries.delete().where(t.schedule_deliveries.c.id == delivery_id))


def _where(stmt: Any, group: str, name: str) -> Any:
    return stmt.where((t.schedules.c.group_name == group) & (t.schedules.c.name == name))


def _schedule_values(schedule: Schedule) -> dict[str, Any]:
    return {"spec": json.dumps(spec_to_json(schedule.spec)), "created_at": schedule.created_at,
            "modified_at": schedule.modified_at}


def _plan_values(plan: Plan) -> dict[str, Any]:
    return {"anchor": plan.anchor, "next_occurrence": plan.next_occurrence, "fire_at": plan.fire_at,
            "last_occurrence": plan.last_occurrence}


def target_to_json(target: Target) -> dict[str, Any]:
    return {
        "arn": target.arn, "role_arn": target.role_arn, "function_name": target.function_name,
        "qualifier": target.qualifier, "input": target.input,
        "max_retry_attempts": target.retry_policy.max_retry_attempts,
        "max_event_age_s": target.retry_policy.max_event_age_s, "dead_letter_arn": target.dead_letter_arn,
    }


def target_from_json(d: dict[str, Any]) -> Target:
    return Target(
        arn=d["arn"], role_arn=d["role_arn"], function_name=d["function_name"], qualifier=d.get("qualifier"),
        input=d.get("input"), retry_policy=RetryPolicy(d["max_retry_attempts"], d["max_event_age_s"]),
        dead_letter_arn=d.get("dead_letter_arn"),
    )


def spec_to_json(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "expression": spec.expression, "target": target_to_json(spec.target), "timezone": spec.timezone,
        "start_date": spec.start_date, "end_date": spec.end_date, "description": spec.description,
        "state": spec.state.value, "kms_key_arn": spec.kms_key_arn,
        "flexible_window_min": spec.flexible_window_min,
        "action_after_completion": spec.action_after_completion.value,
    }


def spec_from_json(d: dict[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(
        expression=d["expression"], target=target_from_json(d["target"]), timezone=d["timezone"],
        start_date=d.get("start_date"), end_date=d.get("end_date"), description=d.get("description"),
        state=ScheduleState(d["state"]), kms_key_arn=d.get("kms_key_arn"),
        flexible_window_min=d.get("flexible_window_min"),
        action_after_completion=ActionAfterCompletion(d["action_after_completion"]),
    )
