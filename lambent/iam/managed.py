"""The AWS managed policies people attach to Lambda roles, under their real ARNs.

Documents as published in the AWS Managed Policy Reference
(https://docs.aws.amazon.com/aws-managed-policy/latest/reference/), at the default version named
here. They are the same in every account, cannot be changed or deleted (as on AWS), and are not
stored: they live in this module. PolicyIds and creation/edit times are AWS's as far as lambent
knows them; nothing should depend on them (AWS does not promise them either).

``ReadOnlyAccess`` on AWS lists read actions of every AWS service (thousands of lines). Here it is
a faithful SUBSET: the read actions (``Get*``, ``List*``, ``Describe*`` ... exactly as AWS's policy
spells them) of the services lambent serves or talks to (Lambda, CloudWatch Logs, CloudWatch,
IAM, STS, EventBridge Scheduler, SQS, SNS, EventBridge). A principal granted it is allowed no more
than on AWS, and it is allowed everything AWS's allows on these services.
"""

from __future__ import annotations

import json
from typing import Any

from lambent.iam.model import AWS_OWNED, ManagedPolicy, PolicyVersion

#: 2015-02-06T18:39:46Z, when IAM's first managed policies were published (epoch seconds).
_2015_02_06 = 1423247986.0


def _doc(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=4)


def _policy(name: str, path: str, policy_id: str, version: str, created_at: float, updated_at: float,
            description: str, document: str) -> ManagedPolicy:
    return ManagedPolicy(
        account_id=AWS_OWNED,
        name=name,
        policy_id=policy_id,
        path=path,
        default_version=version,
        versions=(PolicyVersion(version, document, updated_at),),
        created_at=created_at,
        updated_at=updated_at,
        description=description,
        next_version=int(version[1:]) + 1,
    )


_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

AWS_MANAGED: tuple[ManagedPolicy, ...] = (
    _policy(
        "AWSLambdaBasicExecutionRole", "/service-role/", "ANPAJNCQGXC42545SKXIK", "v1", 1428008455.0, 1428008455.0,
        "Provides write permissions to CloudWatch Logs.",
        _doc([{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}]),
    ),
    _policy(
        "AWSLambdaRole", "/service-role/", "ANPAJX4DPCRGTC4NFDUXI", "v1", 1423247874.0, 1423247874.0,
        "Default policy for AWS Lambda service role.",
        _doc([{"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]}]),
    ),
    _policy(
        "AWSLambdaVPCAccessExecutionRole", "/service-role/", "ANPAJVTME3YLVNL72YR2K", "v3", 1455232500.0, 1704494280.0,
        "Provides minimum permissions for a Lambda function to execute while accessing a resource within a VPC"
        " - create, describe, delete network interfaces and write permissions to CloudWatch Logs.",
        _doc([{
            "Sid": "AWSLambdaVPCAccessExecutionPermissions",
            "Effect": "Allow",
            "Action": [*_LOGS, "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                       "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            "Resource": "*",
        }]),
    ),
    _policy(
        "AWSLambdaSQSQueueExecutionRole", "/service-role/", "ANPAJFWJZI6JNND4TSELK", "v1", 1528996960.0, 1528996960.0,
        "Provides receive message, delete message, and read attribute access to SQS queues,"
        " and write permissions to CloudWatch logs.",
        _doc([{
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS],
            "Resource": "*",
        }]),
    ),
    _policy(
        "AdministratorAccess", "/", "ANPAIWMBCKSKIEE64ZLYK", "v1", _2015_02_06, _2015_02_06,
        "Provides full access to AWS services and resources.",
        _doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
    ),
    _policy(
        "ReadOnlyAccess", "/", "ANPAILL3HVNFSB6DCOWYQ", "v1", _2015_02_06, _2015_02_06,
        "Provides read-only access to AWS services and resources. (lambent: the subset for the services it serves)",
        _doc([{
            "Sid": "ReadOnlyActions",  # lambent's subset of AWS's ReadOnlyAccess; see the module docstring
            "Effect": "Allow",
            "Action": [
                "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*",
                "events:Describe*", "events:List*", "events:Test*",
                "iam:Generate*", "iam:Get*", "iam:List*", "iam:Simulate*",
                "lambda:Get*", "lambda:List*",
                "logs:Describe*", "logs:FilterLogEvents", "logs:Get*", "logs:List*", "logs:StartQuery",
                "logs:StopQuery", "logs:TestMetricFilter",
                "scheduler:Get*", "scheduler:List*",
                "sns:Check*", "sns:Get*", "sns:List*",
                "sqs:Get*", "sqs:List*", "sqs:Receive*",
                "sts:GetAccessKeyInfo", "sts:GetCallerIdentity", "sts:GetSessionToken",
            ],
            "Resource": "*",
        }]),
    ),
)

#: ARN -> policy.
BY_ARN: dict[str, ManagedPolicy] = {p.arn: p for p in AWS_MANAGED}
