"""Safe deployments, the values: :class:`Deployment` (frozen; persisted as JSON), its statuses,
phases and error codes, and the actions the decision core returns. See :mod:`lambent.deployments`."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambent.arns import FunctionKey
from lambent.control.model import Alias
from lambent.deployments.strategies import Step, TrafficRouting
from lambent.errors import (
    InvalidParameterValue,
)
from lambent.invoke.metrics import WindowReading
from lambent.store.deployments import (
    StoredEvent,
)

#: An entry of a deployment's event log (timestamps are epoch seconds).
Event = StoredEvent
#: Bytes of a hook's response kept in its event.
HOOK_RESPONSE_KEPT_BYTES = 1024


# == values ========================================================================================
class Status(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPED = "Stopped"
    ROLLED_BACK = "RolledBack"


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.STOPPED, Status.ROLLED_BACK})


class Phase(StrEnum):
    """CodeDeploy's Lambda lifecycle events, plus the rollback."""

    BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"
    ALLOW_TRAFFIC = "AllowTraffic"
    AFTER_ALLOW_TRAFFIC = "AfterAllowTraffic"
    ROLLBACK = "Rollback"
    END = "End"


class ErrorCode(StrEnum):
    """``ErrorInformation.Code``: CodeDeploy's codes where one fits, lambent's own otherwise."""

    HOOK_EXECUTION_FAILURE = "HOOK_EXECUTION_FAILURE"
    ALARM_ACTIVE = "ALARM_ACTIVE"
    MANUAL_STOP = "MANUAL_STOP"
    ALIAS_MODIFIED = "ALIAS_MODIFIED"
    RESOURCE_MISSING = "RESOURCE_MISSING"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True)
class Alarm:
    """Roll back when the new version's error rate over the window exceeds ``error_rate``, once
    the window holds at least ``min_invocations`` of its invocations."""

    error_rate: float
    min_invocations: int

    def __post_init__(self) -> None:
        if isinstance(self.error_rate, bool) or not isinstance(self.error_rate, (int, float)) or not 0.0 <= self.error_rate < 1.0:
            raise InvalidParameterValue(f"Invalid error-rate threshold {self.error_rate!r}: must be a number in [0, 1).")
        if isinstance(self.min_invocations, bool) or not isinstance(self.min_invocations, int) or self.min_invocations < 1:
            raise InvalidParameterValue(f"Invalid minimum invocations {self.min_invocations!r}: must be an integer >= 1.")

    def fires(self, reading: WindowReading) -> bool:
        return reading.invocations >= self.min_invocations and reading.error_rate > self.error_rate


@dataclass(frozen=True)
class AliasState:
    """What a deployment expects an alias to look like (its routing part)."""

    function_version: str
    additional_version: str | None = None
    additional_weight: float = 0.0

    @classmethod
    def of(cls, alias: Alias) -> AliasState:
        return cls(alias.function_version, alias.additional_version,
                   alias.additional_weight if alias.additional_version else 0.0)

    def describe(self) -> str:
        if self.additional_version is None:
            return f"version {self.function_version}"
        return f"version {self.function_version} + {self.additional_weight:.0%} to {self.additional_version}"


