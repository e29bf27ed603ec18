"""Retry decisions, target payloads with context attributes, dead-letter messages."""

from __future__ import annotations

import json

from lambent.schedules import retry
from lambent.schedules.model import Delivery, ExhaustedCondition, RetryPolicy, Target
from lambent.schedules.payloads import SQS_BODY_MAX_BYTES, dead_letter, render_input

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ARN = "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly"
FN = "arn:aws:lambda:us-east-1:000000000000:function:f:live"


def delivery(input_text: str | None = None, attempts: int = 0, **target: object) -> Delivery:
    t = Target(FN, "arn:aws:iam::000000000000:role/r", "f", "live", input_text, **target)  # type: ignore[arg-type]
    return Delivery(7, "d32c5kddcf5bb8c3", ARN, T0, T0 + 1, t, attempts, T0 + 1, "ResourceNotFoundException",
                    "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f:live")


def test_backoff_doubles_from_one_second_to_five_minutes_with_jitter() -> None:
    assert [retry.backoff_s(n, jitter=1.0) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry.backoff_s(20, jitter=1.0) == 300.0
    assert retry.backoff_s(3, jitter=0.0) == 4.0  # half of 8


def test_retries_until_maximum_retry_attempts() -> None:
    policy = RetryPolicy(max_retry_attempts=2, max_event_age_s=86_400)
    first = retry.decide(policy, attempts=1, created_at=T0, now=T0, jitter=1.0)
    second = retry.decide(policy, attempts=2, created_at=T0, now=T0 + 1, jitter=1.0)
    third = retry.decide(policy, attempts=3, created_at=T0, now=T0 + 3, jitter=1.0)
    assert (first.retry_at, second.retry_at) == (T0 + 1, T0 + 3)
    assert third == retry.RetryDecision(exhausted=ExhaustedCondition.ATTEMPTS)


def test_zero_retries_gives_up_after_the_first_attempt() -> None:
    decision = retry.decide(RetryPolicy(0, 3600), attempts=1, created_at=T0, now=T0, jitter=0.5)
    assert decision.exhausted == ExhaustedCondition.ATTEMPTS


def test_gives_up_when_the_next_retry_would_be_older_than_maximum_event_age() -> None:
    policy = RetryPolicy(max_retry_attempts=185, max_event_age_s=60)
    assert retry.decide(policy, attempts=3, created_at=T0, now=T0 + 55, jitter=1.0).retry_at == T0 + 59
    decision = retry.decide(policy, attempts=4, created_at=T0, now=T0 + 55, jitter=1.0)
    assert decision.exhausted == ExhaustedCondition.AGE


def test_default_policy_keeps_trying_for_a_day() -> None:
    policy = RetryPolicy()
    now, attempts = T0, 1
    while (decision := retry.decide(policy, attempts=attempts, created_at=T0, now=now, jitter=1.0)).retry_at:
        now, attempts = decision.retry_at, attempts + 1
    # 1 + 185 retries, the backoff capped at 5 minutes: about 15 hours, inside the day
    assert (decision.exhausted, attempts) == (ExhaustedCondition.ATTEMPTS, 186)
    assert now - T0 == 511 + 176 * 300


def test_a_schedule_without_input_sends_an_empty_json_object() -> None:
    assert render_input(delivery(None), 1) == b"{}"


def test_context_attributes_are_replaced_on_every_attempt() -> None:
    d = delivery(json.dumps({"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>",
                             "id": "<aws.scheduler.execution-id>", "n": "<aws.scheduler.attempt-number>"}))
    assert json.loads(render_input(d, 3)) == {"arn": ARN, "at": "2023-11-14T22:13:20Z", "id": "d32c5kddcf5bb8c3",
                                              "n": "3"}


def test_dead_letter_carries_awss_message_attributes() -> None:
    letter = dead_letter(delivery('{"job": 1}', attempts=4), ExhaustedCondition.ATTEMPTS,
                         "arn:aws:sqs:us-east-1:000000000000:dlq")
    assert letter.queue_arn == "arn:aws:sqs:us-east-1:000000000000:dlq"
    assert letter.body == '{"job": 1}'
    assert letter.attributes == {
        "ERROR_CODE": "ResourceNotFoundException",
        "ERROR_MESSAGE": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f:live",
        "EXECUTION_ID": "d32c5kddcf5bb8c3",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": "3",
        "SCHEDULED_TIME": "2023-11-14T22:13:20Z",
        "SCHEDULE_ARN": ARN,
        "TARGET_ARN": FN,
    }


def test_a_payload_too_big_for_sqs_is_truncated_and_says_so() -> None:
    letter = dead_letter(delivery(json.dumps({"x": "y" * 300_000}), attempts=1), ExhaustedCondition.AGE,
                         "arn:aws:sqs:us-east-1:000000000000:dlq")
    assert len(letter.body.encode()) == SQS_BODY_MAX_BYTES
    assert letter.attributes["IS_PAYLOAD_TRUNCATED"] == "true"
    assert letter.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
