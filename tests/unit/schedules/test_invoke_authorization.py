"""May an AWS service acting with a role invoke a function? (lambent/iam/service_calls.py)

The decision Scheduler (a schedule's Target.RoleArn) and Lambda (a destination, with the source
function's execution role) are held to: the role's trust must name the service, the role's
identity policies must allow lambda:InvokeFunction on the function as named, an explicit deny
wins, and a function of another account must allow the role in its own policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambent.errors import AccessDenied
from lambent.iam.authorize import Authorizer
from lambent.iam.model import OwnerKind
from lambent.iam.policy import CompiledPolicy, PolicyKind, compile_policy
from lambent.iam.service import IamService
from lambent.iam.service_calls import LAMBDA, SCHEDULER, Parts, ServiceCalls, may_invoke, session_name
from lambent.schedules import ManualClock, ScheduleEngine, SchedulerService
from lambent.schedules.model import RetryPolicy, ScheduleSpec, Target
from lambent.schedules.payloads import DeadLetter
from lambent.schedules.store import ScheduleStore
from lambent.settings import ScheduleSettings
from lambent.store import Store

ACCOUNT = "000000000000"
ROOT_KEYS = ("LKIAROOTROOTROOTROOT", "root-secret-root-secret-root-secret-0000")
FN = "arn:aws:lambda:us-east-1:000000000000:function:target"
OTHER_FN = "arn:aws:lambda:us-east-1:000000000000:function:other"


def _trust(*services: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}]})


def _allow(resource: str, effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": "lambda:InvokeFunction", "Resource": resource}]})


class World:
    def __init__(self, iam: IamService) -> None:
        self.iam = iam
        self.policies: dict[str, CompiledPolicy] = {}
        self.authorizer = Authorizer(iam)
        self.calls = ServiceCalls(Parts(iam, self.authorizer, self.policies.get))

    def role(self, name: str, trust: str, *policies: str, account: str = ACCOUNT) -> str:
        role = self.iam.create_role(account, name, trust)
        for n, doc in enumerate(policies):
            self.iam.put_inline_policy(account, OwnerKind.ROLE, name, f"p{n}", doc)
        return role.arn


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    iam = IamService.open_in(tmp_path, ACCOUNT, ROOT_KEYS)
    yield World(iam)
    iam.close()


def test_a_role_trusting_the_service_and_allowing_the_function_may_invoke_it(world: World) -> None:
    role = world.role("sched", _trust(SCHEDULER), _allow(FN))
    found = world.calls.may_invoke(SCHEDULER, role, FN)
    assert found.allowed
    world.calls.check_invoke(SCHEDULER, role, FN)  # no error
    # the grant is for that function only, as named
    assert not world.calls.may_invoke(SCHEDULER, role, OTHER_FN).allowed
    assert not world.calls.may_invoke(SCHEDULER, role, FN + ":prod").allowed


def test_a_qualified_target_needs_a_grant_covering_its_qualifier(world: World) -> None:
    role = world.role("sched", _trust(SCHEDULER), _allow(FN + ":*"))
    assert world.calls.may_invoke(SCHEDULER, role, FN + ":live").allowed
    assert not world.calls.may_invoke(SCHEDULER, role, FN).allowed


def test_a_role_whose_trust_does_not_name_the_service_is_refused_whatever_it_allows(world: World) -> None:
    # Given a role Lambda may assume but Scheduler may not, allowed to invoke everything
    role = world.role("lambda-only", _trust(LAMBDA), _allow("*"))
    # Then Scheduler cannot act with it
    with pytest.raises(AccessDenied) as denied:
        world.calls.may_invoke(SCHEDULER, role, FN)
    assert denied.value.message == (
        f"scheduler.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: {role}")
    # and Lambda can
    assert world.calls.may_invoke(LAMBDA, role, FN).allowed


def test_a_missing_role_is_refused_like_an_untrusting_one(world: World) -> None:
    missing = "arn:aws:iam::000000000000:role/nobody"
    with pytest.raises(AccessDenied, match="scheduler.amazonaws.com is not authorized to perform: sts:AssumeRole"):
        world.calls.check_invoke(SCHEDULER, missing, FN)


def test_a_role_without_an_identity_policy_is_denied_with_aws_text(world: World) -> None:
    role = world.role("bare", _trust(SCHEDULER))
    assert not world.calls.may_invoke(SCHEDULER, role, FN).allowed
    with pytest.raises(AccessDenied) as denied:
        world.calls.check_invoke(SCHEDULER, role, FN)
    assert denied.value.message == (
        "User: arn:aws:sts::000000000000:assumed-role/bare/scheduler is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {FN} because no identity-based policy allows the "
        "lambda:InvokeFunction action")


def test_an_explicit_deny_wins_over_an_allow(world: World) -> None:
    role = world.role("denied", _trust(SCHEDULER), _allow("*"), _allow(FN, effect="Deny"))
    assert not world.calls.may_invoke(SCHEDULER, role, FN).allowed
    assert world.calls.may_invoke(SCHEDULER, role, OTHER_FN).allowed
    with pytest.raises(AccessDenied, match="with an explicit deny in an identity-based policy"):
        world.calls.check_invoke(SCHEDULER, role, FN)


def test_a_function_of_another_account_needs_its_own_policy_to_allow_the_role(world: World) -> None:
    # Given a role in another account, allowed by its own policies to invoke our function
    other, _ = world.iam.create_account("other")
    role = world.role("x", _trust(SCHEDULER), _allow(FN), account=other.account_id)
    # Then without a function policy it is denied (cross-account: both sides must allow)
    assert not world.calls.may_invoke(SCHEDULER, role, FN).allowed
    # When the function's policy allows that role
    world.policies[FN] = compile_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "x", "Effect": "Allow", "Principal": {"AWS": role}, "Action": "lambda:InvokeFunction",
         "Resource": FN}]}), PolicyKind.RESOURCE)
    assert world.calls.may_invoke(SCHEDULER, role, FN).allowed
    # But not a role the function's policy does not name
    stranger = world.role("y", _trust(SCHEDULER), _allow(FN), account=other.account_id)
    assert not world.calls.may_invoke(SCHEDULER, stranger, FN).allowed


def test_policy_changes_apply_at_the_next_decision(world: World) -> None:
    role = world.role("changing", _trust(SCHEDULER), _allow(FN))
    assert world.calls.may_invoke(SCHEDULER, role, FN).allowed
    world.iam.delete_inline_policy(ACCOUNT, OwnerKind.ROLE, "changing", "p0")
    assert not world.calls.may_invoke(SCHEDULER, role, FN).allowed
    world.iam.put_inline_policy(ACCOUNT, OwnerKind.ROLE, "changing", "p0", _allow(FN))
    assert world.calls.may_invoke(SCHEDULER, role, FN).allowed
    # a new trust that no longer names Scheduler applies at once too
    world.iam.update_assume_role_policy(ACCOUNT, "changing", _trust(LAMBDA))
    with pytest.raises(AccessDenied):
        world.calls.may_invoke(SCHEDULER, role, FN)


def test_decisions_reuse_compiled_policies(world: World) -> None:
    role = world.role("hot", _trust(SCHEDULER), _allow(FN))
    for _ in range(50):
        assert world.calls.may_invoke(SCHEDULER, role, FN).allowed
    assert world.authorizer.cache.misses == 1
    assert world.authorizer.cache.hits == 49


def test_the_one_off_form_and_the_checker_give_the_same_answers(world: World) -> None:
    role = world.role("s", _trust(SCHEDULER), _allow(FN))
    parts = Parts(world.iam, world.authorizer, world.policies.get)
    assert may_invoke(parts, SCHEDULER, role, FN).allowed
    check = world.calls.checker(SCHEDULER)
    check(role, FN)
    with pytest.raises(AccessDenied):
        check(role, OTHER_FN)


def test_a_session_principal_has_no_key_anyone_could_sign_with(world: World) -> None:
    # the principal built for evaluation is never registered: no empty key id resolves
    role = world.role("s", _trust(SCHEDULER), _allow(FN))
    world.calls.may_invoke(SCHEDULER, role, FN)
    assert world.iam.lookup("") is None


def test_session_names_are_what_sts_accepts() -> None:
    assert session_name("scheduler") == "scheduler"
    assert session_name("a b/c") == "a-b-c"
    assert session_name("x") == "x-"
    assert len(session_name("n" * 200)) == 64


# -- the schedule engine holds each attempt to that decision ------------------------------------

T0 = 1_767_261_600.0  # 2026-01-01T10:00:00Z
DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"


class _Queue:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None]] = []

    async def enqueue_target(self, function_arn: str, qualifier: str | None, payload: bytes, *,
                             request_id: str | None = None) -> str:
        self.events.append((function_arn.split(":")[6], qualifier))
        return request_id or "rid"


class _Dlq:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


@pytest.fixture
async def engine_world(tmp_path: Path, world: World) -> tuple[World, ScheduleEngine, _Queue, _Dlq, ManualClock]:
    db = Store.open_in(tmp_path / "db")
    clock = ManualClock(T0)
    service = SchedulerService(ScheduleStore(db.engine), clock, region="us-east-1", account_id=ACCOUNT,
                               missed_grace_s=300.0, rng=lambda: 0.5)
    queue, dlq = _Queue(), _Dlq()
    engine = ScheduleEngine(service, enqueuer=queue, dead_letters=dlq, settings=ScheduleSettings(),
                            rng=lambda: 1.0, invoke_check=world.calls.checker(SCHEDULER))
    await service.load()
    return world, engine, queue, dlq, clock


def _spec(role: str, **target_kw: object) -> ScheduleSpec:
    return ScheduleSpec("at(2026-01-01T10:00:00)", Target(FN, role, "target", **target_kw))  # type: ignore[arg-type]


async def _turns(engine: ScheduleEngine, clock: ManualClock, *seconds: float) -> None:
    for s in seconds:
        clock.t = T0 + s
        await engine.tick()


async def test_an_allowed_schedule_reaches_its_target(
        engine_world: tuple[World, ScheduleEngine, _Queue, _Dlq, ManualClock]) -> None:
    world, engine, queue, dlq, clock = engine_world
    role = world.role("ok", _trust(SCHEDULER), _allow(FN))
    await engine.service.create("default", "s", _spec(role))
    await _turns(engine, clock, 0)
    assert queue.events == [("target", None)]
    assert (engine.enqueued, dlq.letters, engine.pending) == (1, [], [])


async def test_a_denied_schedule_is_retried_then_dead_lettered_with_the_denial(
        engine_world: tuple[World, ScheduleEngine, _Queue, _Dlq, ManualClock]) -> None:
    # Given a schedule whose role Scheduler may assume but which may not invoke the target
    world, engine, queue, dlq, clock = engine_world
    role = world.role("nope", _trust(SCHEDULER))
    await engine.service.create("default", "s", _spec(role, retry_policy=RetryPolicy(2, 3600), dead_letter_arn=DLQ))
    # When its occurrence is attempted three times (retries 1 s and 2 s apart)
    await _turns(engine, clock, 0, 1, 3, 100)
    # Then the target never ran, and the dead-letter queue got AWS's attributes with the denial
    assert queue.events == []
    (letter,) = dlq.letters
    assert letter.attributes["ERROR_CODE"] == "AccessDeniedException"
    assert letter.attributes["ERROR_MESSAGE"] == (
        "User: arn:aws:sts::000000000000:assumed-role/nope/scheduler is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {FN} because no identity-based policy allows the "
        "lambda:InvokeFunction action")
    assert letter.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert letter.attributes["RETRY_ATTEMPTS"] == "2"
    assert letter.attributes["TARGET_ARN"] == FN
    assert engine.pending == []


async def test_an_untrusting_role_is_a_failed_attempt_and_a_fixed_role_delivers_on_retry(
        engine_world: tuple[World, ScheduleEngine, _Queue, _Dlq, ManualClock]) -> None:
    world, engine, queue, dlq, clock = engine_world
    role = world.role("later", _trust(LAMBDA), _allow(FN))
    await engine.service.create("default", "s", _spec(role, dead_letter_arn=DLQ))
    await _turns(engine, clock, 0)
    (pending,) = engine.pending
    assert pending.last_error_code == "AccessDeniedException"
    assert "sts:AssumeRole" in pending.last_error_message
    # When the role comes to trust Scheduler, Then the retry runs the target
    world.iam.update_assume_role_policy(ACCOUNT, "later", _trust(LAMBDA, SCHEDULER))
    await _turns(engine, clock, 1)
    assert queue.events == [("target", None)]
    assert dlq.letters == [] and engine.pending == []
