"""Handing asynchronous results to destinations and dead-letter queues.

Records follow https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
(version, timestamp, requestContext, requestPayload, responseContext, responsePayload). SQS, SNS
and EventBridge are reached through their AWS APIs with boto3, at the endpoints in
``settings.aws`` (AWS itself when empty, or a self-hosted implementation). A Lambda destination is
invoked asynchronously through lambent's own queue, as Lambda does it on AWS: with the source
function's execution role (Lambda Developer Guide, "Configuring destinations for asynchronous
invocation": the execution role needs ``lambda:InvokeFunction`` on the destination), checked by
``invoke_check`` (:class:`lambent.iam.service_calls.ServiceCalls` for ``lambda.amazonaws.com``); a
denied delivery is not retried and is recorded as undeliverable with the AccessDeniedException. A delivery that fails is retried; one that
still fails is recorded as undeliverable (never dropped silently) and counted.

boto3/botocore's errors are translated here, where lambent calls them, into
:class:`~lambent.errors.DeliveryFailed` (remote code, retryable or not): a queue that does not
exist or a denied call is not retried, a throttle, a 5xx or a lost connection is. Each delivery
that gives up is logged once, with the target, the request id and the last cause.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from lambent import arns
from lambent.errors import AccessDenied, DeliveryFailed, LambentError, ResourceNotFound, TooManyRequests
from lambent.settings import AwsEndpointSettings
from lambent.store.async_queue import AsyncEventStore, Redrive

log = logging.getLogger(__name__)

#: Remote error codes worth another try (botocore's own throttling codes, and transient ones).
_RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled", "SlowDown",
    "ServiceUnavailable", "InternalFailure", "InternalError", "RequestTimeout", "RequestTimeoutException",
    "KMSThrottlingException",
})


def translate(exc: BaseException, target: str) -> DeliveryFailed:
    """``exc`` (raised while handing something to ``target``) as lambent's most specific error."""
    from botocore import exceptions as boto

    if isinstance(exc, DeliveryFailed):
        return exc
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        retryable = code in _RETRYABLE_CODES or status >= 500 or status == 429
        return DeliveryFailed(f"{code or 'error'}: {error.get('Message', '')}".strip(), retryable=retryable,
                              code=code, target=target, status=status)
    if isinstance(exc, (boto.NoCredentialsError, boto.PartialCredentialsError, boto.NoRegionError,
                        boto.ParamValidationError, boto.UnknownServiceError)):
        # configuration, not weather: the same call fails the same way
        return DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=False, target=target)
    if isinstance(exc, boto.BotoCoreError):
        # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError ...: the network
        return DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True, target=target)
    if isinstance(exc, AccessDenied):
        # the source function's execution role may not invoke the Lambda destination: the same
        # call fails the same way until someone changes a policy
        return DeliveryFailed(f"AccessDeniedException: {exc.message}", retryable=False, code="AccessDeniedException",
                              target=target)
    if isinstance(exc, ResourceNotFound):
        # a Lambda destination that no longer exists
        return DeliveryFailed(exc.message, retryable=False, code="ResourceNotFoundException", target=target)
    if isinstance(exc, TooManyRequests):
        return DeliveryFailed(exc.message, retryable=True, code="TooManyRequestsException", target=target)
    if isinstance(exc, LambentError):
        return DeliveryFailed(exc.message, retryable=True, target=target)
    if isinstance(exc, ValueError):
        # a target ARN lambent cannot address
        return DeliveryFailed(str(exc), retryable=False, target=target)
    return DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True, target=target)


#: (function key, qualifier, payload) -> request id; lambent's own async invoke.
LambdaEnqueue = Callable[[arns.FunctionKey, "str | None", bytes], Awaitable[str]]
#: (role ARN, function ARN) -> nothing if that role may invoke the function; AccessDenied otherwise
#: (``lambent.iam.service_calls.InvokeCheck``).
InvokeCheck = Callable[[str, str], None]


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")


def invocation_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_payload: bytes,
    executed_version: str | None,
    function_error: str | None,
    response_payload: bytes | None,
) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if executed_version is not None:
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            response_context["functionError"] = function_error
        record["responseContext"] = response_context
        record["responsePayload"] = _json_or_text(response_payload or b"null")
    return record


