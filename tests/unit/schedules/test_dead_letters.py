"""The SQS dead-letter sink, against moto's in-process SQS."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from lambent.schedules import SqsDeadLetters
from lambent.schedules.payloads import DeadLetter
from lambent.settings import AwsEndpointSettings

AWS = AwsEndpointSettings(access_key_id="testing", secret_access_key="testing")


async def test_a_dead_letter_lands_on_the_queue_with_its_attributes() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        url = sqs.create_queue(QueueName="scheduler-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        letter = DeadLetter(arn, '{"job": 1}', {"ERROR_CODE": "ResourceNotFoundException", "RETRY_ATTEMPTS": "3"})

        await SqsDeadLetters(AWS, "us-east-1").send(letter)

        (msg,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
        assert msg["Body"] == '{"job": 1}'
        assert {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()} == letter.attributes


async def test_a_missing_queue_is_an_error_for_the_engine_to_handle() -> None:
    with mock_aws():
        with pytest.raises(Exception, match="NonExistentQueue|QueueDoesNotExist"):
            await SqsDeadLetters(AWS, "us-east-1").send(
                DeadLetter("arn:aws:sqs:us-east-1:123456789012:nope", "{}", {"ERROR_CODE": "x"}))
