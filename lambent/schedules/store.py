"""Durable state of the scheduler: its values to and from rows of the server's database. The SQL
is :mod:`lambent.store.schedules`' (tables in :mod:`lambent.store.schema`); no SQL here.

Synchronous, like :class:`lambent.store.Store`; async callers run it in a thread. :meth:`ScheduleStore.fire` is the one
place an occurrence becomes a delivery: the schedule's new plan and the outbox row are written in
one transaction, so an occurrence is either still to fire or has exactly one delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
from lambent.store.schedules import Engine, ScheduleTables, owned_group, split_group


@dataclass(frozen=True)
class NewDelivery:
    execution_id: str
    schedule_arn: str
    scheduled_time: float
    created_at: float
    target: Target


class ScheduleStore:
    """Scope: one per server (shares the server's engine). The scheduler's values to and from the
    rows of :class:`lambent.store.schedules.ScheduleTables` (which holds the SQL). Groups are
    ``(account, group)`` here and ``ACCOUNT:GROUP`` in the rows. Rows stored before schedules were
    per account belong to the server's account: :meth:`adopt_unowned` stores them as such, and a
    load reads any still bare as ``unowned_account``'s."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tables = ScheduleTables(engine)

    # -- accounts ---------------------------------------------------------------------------------
    def adopt_unowned(self, account: str) -> int:
        """Rows written before schedules were per account become ``account``'s (the server's),
        stored as such; how many rows changed."""
        return self.tables.adopt_unowned(account)

    # -- clock ------------------------------------------------------------------------------------
    def load_clock(self) -> tuple[float, float, float] | None:
        return self.tables.load_clock()

    def save_clock(self, saved: tuple[float, float, float]) -> None:
        self.tables.save_clock(saved)

    # -- groups -----------------------------------------------------------------------------------
    def load_groups(self, unowned_account: str) -> list[ScheduleGroup]:
        return [
            ScheduleGroup(group, r["created_at"], r["modified_at"], account,
                          tuple((k, v) for k, v in json.loads(r["tags"])))
            for r in self.tables.load_groups()
            for account, group in [split_group(r["name"], unowned_account)]
        ]

    def put_group(self, group: ScheduleGroup) -> None:
        self.tables.put_group({"name": owned_group(group.account, group.name), "created_at": group.created_at, "modified_at": group.modified_at,
                               "tags": json.dumps([list(kv) for kv in group.tags])})

    def delete_group(self, account: str, name: str) -> None:
        """Delete ``account``'s group and every schedule in it."""
        self.tables.delete_group(owned_group(account, name))

    # -- schedules --------------------------------------------------------------------------------
    def load_schedules(self, unowned_account: str) -> list[tuple[Schedule, Plan]]:
        return [
            (
                Schedule(group, r["name"], spec_from_json(json.loads(r["spec"])), r["created_at"],
                         r["modified_at"], account),
                Plan(r["anchor"], r["next_occurrence"], r["fire_at"], r["last_occurrence"]),
            )
            for r in self.tables.load_schedules()
            for account, group in [split_group(r["group_name"], unowned_account)]
        ]

    def insert_schedule(self, schedule: Schedule, plan: Plan) -> None:
        self.tables.insert_schedule(owned_group(schedule.account, schedule.group), schedule.name, {**_schedule_values(schedule), **_plan_values(plan)})

    def update_schedule(self, schedule: Schedule, plan: Plan) -> None:
        self.tables.update_schedule(owned_group(schedule.account, schedule.group), schedule.name, {**_schedule_values(schedule), **_plan_values(plan)})

    def save_plan(self, account: str, group: str, name: str, plan: Plan) -> None:
        self.tables.update_schedule(owned_group(account, group), name, _plan_values(plan))

    def delete_schedule(self, account: str, group: str, name: str) -> None:
        self.tables.delete_schedule(owned_group(account, group), name)

    def fire(self, account: str, group: str, name: str, plan: Plan | None, new: NewDelivery) -> Delivery | None:
        """Atomically: record the schedule's plan after this occurrence (``plan`` None: delete the
        schedule, it is complete) and add the delivery. None if the schedule is gone."""
        delivery_id = self.tables.fire(owned_group(account, group), name, None if plan is None else _plan_values(plan), {
            "execution_id": new.execution_id, "schedule_arn": new.schedule_arn, "scheduled_time": new.scheduled_time,
            "created_at": new.created_at, "target": json.dumps(target_to_json(new.target)), "attempts": 0,
            "next_attempt_at": new.created_at, "last_error_code": "", "last_error_message": "",
        })
        if delivery_id is None:
            return None
        return Delivery(delivery_id, new.execution_id, new.schedule_arn, new.scheduled_time, new.created_at,
                        new.target, 0, new.created_at)

    # -- deliveries -------------------------------------------------------------------------------
    def load_deliveries(self) -> list[Delivery]:
        return [
            Delivery(r["id"], r["execution_id"], r["schedule_arn"], r["scheduled_time"], r["created_at"],
                     target_from_json(json.loads(r["target"])), r["attempts"], r["next_attempt_at"],
                     r["last_error_code"], r["last_error_message"])
            for r in self.tables.load_deliveries()
        ]

    def update_delivery(self, d: Delivery) -> None:
        self.tables.update_delivery(d.id, {"attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
                                           "last_error_code": d.last_error_code,
                                           "last_error_message": d.last_error_message})

    def delete_delivery(self, delivery_id: int) -> None:
        self.tables.delete_delivery(delivery_id)


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
