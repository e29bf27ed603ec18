"""The execution environment's states, as an explicit state machine.

Lifecycle (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):
``STARTING`` (sandbox up, runtime initialising) -> ``BUSY`` (serving the invocation that caused
the cold start, or ``IDLE`` for a start nobody waits on) <-> ``IDLE`` (parked in /next, frozen);
any state -> ``DEAD`` (timeout, crash,
OOM, init error, eviction, shutdown). ``DEAD`` is final. Any other transition is a bug in the
caller (e.g. invoking an environment nobody claimed, or parking one twice) and raises
:class:`IllegalTransition` instead of silently corrupting the pool's accounting.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class EnvState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


#: Allowed successors of each state. Tuples, not sets: membership tests identity first, so the
#: check on the warm path (unpark, park) costs no hashing of the enum members.
TRANSITIONS: Mapping[EnvState, tuple[EnvState, ...]] = {
    EnvState.STARTING: (EnvState.BUSY, EnvState.IDLE, EnvState.DEAD),
    EnvState.BUSY: (EnvState.IDLE, EnvState.DEAD),
    EnvState.IDLE: (EnvState.BUSY, EnvState.DEAD),
    EnvState.DEAD: (),
}


class IllegalTransition(RuntimeError):
    """An environment was asked to move to a state its current state does not lead to."""

    def __init__(self, env_id: str, current: EnvState, requested: EnvState, action: str | None = None) -> None:
        what = f"cannot {action} in state {current.value}" if action else \
            f"illegal transition {current.value} -> {requested.value}"
        super().__init__(f"environment {env_id}: {what}")
        self.current = current
        self.requested = requested


class StateMachine:
    """The state of one environment; :attr:`state` only changes along :data:`TRANSITIONS`.

    A mixin rather than a separate object so that reading ``env.state`` stays one attribute read.
    """

    env_id: str
    _state: EnvState
    _next: tuple[EnvState, ...]

    @property
    def state(self) -> EnvState:
        return self._state

    @state.setter
    def state(self, new: EnvState) -> None:
        if new not in self._next:
            raise IllegalTransition(self.env_id, self._state, new)
        self._state = new
        self._next = TRANSITIONS[new]

    def _init_state(self) -> None:
        self._state = EnvState.STARTING
        self._next = TRANSITIONS[EnvState.STARTING]
