"""Where failed deliveries go: an SQS queue, through the SQS API (AWS, or a self-hosted SQS at
``LAMBENT_AWS_SQS_ENDPOINT_URL``; credentials from ``LAMBENT_AWS_ACCESS_KEY_ID`` /
``..._SECRET_ACCESS_KEY`` or boto3's usual chain)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from botocore.config import Config

from lambent.schedules.payloads import DeadLetter
from lambent.settings import AwsEndpointSettings


class DeadLetterSink(Protocol):
    async def send(self, letter: DeadLetter) -> None:
        """Deliver one message or raise."""
        ...


class SqsDeadLetters:
    """Scope: one per server. The boto3 client is made on first use and used from worker threads."""

    def __init__(self, aws: AwsEndpointSettings, region: str, timeout_s: float = 10.0) -> None:
        self.aws = aws
        self.region = region
        self.timeout_s = timeout_s
        self._clients: dict[str, Any] = {}

    def _client(self, region: str) -> Any:
        client = self._clients.get(region)
        if client is None:
            import boto3

            kwargs: dict[str, Any] = {
                "region_name": region,
                "config": Config(connect_timeout=self.timeout_s, read_timeout=self.timeout_s, retries={"max_attempts": 2}),
            }
            if self.aws.sqs_endpoint_url:
                kwargs["endpoint_url"] = self.aws.sqs_endpoint_url
            if self.aws.access_key_id:
                kwargs["aws_access_key_id"] = self.aws.access_key_id
                kwargs["aws_secret_access_key"] = self.aws.secret_access_key
            client = self._clients[region] = boto3.client("sqs", **kwargs)
        return client

    async def send(self, letter: DeadLetter) -> None:
        # arn:aws:sqs:<region>:<account>:<name>
        _, _, _, region, account, name = letter.queue_arn.split(":", 5)

        def send() -> None:
            sqs = self._client(region or self.region)
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(
                QueueUrl=url, MessageBody=letter.body,
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in letter.attributes.items()},
            )

        await asyncio.wait_for(asyncio.to_thread(send), timeout=3 * self.timeout_s)