@dataclass(frozen=True)
class Deployment:
    """One deployment and its progress. Replaced, never mutated."""

    id: str
    #: The function's key (``ACCOUNT:function:NAME``): the deployment is that account's.
    function_name: FunctionKey
    alias: str
    from_version: str
    to_version: str
    routing: TrafficRouting
    steps: tuple[Step, ...]
    #: DeploySettings.time_scale when it was created (a restart keeps the schedule it started with).
    time_scale: float
    created_at: float
    pre_hook: str | None = None
    post_hook: str | None = None
    alarm: Alarm | None = None
    status: Status = Status.IN_PROGRESS
    phase: Phase = Phase.BEFORE_ALLOW_TRAFFIC
    #: When each applied step was applied; ``len(applied)`` steps are done.
    applied: tuple[float, ...] = ()
    #: Start of AllowTraffic: step ``i`` is due at ``shift_started_at + steps[i].offset_s * time_scale``.
    shift_started_at: float | None = None
    stop_requested: bool = False
    #: During a rollback: the status it ends with once the alias is restored.
    rollback_status: Status | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    updated_at: float = 0.0
    completed_at: float | None = None

    def replace(self, **changes: Any) -> Deployment:
        return dataclasses.replace(self, **changes)

    @property
    def applied_steps(self) -> int:
        return len(self.applied)

    @property
    def current_weight(self) -> float:
        """Share of the alias's traffic the target version gets (per the persisted progress)."""
        if self.status in (Status.STOPPED, Status.ROLLED_BACK):
            return 0.0
        return self.steps[self.applied_steps - 1].weight if self.applied else 0.0

    def due_at(self, index: int) -> float | None:
        if self.shift_started_at is None:
            return None
        return self.shift_started_at + self.steps[index].offset_s * self.time_scale

    def alias_state(self, index: int) -> AliasState:
        """The alias after step ``index`` (``-1``: before the first one)."""
        if index < 0:
            return AliasState(self.from_version)
        weight = self.steps[index].weight
        if weight >= 1.0:
            return AliasState(self.to_version)
        return AliasState(self.from_version, self.to_version, weight)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "function_name": self.function_name, "alias": self.alias,
            "from_version": self.from_version, "to_version": self.to_version,
            "routing": self.routing.to_wire(), "steps": [[s.weight, s.offset_s] for s in self.steps],
            "time_scale": self.time_scale, "created_at": self.created_at,
            "pre_hook": self.pre_hook, "post_hook": self.post_hook,
            "alarm": dataclasses.asdict(self.alarm) if self.alarm else None,
            "status": self.status.value, "phase": self.phase.value, "applied": list(self.applied),
            "shift_started_at": self.shift_started_at, "stop_requested": self.stop_requested,
            "rollback_status": self.rollback_status.value if self.rollback_status else None,
            "error_code": self.error_code.value if self.error_code else None,
            "error_message": self.error_message, "updated_at": self.updated_at, "completed_at": self.completed_at,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Deployment:
        return cls(
            id=d["id"], function_name=FunctionKey(d["function_name"]), alias=d["alias"],
            from_version=d["from_version"], to_version=d["to_version"],
            routing=TrafficRouting.from_wire(d["routing"]), steps=tuple(Step(w, o) for w, o in d["steps"]),
            time_scale=d["time_scale"], created_at=d["created_at"], pre_hook=d.get("pre_hook"),
            post_hook=d.get("post_hook"), alarm=Alarm(**d["alarm"]) if d.get("alarm") else None,
            status=Status(d["status"]), phase=Phase(d["phase"]), applied=tuple(d.get("applied") or ()),
            shift_started_at=d.get("shift_started_at"), stop_requested=bool(d.get("stop_requested")),
            rollback_status=Status(d["rollback_status"]) if d.get("rollback_status") else None,
            error_code=ErrorCode(d["error_code"]) if d.get("error_code") else None,
            error_message=d.get("error_message"), updated_at=d.get("updated_at") or 0.0,
            completed_at=d.get("completed_at"),
        )


# == decision core (pure) ==========================================================================
@dataclass(frozen=True)
class RunHook:
    phase: Phase
    function: str


@dataclass(frozen=True)
class Shift:
    index: int


@dataclass(frozen=True)
class WaitUntil:
    at: float


@dataclass(frozen=True)
class Restore:
    """Put the alias back at 100 % of the original version."""


@dataclass(frozen=True)
class Finished:
    pass


Action = RunHook | Shift | WaitUntil | Restore | Finished


@dataclass(frozen=True)
class Decision:
    deployment: Deployment
    events: tuple[Event, ...]
    action: Action


