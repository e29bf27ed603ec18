"""Safe deployments, the decision core: :func:`decide` and the ``after_*`` transitions, pure
functions of a deployment, the time and an alarm reading. They say what to do next and never do it."""
from __future__ import annotations

from typing import Any

from lambent.deployments.model import (
    TERMINAL,
    Decision,
    Deployment,
    ErrorCode,
    Event,
    Finished,
    Phase,
    Restore,
    RunHook,
    Shift,
    Status,
    WaitUntil,
)
from lambent.invoke.metrics import WindowReading


def decide(d: Deployment, now: float, alarm: WindowReading | None = None) -> Decision:
    """What to do next. Transitions that need no I/O (start shifting, stop → rollback, alarm →
    rollback, no post hook → Succeeded) are applied here and returned with their events.
    Steps are never skipped: a late step runs at once and the next ones keep their schedule."""
    events: list[Event] = []
    while True:
        if d.status in TERMINAL:
            return Decision(d, tuple(events), Finished())
        if d.phase == Phase.ROLLBACK:
            return Decision(d, tuple(events), Restore())
        if d.stop_requested:
            d, ev = begin_rollback(d, now, Status.STOPPED, ErrorCode.MANUAL_STOP, "The deployment was stopped on request.")
            events += ev
            continue
        if d.phase == Phase.BEFORE_ALLOW_TRAFFIC:
            if d.pre_hook:
                return Decision(d, tuple(events), RunHook(Phase.BEFORE_ALLOW_TRAFFIC, d.pre_hook))
            d = d.replace(phase=Phase.ALLOW_TRAFFIC, shift_started_at=now, updated_at=now)
            continue
        if d.phase == Phase.ALLOW_TRAFFIC:
            if d.alarm is not None and alarm is not None and d.alarm.fires(alarm):
                message = (
                    f"Error rate of version {d.to_version} was {alarm.error_rate:.1%} "
                    f"({alarm.errors} of {alarm.invocations} invocations), above the {d.alarm.error_rate:.1%} threshold."
                )
                events.append(Event(now, "AlarmTriggered", message, {
                    "ErrorRate": alarm.error_rate, "Errors": alarm.errors, "Invocations": alarm.invocations,
                    "Threshold": d.alarm.error_rate,
                }))
                d, ev = begin_rollback(d, now, Status.ROLLED_BACK, ErrorCode.ALARM_ACTIVE, message)
                events += ev
                continue
            if d.applied_steps == len(d.steps):
                d = d.replace(phase=Phase.AFTER_ALLOW_TRAFFIC, updated_at=now)
                continue
            start = d.shift_started_at if d.shift_started_at is not None else now
            due = start + d.steps[d.applied_steps].offset_s * d.time_scale
            if now >= due:
                return Decision(d, tuple(events), Shift(d.applied_steps))
            return Decision(d, tuple(events), WaitUntil(due))
        if d.phase == Phase.AFTER_ALLOW_TRAFFIC:
            if d.post_hook:
                return Decision(d, tuple(events), RunHook(Phase.AFTER_ALLOW_TRAFFIC, d.post_hook))
            d, ev = finish(d, now, Status.SUCCEEDED, f"Alias {d.alias} now points to version {d.to_version}.")
            events += ev
            continue
        # Phase.END with a non-terminal status cannot be built by these functions.
        d, ev = fail(d, now, ErrorCode.INTERNAL_ERROR, f"inconsistent state {d.phase}/{d.status}")
        events += ev


def begin_rollback(d: Deployment, now: float, status: Status, code: ErrorCode, message: str) -> tuple[Deployment, list[Event]]:
    """Record the intent to restore the alias; :class:`Restore` follows."""
    new = d.replace(phase=Phase.ROLLBACK, rollback_status=status, error_code=code, error_message=message, updated_at=now)
    return new, [Event(now, "RollbackStarted", message, {"Code": code.value, "FromPhase": d.phase.value})]


def after_hook(d: Deployment, phase: Phase, ok: bool, now: float, message: str, details: dict[str, Any]) -> tuple[Deployment, list[Event]]:
    events = [Event(now, "HookSucceeded" if ok else "HookFailed", message, {"LifecycleEvent": phase.value, **details})]
    if not ok:
        d, ev = begin_rollback(d, now, Status.ROLLED_BACK, ErrorCode.HOOK_EXECUTION_FAILURE, message)
        return d, events + ev
    if phase == Phase.BEFORE_ALLOW_TRAFFIC:
        return d.replace(phase=Phase.ALLOW_TRAFFIC, shift_started_at=now, updated_at=now), events
    d, ev = finish(d, now, Status.SUCCEEDED, f"Alias {d.alias} now points to version {d.to_version}.")
    return d, events + ev


def after_shift(d: Deployment, index: int, now: float) -> tuple[Deployment, list[Event]]:
    if index != d.applied_steps:
        raise ValueError(f"step {index} applied out of order (next is {d.applied_steps})")
    state = d.alias_state(index)
    weight = d.steps[index].weight
    routing = {state.additional_version: state.additional_weight} if state.additional_version else {}
    event = Event(now, "TrafficShifted", f"{weight:.0%} on version {d.to_version}: alias {d.alias} -> {state.describe()}", {
        "Step": index + 1, "Steps": len(d.steps), "Weight": weight, "DueTime": d.due_at(index),
        "FunctionVersion": state.function_version, "AdditionalVersionWeights": routing,
    })
    return d.replace(applied=(*d.applied, now), updated_at=now), [event]


def after_restore(d: Deployment, now: float) -> tuple[Deployment, list[Event]]:
    status = d.rollback_status or Status.ROLLED_BACK
    events = [Event(now, "RollbackCompleted", f"Alias {d.alias} points to version {d.from_version} again.",
                    {"FunctionVersion": d.from_version})]
    new, ev = finish(d, now, status, d.error_message or "")
    return new, events + ev


def finish(d: Deployment, now: float, status: Status, message: str) -> tuple[Deployment, list[Event]]:
    new = d.replace(status=status, phase=Phase.END, completed_at=now, updated_at=now)
    return new, [Event(now, status.value, message, {})]


def fail(d: Deployment, now: float, code: ErrorCode, message: str) -> tuple[Deployment, list[Event]]:
    """End as Failed, leaving the alias as it is."""
    d = d.replace(error_code=code, error_message=message)
    return finish(d, now, Status.FAILED, message)


