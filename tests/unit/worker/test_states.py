"""The execution environment's state machine: only the documented transitions are allowed; any
other raises IllegalTransition (instead of, say, invoking an environment nobody claimed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager
from lambent.settings import WorkerSettings
from lambent.worker.environment import ExecutionEnvironment, InvokeRequest
from lambent.worker.states import TRANSITIONS, EnvState, IllegalTransition, StateMachine

S, IDLE, B, D = EnvState.STARTING, EnvState.IDLE, EnvState.BUSY, EnvState.DEAD
LEGAL = {(S, B), (S, IDLE), (S, D), (B, IDLE), (B, D), (IDLE, B), (IDLE, D)}


class Machine(StateMachine):
    def __init__(self) -> None:
        self.env_id = "e1"
        self._init_state()


def machine_in(state: EnvState) -> Machine:
    m = Machine()
    path = {S: [], IDLE: [IDLE], B: [B], D: [D]}[state]
    for step in path:
        m.state = step
    return m


def test_the_transition_table_is_the_documented_lifecycle() -> None:
    assert {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts} == LEGAL


@pytest.mark.parametrize("current", list(EnvState))
@pytest.mark.parametrize("requested", list(EnvState))
def test_every_transition_is_allowed_or_raises(current: EnvState, requested: EnvState) -> None:
    m = machine_in(current)
    if (current, requested) in LEGAL:
        m.state = requested
        assert m.state is requested
    else:
        with pytest.raises(IllegalTransition) as exc:
            m.state = requested
        assert str(exc.value) == f"environment e1: illegal transition {current.value} -> {requested.value}"
        assert (exc.value.current, exc.value.requested) == (current, requested)
        assert m.state is current  # unchanged


def test_a_new_machine_is_starting() -> None:
    assert Machine().state is EnvState.STARTING


# -- the real ExecutionEnvironment ------------------------------------------------------------------


class FakeSandbox:
    exited = False

    def __init__(self) -> None:
        self.calls: list[str] = []

    def freeze(self) -> None:
        self.calls.append("freeze")

    def thaw(self) -> None:
        self.calls.append("thaw")

    async def destroy(self) -> None:
        self.calls.append("destroy")


def environment(tmp_path: Path) -> ExecutionEnvironment:
    cfg = FunctionConfig(name="f", runtime="python3.11", role="r", handler="app.handler", code_hash_hex="a" * 64,
                         code_sha256_b64="x", code_size=1, last_modified="now", revision_id="r1")
    catalog = RuntimeCatalog()
    return ExecutionEnvironment("env1", cfg, catalog.launch("python3.11"), tmp_path / "code",
                                cgroups=CgroupManager(root=str(tmp_path / "cg")), logs=LogStore(tmp_path / "logs"),
                                settings=WorkerSettings(freeze_after_ms=0), region="us-east-1")


async def test_an_environment_nobody_claimed_cannot_be_invoked(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with pytest.raises(IllegalTransition, match="environment env1: cannot invoke in state starting"):
        await env.invoke(InvokeRequest("r1", b"{}", "arn"))
    env.state = EnvState.IDLE  # parked: must be taken with unpark() first
    with pytest.raises(IllegalTransition, match="environment env1: cannot invoke in state idle"):
        await env.invoke(InvokeRequest("r1", b"{}", "arn"))
    await env.destroy()


async def test_park_and_unpark_follow_the_machine(tmp_path: Path) -> None:
    env = environment(tmp_path)
    sandbox = FakeSandbox()
    env._sandbox = sandbox  # type: ignore[assignment]
    env.state = EnvState.BUSY  # as start() leaves it
    env.park()
    assert env.state is EnvState.IDLE and sandbox.calls == ["freeze"]
    with pytest.raises(IllegalTransition, match="illegal transition idle -> idle"):
        env.park()  # parking twice would put it in the idle list twice
    env.unpark()
    assert env.state is EnvState.BUSY and sandbox.calls == ["freeze", "thaw"]
    with pytest.raises(IllegalTransition, match="illegal transition busy -> busy"):
        env.unpark()  # two invocations on one environment


async def test_dead_is_final_and_destroy_is_idempotent(tmp_path: Path) -> None:
    env = environment(tmp_path)
    sandbox = FakeSandbox()
    env._sandbox = sandbox  # type: ignore[assignment]
    await env.destroy("evicted")
    await env.destroy("again")
    assert env.state is EnvState.DEAD and sandbox.calls == ["destroy"] and env.death_reason == "evicted"
    with pytest.raises(IllegalTransition, match="illegal transition dead -> busy"):
        env.unpark()
    with pytest.raises(IllegalTransition, match="illegal transition dead -> idle"):
        env.park()
