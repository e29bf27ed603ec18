"""The domain values of EventBridge Scheduler: schedules, their targets and groups.

Frozen dataclasses with AWS's enum strings; the wire shapes live in ``lambent.api.scheduler_api``.
Wall-clock instants (``created_at``, ``start_date`` ...) are epoch seconds as the caller sees them;
the engine's own bookkeeping is in *schedule time* (see :mod:`lambent.schedules.clock`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_GROUP = "default"
#: AWS's defaults when a target has no RetryPolicy (GetSchedule returns them).
DEFAULT_MAX_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_S = 86400
#: What a Lambda target receives when the schedule has no Input.
DEFAULT_INPUT = "{}"


class ScheduleState(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class FlexibleMode(StrEnum):
    OFF = "OFF"
    FLEXIBLE = "FLEXIBLE"


class ActionAfterCompletion(StrEnum):
    NONE = "NONE"
    DELETE = "DELETE"


class ExhaustedCondition(StrEnum):
    """Why retries stopped: the DLQ message attribute ``EXHAUSTED_RETRY_CONDITION``."""

    ATTEMPTS = "MaximumRetryAttempts"
    AGE = "MaximumEventAgeInSeconds"


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_s: int = DEFAULT_MAX_EVENT_AGE_S


@dataclass(frozen=True)
class Target:
    """A Lambda function target (``arn`` may carry a version or alias qualifier)."""

    arn: str
    role_arn: str
    function_name: str
    qualifier: str | None = None
    input: str | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter_arn: str | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """What a caller defines with CreateSchedule / UpdateSchedule (UpdateSchedule replaces it all)."""

    expression: str
    target: Target
    timezone: str = "UTC"
    start_date: float | None = None
    end_date: float | None = None
    description: str | None = None
    state: ScheduleState = ScheduleState.ENABLED
    kms_key_arn: str | None = None
    #: None: FlexibleTimeWindow Mode OFF.
    flexible_window_min: int | None = None
    action_after_completion: ActionAfterCompletion = ActionAfterCompletion.NONE

    @property
    def flexible_window_s(self) -> float:
        return 60.0 * self.flexible_window_min if self.flexible_window_min else 0.0


@dataclass(frozen=True)
class Schedule:
    """A schedule of one account: ``(account, group, name)`` identifies it (two accounts may each
    have ``default/nightly``); its ARN carries ``account``."""

    group: str
    name: str
    spec: ScheduleSpec
    created_at: float
    modified_at: float
    account: str


@dataclass(frozen=True)
class ScheduleGroup:
    """A schedule group of one account (every account has its own ``default``)."""

    name: str
    created_at: float
    modified_at: float
    account: str
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Plan:
    """The engine's durable bookkeeping for one schedule, in schedule time.

    ``next_occurrence`` is the next instant the expression yields that has not fired;
    ``fire_at`` is when it will fire (later than the occurrence inside a flexible window);
    ``last_occurrence`` is the newest occurrence that fired: nothing at or before it fires again.
    ``anchor`` is where rate expressions count from (StartDate, else the creation time).
    """

    anchor: float
    next_occurrence: float | None = None
    fire_at: float | None = None
    last_occurrence: float | None = None


@dataclass(frozen=True)
class Delivery:
    """One fired occurrence on its way to the target: the outbox row, retried until done."""

    id: int
    execution_id: str
    schedule_arn: str
    #: The occurrence (schedule time) and when the delivery was created (schedule time).
    scheduled_time: float
    created_at: float
    target: Target
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error_code: str = ""
    last_error_message: str = ""
