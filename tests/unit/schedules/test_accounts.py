"""Schedules and schedule groups per account (issue 10), over a real database: rows an earlier
release stored with a bare group name become the server account's at load; two accounts each
have their own ``default`` group and may use the same names without seeing each other's; the
engine fires each account's schedule under that account's ARN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from lambent.errors import ResourceConflict, ResourceNotFound
from lambent.schedules import ManualClock, ScheduleEngine, SchedulerService
from lambent.schedules.model import DEFAULT_GROUP, ScheduleSpec, Target
from lambent.schedules.payloads import DeadLetter
from lambent.schedules.store import ScheduleStore, spec_to_json
from lambent.settings import ScheduleSettings
from lambent.store import Store
from lambent.store import schema as t

T0 = 1_767_261_600.0  # 2026-01-01T10:00:00Z
SERVER, OTHER = "000000000000", "111122223333"
REGION = "us-east-1"


def spec(account: str, expression: str = "rate(1 minute)") -> ScheduleSpec:
    return ScheduleSpec(expression, Target(f"arn:aws:lambda:{REGION}:{account}:function:worker",
                                           f"arn:aws:iam::{account}:role/scheduler", "worker"))


def service_on(db: Store, clock: ManualClock) -> SchedulerService:
    return SchedulerService(ScheduleStore(db.engine), clock, region=REGION, account_id=SERVER, rng=lambda: 0.5)


class Queue:
    """The Enqueuer protocol: records the function ARNs it was given."""

    def __init__(self) -> None:
        self.arns: list[str] = []

    async def enqueue_target(self, function_arn: str, qualifier: str | None, payload: bytes, *,
                             request_id: str | None = None) -> str:
        self.arns.append(function_arn)
        return request_id or "rid"


class NoDlq:
    async def send(self, letter: DeadLetter) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {letter}")


def _stored_groups(db: Store) -> list[str]:
    with db.engine.connect() as conn:
        return sorted(conn.execute(sa.select(t.schedule_groups.c.name)).scalars())


def _stored_schedules(db: Store) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        return sorted((r.group_name, r.name) for r in conn.execute(sa.select(t.schedules)))


def _write_bare_rows(db: Store, groups: list[str], schedules: list[tuple[str, str]]) -> None:
    """Rows as a release before issue 10 wrote them: group names without an account."""
    with db.engine.begin() as conn:
        for g in groups:
            conn.execute(t.schedule_groups.insert().values(name=g, created_at=T0 - 100, modified_at=T0 - 100,
                                                           tags=json.dumps([["team", "ops"]] if g == "ops" else [])))
        for g, n in schedules:
            conn.execute(t.schedules.insert().values(
                group_name=g, name=n, spec=json.dumps(spec_to_json(spec(SERVER))), created_at=T0 - 100,
                modified_at=T0 - 100, anchor=T0 - 100, next_occurrence=T0 + 20, fire_at=T0 + 20, last_occurrence=None))


async def test_rows_stored_before_accounts_become_the_server_accounts_at_load(tmp_path: Path) -> None:
    # Given a database an earlier release wrote: bare groups "default" and "ops", three schedules
    db = Store.open_in(tmp_path)
    _write_bare_rows(db, ["default", "ops"], [("default", "nightly"), ("ops", "a"), ("ops", "b")])
    # When the scheduler loads
    service = service_on(db, ManualClock(T0))
    await service.load()
    # Then every row is stored as the server account's, nothing lost, nothing added
    assert _stored_groups(db) == [f"{SERVER}:default", f"{SERVER}:ops"]
    assert _stored_schedules(db) == [(f"{SERVER}:default", "nightly"), (f"{SERVER}:ops", "a"), (f"{SERVER}:ops", "b")]
    # And the server account sees them as before (its plan and tags kept), another account sees none
    assert [(s.group, s.name) for s in service.list_schedules()] == [("default", "nightly"), ("ops", "a"), ("ops", "b")]
    assert service.plan("default", "nightly").fire_at == T0 + 20
    assert service.tags(f"arn:aws:scheduler:{REGION}:{SERVER}:schedule-group/ops") == {"team": "ops"}
    assert service.list_schedules(account=OTHER) == []
    with pytest.raises(ResourceNotFound, match="Schedule group ops does not exist."):
        service.get_group("ops", account=OTHER)
    # And a second load (a restart) changes nothing
    again = service_on(db, ManualClock(T0))
    await again.load()
    assert _stored_groups(db) == [f"{SERVER}:default", f"{SERVER}:ops"]
    assert [s.name for s in again.list_schedules()] == ["nightly", "a", "b"]


async def test_a_bare_default_next_to_an_owned_one_is_dropped_its_schedules_kept(tmp_path: Path) -> None:
    # Given an owned default group (this release) and a bare one (an older release ran meanwhile),
    # with a schedule the older release made in its bare default
    db = Store.open_in(tmp_path)
    await service_on(db, ManualClock(T0)).load()
    _write_bare_rows(db, ["default"], [("default", "made-by-old")])
    # When the scheduler loads again
    service = service_on(db, ManualClock(T0))
    await service.load()
    # Then one default group remains, and the schedule is the server account's
    assert _stored_groups(db) == [f"{SERVER}:default"]
    assert [(s.account, s.group, s.name) for s in service.list_schedules()] == [(SERVER, "default", "made-by-old")]


async def test_two_accounts_have_their_own_groups_and_schedules_of_the_same_names(tmp_path: Path) -> None:
    db = Store.open_in(tmp_path)
    clock = ManualClock(T0)
    service = service_on(db, clock)
    await service.load()
    # Given another account opened (its own default group, as AWS gives every account)
    await service.open_account(OTHER)
    assert [(g.account, g.name) for g in service.list_groups(account=OTHER)] == [(OTHER, DEFAULT_GROUP)]
    assert [(g.account, g.name) for g in service.list_groups()] == [(SERVER, DEFAULT_GROUP)]
    # When both create a schedule "nightly" in default and a group "ops" with a schedule in it
    await service.create("default", "nightly", spec(SERVER))
    await service.create("default", "nightly", spec(OTHER, "rate(5 minutes)"), account=OTHER)
    await service.create_group("ops", {"owner": "a"})
    await service.create_group("ops", {"owner": "b"}, account=OTHER)
    await service.create("ops", "x", spec(OTHER), account=OTHER)
    # Then each sees only its own
    assert [(s.group, s.name) for s in service.list_schedules()] == [("default", "nightly")]
    assert [(s.group, s.name) for s in service.list_schedules(account=OTHER)] == [("default", "nightly"), ("ops", "x")]
    assert service.get("default", "nightly", account=OTHER).spec.expression == "rate(5 minutes)"
    assert service.get("default", "nightly").spec.expression == "rate(1 minute)"
    with pytest.raises(ResourceNotFound, match="Schedule x does not exist."):
        service.get("ops", "x")
    with pytest.raises(ResourceConflict):
        await service.create("default", "nightly", spec(OTHER), account=OTHER)
    # And tags are reached by the owner's ARN only
    b_ops = f"arn:aws:scheduler:{REGION}:{OTHER}:schedule-group/ops"
    assert service.tags(b_ops, account=OTHER) == {"owner": "b"}
    with pytest.raises(ResourceNotFound):
        service.tags(b_ops)
    with pytest.raises(ResourceNotFound):
        await service.tag(b_ops, {"mine": "now"})
    # And deleting B's group and schedule leaves A's of the same names
    with pytest.raises(ResourceNotFound):
        await service.delete("ops", "x")
    await service.delete_group("ops", account=OTHER)
    await service.delete("default", "nightly", account=OTHER)
    assert service.list_schedules(account=OTHER) == []
    assert [s.name for s in service.list_schedules()] == ["nightly"]
    assert service.get_group("ops").tags == (("owner", "a"),)
    # And a restart reads the same separation back
    again = service_on(db, clock)
    await again.load()
    assert [(g.account, g.name) for g in again.list_groups(account=OTHER)] == [(OTHER, DEFAULT_GROUP)]
    assert [(s.account, s.name) for s in again.list_schedules()] == [(SERVER, "nightly")]


async def test_the_engine_fires_each_accounts_schedule_under_its_own_arn(tmp_path: Path) -> None:
    db = Store.open_in(tmp_path)
    clock = ManualClock(T0)
    service = service_on(db, clock)
    queue = Queue()
    engine = ScheduleEngine(service, enqueuer=queue, dead_letters=NoDlq(), settings=ScheduleSettings(), rng=lambda: 1.0)
    await engine.load()
    # Given both accounts with a schedule "tick" of the same name, each targeting its own function
    await service.create("default", "tick", spec(SERVER))
    await service.create("default", "tick", spec(OTHER), account=OTHER)
    # When a minute passes, the occurrences at T0 and T0 + 60 s fire
    clock.t = T0 + 60
    await engine.tick()
    # Then each account's function got its own schedule's two occurrences
    assert sorted(queue.arns) == 2 * [f"arn:aws:lambda:{REGION}:{SERVER}:function:worker"] + 2 * [
        f"arn:aws:lambda:{REGION}:{OTHER}:function:worker"]
    assert engine.enqueued == 4 and engine.pending == []
    # And each account's plan advanced independently
    assert service.plan("default", "tick").last_occurrence == T0 + 60
    assert service.plan("default", "tick", account=OTHER).last_occurrence == T0 + 60


async def test_a_delivery_carries_the_owners_schedule_arn(tmp_path: Path) -> None:
    db = Store.open_in(tmp_path)
    service = service_on(db, ManualClock(T0))
    await service.load()
    await service.create("default", "tick", spec(OTHER), account=OTHER)
    delivery = await service.fire((OTHER, "default", "tick"), T0 + 60)
    assert delivery is not None
    assert delivery.schedule_arn == f"arn:aws:scheduler:{REGION}:{OTHER}:schedule/default/tick"
    assert delivery.target.arn == f"arn:aws:lambda:{REGION}:{OTHER}:function:worker"
    assert await service.fire((SERVER, "default", "tick"), T0 + 60) is None  # no such schedule of the server's
