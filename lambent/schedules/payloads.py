"""What a fired occurrence sends: the target's payload and, on failure, the dead-letter message.

- Payload: the target's ``Input`` with AWS's context attributes replaced
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
  ``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>`` (e.g.
  ``2022-03-22T18:59:43Z``), ``<aws.scheduler.execution-id>``, ``<aws.scheduler.attempt-number>``.
  A schedule without Input sends ``{}``. The execution id is one per occurrence and stays the same
  on every retry, so a function can use it to recognise a repeat.
- Dead-letter message: the payload as the body, with the message attributes of
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html
  (ERROR_CODE, ERROR_MESSAGE, EXECUTION_ID, EXHAUSTED_RETRY_CONDITION, IS_PAYLOAD_TRUNCATED,
  RETRY_ATTEMPTS, SCHEDULED_TIME, SCHEDULE_ARN, TARGET_ARN). SQS takes at most 256 KiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from lambent.schedules.model import DEFAULT_INPUT, Delivery, ExhaustedCondition

#: SQS's message limit (body + attributes), less room for the attributes.
SQS_BODY_MAX_BYTES = 256 * 1024 - 8 * 1024
#: ERROR_MESSAGE is cut to this many characters.
ERROR_MESSAGE_MAX = 1000


def iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_input(delivery: Delivery, attempt: int) -> bytes:
    """The payload of attempt number ``attempt`` (1-based)."""
    text = delivery.target.input if delivery.target.input is not None else DEFAULT_INPUT
    for key, value in (
        ("<aws.scheduler.schedule-arn>", delivery.schedule_arn),
        ("<aws.scheduler.scheduled-time>", iso_time(delivery.scheduled_time)),
        ("<aws.scheduler.execution-id>", delivery.execution_id),
        ("<aws.scheduler.attempt-number>", str(attempt)),
    ):
        text = text.replace(key, value)
    return text.encode()


@dataclass(frozen=True)
class DeadLetter:
    queue_arn: str
    body: str
    attributes: dict[str, str]


def dead_letter(delivery: Delivery, condition: ExhaustedCondition | None, queue_arn: str) -> DeadLetter:
    """The SQS message for a delivery given up on (``condition`` None: dropped without retrying)."""
    payload = render_input(delivery, max(delivery.attempts, 1))
    truncated = len(payload) > SQS_BODY_MAX_BYTES
    body = payload[:SQS_BODY_MAX_BYTES].decode("utf-8", "ignore") if truncated else payload.decode("utf-8", "replace")
    attributes = {
        "ERROR_CODE": delivery.last_error_code or "Unknown",
        "ERROR_MESSAGE": (delivery.last_error_message or "unknown error")[:ERROR_MESSAGE_MAX],
        "EXECUTION_ID": delivery.execution_id,
        "IS_PAYLOAD_TRUNCATED": "true" if truncated else "false",
        "RETRY_ATTEMPTS": str(max(delivery.attempts - 1, 0)),
        "SCHEDULED_TIME": iso_time(delivery.scheduled_time),
        "SCHEDULE_ARN": delivery.schedule_arn,
        "TARGET_ARN": delivery.target.arn,
    }
    if condition is not None:
        attributes["EXHAUSTED_RETRY_CONDITION"] = condition.value
    return DeadLetter(queue_arn, body, dict(sorted(attributes.items())))
