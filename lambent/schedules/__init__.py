"""EventBridge Scheduler: schedules that invoke Lambda functions asynchronously (docs/schedules.md).

    expressions / cron   parse rate(), cron(), at() and find their occurrences (pure)
    clock                schedule time, which tests can speed up
    timing               next occurrence, flexible windows, missed occurrences (pure)
    retry / payloads     retry decisions, target payloads, dead-letter messages (pure)
    service              schedules and groups: rules, registry, persistence
    engine               the firing loop and the deliveries to the async queue
    store                the SQL
"""

from lambent.schedules.clock import Clock, ManualClock, ResumableClock, ScaledClock
from lambent.schedules.dead_letters import DeadLetterSink, SqsDeadLetters
from lambent.schedules.engine import Enqueuer, ScheduleEngine
from lambent.schedules.service import SchedulerService

__all__ = [
    "Clock",
    "DeadLetterSink",
    "Enqueuer",
    "ManualClock",
    "ResumableClock",
    "ScaledClock",
    "ScheduleEngine",
    "SchedulerService",
    "SqsDeadLetters",
]