class Destinations:
    """Scope: one per server. boto3 clients are made lazily and used from worker threads."""

    def __init__(self, aws: AwsEndpointSettings, region: str, store: AsyncEventStore, attempts: int,
                 enqueue: LambdaEnqueue, retry_delay_s: float = 0.2, invoke_check: InvokeCheck | None = None) -> None:
        self.aws = aws
        #: Authorises Lambda destinations (None: delivered unchecked, as before issue 10).
        self.invoke_check = invoke_check
        self.region = region
        self.store = store
        self.attempts = attempts
        self.enqueue = enqueue
        self.retry_delay_s = retry_delay_s
        self.delivered = 0
        self.failed = 0
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            import boto3

            url = {"sqs": self.aws.sqs_endpoint_url, "sns": self.aws.sns_endpoint_url,
                   "events": self.aws.events_endpoint_url}[service]
            kwargs: dict[str, Any] = {"region_name": self.region}
            if url:
                kwargs["endpoint_url"] = url
            if self.aws.access_key_id:
                kwargs["aws_access_key_id"] = self.aws.access_key_id
                kwargs["aws_secret_access_key"] = self.aws.secret_access_key
            client = self._clients[service] = boto3.client(service, **kwargs)
        return client

    async def send_record(self, target: str, record: dict[str, Any], success: bool, *, role: str | None = None) -> bool:
        """Hand an invocation record to ``target``; ``role``: the source function's execution role,
        which a Lambda destination is invoked with. False if it was recorded as undeliverable."""
        body = json.dumps(record).encode()
        function = arns.arn_key(str(record["requestContext"].get("functionArn", "")))
        return await self._deliver(target, body, record["requestContext"]["requestId"], kind="record", success=success,
                                   role=role, function=function) is None

    async def send_dead_letter(self, target: str, payload: bytes, request_id: str, error_code: str, error_message: str,
                               function: str | None = None) -> bool:
        """False if the event could not reach the queue (recorded as undeliverable)."""
        attrs = {"RequestID": request_id, "ErrorCode": error_code, "ErrorMessage": error_message[:1000]}
        return await self._deliver(target, payload, request_id, kind="dlq", attributes=attrs, function=function) is None

    async def redrive(self, target: str, body: bytes, request_id: str, how: Redrive) -> str | None:
        """Deliver an undeliverable record again, as it was first sent (same retries); None when
        delivered, else the last error (the caller keeps the record: no second copy is made)."""
        return await self._deliver(target, body, request_id, kind=how.kind, success=how.success,
                                   attributes=how.attributes, role=how.role, function=how.function, keep=False)

    async def _deliver(self, target: str, body: bytes, request_id: str, *, kind: str, success: bool = False,
                       attributes: dict[str, str] | None = None, role: str | None = None,
                       function: str | None = None, keep: bool = True) -> str | None:
        """None when delivered; else the last error, after recording the undeliverable record
        (``keep``) for a later redrive."""
        failure: DeliveryFailed | None = None
        tries = 0
        for attempt in range(self.attempts):
            tries = attempt + 1
            try:
                await self._send_once(target, body, kind=kind, success=success, attributes=attributes, role=role)
                self.delivered += 1
                return None
            except Exception as exc:  # noqa: BLE001 - translated here, the boundary to boto3
                failure = translate(exc, target)
                log.debug("delivery of %s for %s to %s failed (attempt %d): %s", kind, request_id, target, tries,
                          failure.message)
                if not failure.retryable:
                    break
                if tries < self.attempts:
                    await asyncio.sleep(self.retry_delay_s * (2**attempt))
        self.failed += 1
        last = failure.message if failure is not None else ""
        # The one log line of this failure, with its context.
        log.error("giving up delivering %s for %s to %s after %d attempt(s)%s: %s", kind, request_id, target, tries,
                  "" if failure is None or failure.retryable else " (not retryable)", last)
        if keep:
            await asyncio.to_thread(self.store.record_undeliverable, request_id, target, body, last,
                                    Redrive(function=function, kind=kind, success=success, role=role,
                                            attributes=attributes))
        return last or "not delivered"

    async def _send_once(self, target: str, body: bytes, *, kind: str, success: bool,
                         attributes: dict[str, str] | None, role: str | None = None) -> None:
        service = target.split(":")[2]
        text = body.decode("utf-8", "replace")
        if service == "lambda":
            ref = arns.parse_function_name(target, max_len=256)
            if self.invoke_check is not None:
                if role is None:
                    # fail closed: a record whose source role is unknown is invoked as nobody
                    raise AccessDenied(f"the execution role of the function that sent {kind} to {target} is unknown",
                                       resource=target)
                self.invoke_check(role, target)
            # the destination's own account (a Put accepts full ARNs only; none: no such function)
            await self.enqueue(arns.function_key(ref.account_id or "", ref.name), ref.qualifier, body)
        elif service == "sqs":
            name, account = target.split(":")[5], target.split(":")[4]
            msg_attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}

            def send() -> None:
                sqs = self._client("sqs")
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": text}
                if msg_attrs:
                    kwargs["MessageAttributes"] = msg_attrs
                sqs.send_message(**kwargs)

            await asyncio.to_thread(send)
        elif service == "sns":
            msg_attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}

            def publish() -> None:
                kwargs: dict[str, Any] = {"TopicArn": target, "Message": text}
                if msg_attrs:
                    kwargs["MessageAttributes"] = msg_attrs
                self._client("sns").publish(**kwargs)

            await asyncio.to_thread(publish)
        elif service == "events":
            detail_type = "Lambda Function Invocation Result - " + ("Success" if success else "Failure")

            def put() -> None:
                out = self._client("events").put_events(
                    Entries=[{"Source": "lambda", "DetailType": detail_type, "Detail": text, "EventBusName": target,
                              "Time": time.time()}]
                )
                if out.get("FailedEntryCount"):
                    raise RuntimeError(f"PutEvents failed: {out.get('Entries')}")

            await asyncio.to_thread(put)
        else:
            raise ValueError(f"unsupported destination {target}")
