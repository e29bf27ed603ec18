"""Condition operators, table-driven. Each case is a Condition block from (or shaped like) an
example on the AWS page named in its comment, a request context, and whether the block holds."""

from __future__ import annotations

from typing import Any

import pytest

from lambent.iam.policy.conditions import compile_conditions, parse_date

OPS = "IAM JSON policy elements: Condition operators"
MULTI = "Single-valued vs. multivalued context keys"
VARS = "IAM policy elements: Variables and tags"
LAMBDA = "Lambda: Using resource-based policies / function URL auth"

# (page, Condition block, request keys (already lowercased), holds)
CASES: list[tuple[str, dict[str, dict[str, Any]], dict[str, tuple[str, ...]], bool]] = [
    # String condition operators
    (OPS, {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}, {"aws:principaltag/job-category": ("iamuser-admin",)}, True),
    (OPS, {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}, {"aws:principaltag/job-category": ("IAMuser-admin",)}, False),
    (OPS, {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}, {}, False),
    (OPS, {"StringNotEquals": {"aws:username": ["alice", "bob"]}}, {"aws:username": ("carol",)}, True),
    (OPS, {"StringNotEquals": {"aws:username": ["alice", "bob"]}}, {"aws:username": ("bob",)}, False),
    # a negated operator holds when the key is absent from the request
    (OPS, {"StringNotEquals": {"aws:username": "alice"}}, {}, True),
    (OPS, {"StringEqualsIgnoreCase": {"aws:username": "Alice"}}, {"aws:username": ("ALICE",)}, True),
    (OPS, {"StringNotEqualsIgnoreCase": {"aws:username": "Alice"}}, {"aws:username": ("alice",)}, False),
    (OPS, {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}},
     {"s3:prefix": ("home/alice/docs",), "aws:username": ("alice",)}, True),
    (OPS, {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}},
     {"s3:prefix": ("home/bob/docs",), "aws:username": ("alice",)}, False),
    (OPS, {"StringLike": {"s3:prefix": ["", "home/"]}}, {"s3:prefix": ("",)}, True),
    (OPS, {"StringNotLike": {"aws:userid": "AIDA*"}}, {"aws:userid": ("AROAEXAMPLE:session",)}, True),
    # StringEquals compares literally: a * in its value is not a wildcard
    (OPS, {"StringEquals": {"aws:username": "a*"}}, {"aws:username": ("abc",)}, False),
    # condition key names are case-insensitive
    (OPS, {"StringEquals": {"AWS:UserName": "alice"}}, {"aws:username": ("alice",)}, True),
    # Numeric condition operators
    (OPS, {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ("10",)}, True),
    (OPS, {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ("11",)}, False),
    (OPS, {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ("9.5",)}, True),
    (OPS, {"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ("ten",)}, False),
    (OPS, {"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ("10",)}, True),
    (OPS, {"NumericEquals": {"s3:max-keys": ["5", "10"]}}, {"s3:max-keys": ("10",)}, True),
    (OPS, {"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ("10",)}, False),
    # Date condition operators (ISO 8601 or epoch, against aws:CurrentTime / aws:EpochTime)
    (OPS, {"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"}, "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}},
     {"aws:currenttime": ("2020-05-01T12:00:00Z",)}, True),
    (OPS, {"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"}, "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}},
     {"aws:currenttime": ("2020-07-01T00:00:00Z",)}, False),
    (OPS, {"DateLessThan": {"aws:EpochTime": "2020-01-01T00:00:00Z"}}, {"aws:epochtime": ("1577836799",)}, True),
    (OPS, {"DateGreaterThanEquals": {"aws:CurrentTime": "1577836800"}}, {"aws:currenttime": ("2020-01-01T00:00:00Z",)}, True),
    (OPS, {"DateEquals": {"aws:CurrentTime": "2020-01-01"}}, {"aws:currenttime": ("2020-01-01T00:00:00Z",)}, True),
    (OPS, {"DateNotEquals": {"aws:CurrentTime": "2020-01-01T00:00:00+01:00"}}, {"aws:currenttime": ("2019-12-31T23:00:00Z",)}, False),
    # Boolean condition operators
    (OPS, {"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": ("false",)}, True),
    (OPS, {"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": ("true",)}, False),
    (OPS, {"Bool": {"aws:SecureTransport": "True"}}, {"aws:securetransport": ("true",)}, True),
    # Binary condition operators
    (OPS, {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"key": ("QmluYXJ5VmFsdWVJbkJhc2U2NA==",)}, True),
    (OPS, {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"key": ("QmluYXJ5",)}, False),
    # IP address condition operators (IPv4 and IPv6 CIDR)
    (OPS, {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}, {"aws:sourceip": ("203.0.113.9",)}, True),
    (OPS, {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}, {"aws:sourceip": ("198.51.100.1",)}, False),
    (OPS, {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:sourceip": ("203.0.113.7",)}, True),
    (OPS, {"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}}, {"aws:sourceip": ("2001:db8:1234:5678::1",)}, True),
    (OPS, {"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}}, {"aws:sourceip": ("2001:db8:1234:5679::1",)}, False),
    (OPS, {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("192.0.2.44",)}, False),
    (OPS, {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("::1",)}, True),
    (OPS, {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("not-an-ip",)}, False),
    # Amazon Resource Name (ARN) condition operators
    (OPS, {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}},
     {"aws:sourcearn": ("arn:aws:cloudtrail:us-east-2:111122223333:trail/main",)}, True),
    (OPS, {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}},
     {"aws:sourcearn": ("arn:aws:cloudtrail:us-east-2:444455556666:trail/main",)}, False),
    (OPS, {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-2:123456789012:my-topic"}},
     {"aws:sourcearn": ("arn:aws:sns:us-east-2:123456789012:my-topic",)}, True),
    (OPS, {"ArnNotLike": {"aws:SourceArn": "arn:aws:scheduler:*:123456789012:schedule/*"}},
     {"aws:sourcearn": ("arn:aws:scheduler:us-east-1:123456789012:schedule/default/s1",)}, False),
    (OPS, {"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:us-east-2:123456789012:my-topic"}}, {}, True),
    # Null: "true" = the key is absent
    (OPS, {"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    (OPS, {"Null": {"aws:TokenIssueTime": "true"}}, {"aws:tokenissuetime": ("2020-01-01T00:00:00Z",)}, False),
    (OPS, {"Null": {"aws:TokenIssueTime": "false"}}, {"aws:tokenissuetime": ("2020-01-01T00:00:00Z",)}, True),
    # ...IfExists: an absent key holds; a present one is tested
    (OPS, {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {}, True),
    (OPS, {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {"ec2:instancetype": ("t2.micro",)}, True),
    (OPS, {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {"ec2:instancetype": ("c5.large",)}, False),
    (OPS, {"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True),
    # several keys: AND; several values: OR
    (OPS, {"StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": "111122223333"}},
     {"aws:username": ("alice",), "aws:principalaccount": ("444455556666",)}, False),
    (OPS, {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}},
     {"aws:username": ("alice",), "aws:securetransport": ("true",)}, True),
    # Set operators on multivalued keys
    (MULTI, {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, {"aws:tagkeys": ("environment",)}, True),
    (MULTI, {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}},
     {"aws:tagkeys": ("environment", "owner")}, False),
    # "ForAllValues ... returns true if there are no context keys in the request"
    (MULTI, {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, {}, True),
    (MULTI, {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment"]}}, {"aws:tagkeys": ()}, True),
    (MULTI, {"ForAnyValue:StringEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]}},
     {"aws:calledvia": ("athena.amazonaws.com", "cloudformation.amazonaws.com")}, True),
    (MULTI, {"ForAnyValue:StringEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]}}, {}, False),
    (MULTI, {"ForAnyValue:StringEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]}}, {"aws:calledvia": ()}, False),
    (MULTI, {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["admin"]}}, {"aws:tagkeys": ("env", "team")}, True),
    (MULTI, {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["admin"]}}, {"aws:tagkeys": ("env", "admin")}, False),
    (MULTI, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["admin"]}}, {"aws:tagkeys": ("admin", "env")}, True),
    (MULTI, {"ForAnyValue:StringLike": {"aws:TagKeys": ["team-*"]}}, {"aws:tagkeys": ("env", "team-a")}, True),
    # Policy variables in condition values; a missing one makes the value match nothing
    (VARS, {"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}},
     {"aws:sourceaccount": ("111122223333",), "aws:principalaccount": ("111122223333",)}, True),
    (VARS, {"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}}, {"aws:sourceaccount": ("111122223333",)}, False),
    (VARS, {"StringEquals": {"s3:prefix": "${*}"}}, {"s3:prefix": ("*",)}, True),
    # Lambda's own keys: lambda:FunctionUrlAuthType and lambda:FunctionArn
    (LAMBDA, {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}, {"lambda:functionurlauthtype": ("NONE",)}, True),
    (LAMBDA, {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}, {"lambda:functionurlauthtype": ("AWS_IAM",)}, False),
    (LAMBDA, {"ArnLike": {"lambda:FunctionArn": "arn:aws:lambda:*:123456789012:function:app-*"}},
     {"lambda:functionarn": ("arn:aws:lambda:us-east-1:123456789012:function:app-api",)}, True),
]


@pytest.mark.parametrize(("page", "block", "keys", "holds"), CASES, ids=[f"{i}-{next(iter(c[1]))}" for i, c in enumerate(CASES)])
def test_condition_blocks(page: str, block: dict[str, dict[str, Any]], keys: dict[str, tuple[str, ...]], holds: bool) -> None:
    conditions = compile_conditions({op: {k: tuple(v) if isinstance(v, list) else (v,) for k, v in pairs.items()}
                                     for op, pairs in block.items()}, variables=True)
    assert all(c.holds(keys) for c in conditions) is holds


def test_dates_parse_iso_and_epoch_alike() -> None:
    assert parse_date("2020-01-01T00:00:00Z") == parse_date("1577836800") == parse_date("2020-01-01T01:00:00+01:00") == 1577836800.0
    assert parse_date("yesterday") is None
    assert parse_date("nan") is None
