"""boto3/botocore errors toward destinations and DLQs are translated where lambent calls them:
a permanent one (no such queue, access denied, a target lambent cannot address) is recorded as
undeliverable after one try, a transient one (throttle, 5xx, lost connection) is retried; either
way the failure is logged once, with its target and request id, and never dropped."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from lambent.errors import AccessDenied, DeliveryFailed, ResourceNotFound
from lambent.invoke.destinations import Destinations, translate
from lambent.settings import AwsEndpointSettings

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendMessage")


class Store:
    def __init__(self) -> None:
        self.undeliverable: list[tuple[str, str, bytes, str]] = []

    def record_undeliverable(self, request_id: str, target: str, body: bytes, error: str, redrive: object = None) -> None:
        self.undeliverable.append((request_id, target, body, error))


class Sqs:
    """A stand-in SQS client whose send_message raises ``errors`` in turn (then succeeds)."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent = 0

    def get_queue_url(self, **kwargs: Any) -> dict[str, str]:
        return {"QueueUrl": "http://sqs.test/000000000000/q"}

    def send_message(self, **kwargs: Any) -> None:
        self.sent += 1
        if self.errors:
            raise self.errors.pop(0)


async def _no_enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
    raise ResourceNotFound(f"Function not found: {name}")


def destinations(sqs: Sqs, store: Store) -> Destinations:
    d = Destinations(AwsEndpointSettings(), "us-east-1", store, 4, _no_enqueue, retry_delay_s=0)  # type: ignore[arg-type]
    d._clients["sqs"] = sqs
    return d


@pytest.mark.parametrize(("exc", "retryable", "code"), [
    (client_error("AWS.SimpleQueueService.NonExistentQueue", 400), False, "AWS.SimpleQueueService.NonExistentQueue"),
    (client_error("AccessDenied", 403), False, "AccessDenied"),
    (client_error("Throttling", 400), True, "Throttling"),
    (client_error("InternalError", 500), True, "InternalError"),
    (client_error("Whatever", 503), True, "Whatever"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True, ""),
    (NoCredentialsError(), False, ""),
    (ResourceNotFound("Function not found"), False, "ResourceNotFoundException"),
    (ValueError("unsupported destination arn:aws:s3:::bucket"), False, ""),
])
def test_boto_errors_become_delivery_failures_that_know_whether_to_retry(
    exc: Exception, retryable: bool, code: str
) -> None:
    failure = translate(exc, QUEUE)
    assert isinstance(failure, DeliveryFailed)
    assert (failure.retryable, failure.code) == (retryable, code)
    assert failure.context["target"] == QUEUE


async def test_a_queue_that_does_not_exist_is_tried_once_and_recorded(caplog: pytest.LogCaptureFixture) -> None:
    sqs, store = Sqs(client_error("AWS.SimpleQueueService.NonExistentQueue", 400)), Store()
    with caplog.at_level(logging.DEBUG, logger="lambent.invoke.destinations"):
        await destinations(sqs, store).send_dead_letter(QUEUE, b"{}", "rid-1", "200", "boom")
    assert sqs.sent == 1
    [(rid, target, body, error)] = store.undeliverable
    assert (rid, target, body) == ("rid-1", QUEUE, b"{}")
    assert error.startswith("AWS.SimpleQueueService.NonExistentQueue")
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "rid-1" in errors[0].getMessage() and QUEUE in errors[0].getMessage()


async def test_a_throttled_queue_is_retried_and_delivered_without_an_error_log(caplog: pytest.LogCaptureFixture) -> None:
    sqs, store = Sqs(client_error("Throttling", 400), EndpointConnectionError(endpoint_url="http://x")), Store()
    d = destinations(sqs, store)
    with caplog.at_level(logging.DEBUG, logger="lambent.invoke.destinations"):
        await d.send_dead_letter(QUEUE, b"{}", "rid-2", "200", "boom")
    assert sqs.sent == 3 and d.delivered == 1 and store.undeliverable == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_queue_that_keeps_failing_is_recorded_after_every_attempt() -> None:
    sqs, store = Sqs(*(client_error("ServiceUnavailable", 503) for _ in range(10))), Store()
    d = destinations(sqs, store)
    await d.send_dead_letter(QUEUE, b"{}", "rid-3", "200", "boom")
    assert sqs.sent == 4 and d.failed == 1 and len(store.undeliverable) == 1


