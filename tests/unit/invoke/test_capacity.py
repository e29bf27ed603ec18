"""The async dispatcher's decision (must_wait) as a pure function of a capacity snapshot: no pool,
no queue, no event loop."""

from __future__ import annotations

from dataclasses import dataclass, field

from lambent.invoke.capacity import Starvation, must_wait

MAX = 5.0
NOW = 100.0


@dataclass
class Snapshot:
    envs: dict[str, int] = field(default_factory=dict)
    room: bool = True
    concurrency: bool = True
    asked: list[str] = field(default_factory=list)

    def environments(self, function: str) -> int:
        return self.envs.get(function, 0)

    def has_concurrency(self, function: str) -> bool:
        self.asked.append("concurrency")
        return self.concurrency

    def has_room(self, function: str) -> bool:
        self.asked.append("room")
        return self.room

    def memory_mb(self, function: str) -> int:
        return 128


def decide(running: int, snap: Snapshot, starved: dict[str, float] | None = None) -> tuple[bool, Starvation]:
    v = must_wait("f", running, snap, starved or {}, NOW, MAX)
    return v.wait, v.starvation


def test_the_first_event_starts_and_clears_any_starvation() -> None:
    assert decide(0, Snapshot()) == (False, Starvation.CLEAR)
    assert decide(0, Snapshot(envs={"f": 1}, room=False)) == (False, Starvation.CLEAR)


def test_scale_out_is_one_environment_at_a_time() -> None:
    snap = Snapshot(envs={"f": 2})
    assert decide(1, snap) == (False, Starvation.KEEP)  # an idle one is there
    assert decide(2, snap) == (False, Starvation.KEEP)  # may cold-start a third
    assert decide(3, snap) == (True, Starvation.KEEP)  # more in flight than environments: wait


def test_with_events_running_one_that_would_be_throttled_waits() -> None:
    assert decide(2, Snapshot(envs={"f": 2}, room=False)) == (True, Starvation.KEEP)
    assert decide(2, Snapshot(envs={"f": 2}, concurrency=False)) == (True, Starvation.KEEP)


def test_with_nothing_running_a_throttled_function_is_attempted_as_on_aws() -> None:
    assert decide(0, Snapshot(room=False, concurrency=False)) == (False, Starvation.CLEAR)


def test_no_memory_for_a_first_environment_starves_for_a_bounded_time() -> None:
    snap = Snapshot(room=False)
    assert decide(0, snap) == (True, Starvation.MARK)  # starts an episode
    assert decide(0, snap, {"f": NOW - 1}) == (True, Starvation.MARK)  # still within it
    assert decide(0, snap, {"f": NOW - MAX - 1}) == (False, Starvation.MARK)  # over: attempt, be throttled


def test_others_keep_an_environment_idle_for_a_starved_function() -> None:
    starved = {"big": NOW - 1}
    assert decide(0, Snapshot(envs={"f": 1}), starved) == (True, Starvation.KEEP)
    assert decide(1, Snapshot(envs={"f": 2}), starved) == (True, Starvation.KEEP)  # leaves the 2nd idle
    assert decide(1, Snapshot(envs={"f": 3}), starved) == (False, Starvation.KEEP)
    # An episode too old no longer holds anybody back.
    assert decide(1, Snapshot(envs={"f": 2}), {"big": NOW - MAX - 1}) == (False, Starvation.KEEP)
    # Nor does the function's own record.
    assert decide(0, Snapshot(envs={"f": 1}), {"f": NOW - 1}) == (False, Starvation.CLEAR)


def test_capacity_is_asked_only_what_the_decision_needs() -> None:
    snap = Snapshot(envs={"f": 3})
    decide(1, snap)
    assert snap.asked == []  # an idle environment is there: nothing to ask
    decide(3, snap)
    assert snap.asked == ["concurrency", "room"]