async def test_a_lambda_destination_that_is_gone_is_recorded_once() -> None:
    store = Store()
    d = destinations(Sqs(), store)
    await d.send_record("arn:aws:lambda:us-east-1:000000000000:function:gone", {"requestContext": {"requestId": "r4"}},
                        success=False)
    [(rid, _, _, error)] = store.undeliverable
    assert rid == "r4" and "Function not found" in error


# -- a Lambda destination is invoked with the source function's execution role (issue 10) ------

DEST = "arn:aws:lambda:us-east-1:000000000000:function:dest"
SOURCE_ROLE = "arn:aws:iam::000000000000:role/source-exec"


class Enqueued:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def __call__(self, name: str, qualifier: str | None, payload: bytes) -> str:
        self.calls.append((name, qualifier))
        return "queued"


class Check:
    """An invoke check allowing only (role, function) pairs in ``allowed``; records what it was asked."""

    def __init__(self, *allowed: tuple[str, str]) -> None:
        self.allowed = set(allowed)
        self.asked: list[tuple[str, str]] = []

    def __call__(self, role_arn: str, function_arn: str) -> None:
        self.asked.append((role_arn, function_arn))
        if (role_arn, function_arn) not in self.allowed:
            raise AccessDenied(f"User: arn:aws:sts::000000000000:assumed-role/source-exec/lambda is not authorized to "
                               f"perform: lambda:InvokeFunction on resource: {function_arn}")


def checked(check: Check, store: Store) -> tuple[Destinations, Enqueued]:
    enqueue = Enqueued()
    d = Destinations(AwsEndpointSettings(), "us-east-1", store, 4, enqueue, retry_delay_s=0,  # type: ignore[arg-type]
                     invoke_check=check)
    return d, enqueue


async def test_a_lambda_destination_the_source_role_may_invoke_is_delivered() -> None:
    store, check = Store(), Check((SOURCE_ROLE, DEST + ":live"))
    d, enqueue = checked(check, store)
    await d.send_record(DEST + ":live", {"requestContext": {"requestId": "r5"}}, success=True, role=SOURCE_ROLE)
    assert check.asked == [(SOURCE_ROLE, DEST + ":live")]  # the destination as it is named
    assert enqueue.calls == [("000000000000:function:dest", "live")]  # the destination ARN's account
    assert (d.delivered, d.failed, store.undeliverable) == (1, 0, [])


async def test_a_denied_lambda_destination_is_tried_once_and_recorded_with_the_denial(
        caplog: pytest.LogCaptureFixture) -> None:
    store, check = Store(), Check()
    d, enqueue = checked(check, store)
    with caplog.at_level(logging.ERROR, logger="lambent.invoke.destinations"):
        await d.send_record(DEST, {"requestContext": {"requestId": "r6"}}, success=False, role=SOURCE_ROLE)
    # never invoked, not retried (the same call fails the same way), never dropped
    assert enqueue.calls == [] and len(check.asked) == 1
    [(rid, target, body, error)] = store.undeliverable
    assert (rid, target) == ("r6", DEST)
    assert json.loads(body) == {"requestContext": {"requestId": "r6"}}
    assert error.startswith("AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/source-exec/lambda "
                            "is not authorized to perform: lambda:InvokeFunction")
    assert d.failed == 1
    assert any("(not retryable)" in r.getMessage() and "r6" in r.getMessage() for r in caplog.records)


async def test_a_record_whose_source_role_is_unknown_is_not_invoked_as_nobody() -> None:
    store, check = Store(), Check((SOURCE_ROLE, DEST))
    d, enqueue = checked(check, store)
    await d.send_record(DEST, {"requestContext": {"requestId": "r7"}}, success=True)
    assert enqueue.calls == [] and check.asked == []
    [(_, _, _, error)] = store.undeliverable
    assert error.startswith("AccessDeniedException:")


def test_access_denied_is_a_permanent_delivery_failure() -> None:
    failure = translate(AccessDenied("no"), DEST)
    assert (failure.retryable, failure.code, failure.message) == (False, "AccessDeniedException",
                                                                 "AccessDeniedException: no")
