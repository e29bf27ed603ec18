"""A real boto3 client (serialiser, signer, parser, botocore's IAM handlers, modelled exceptions,
paginators) against the IAM/STS handlers, in process: botocore's ``before-send`` hook hands each
prepared request to the handlers and returns their answer as the HTTP response."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from iam_wire import serve

from lambent.iam.service import IamService

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _client(iam: IamService, service: str) -> Any:
    client = boto3.client(service, region_name="us-east-1", endpoint_url="https://lambent.test",
                          aws_access_key_id="LKIAROOTROOTROOTROOT", aws_secret_access_key="r" * 40)

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
        status, out_headers, out = asyncio.run(serve(iam, service, request.method, url.path or "/", url.query, headers, body))
        return AWSResponse(request.url, status, out_headers, _Raw(out))

    client.meta.events.register(f"before-send.{service}", send)
    return client


@pytest.fixture
def client(iam: IamService) -> Any:
    return _client(iam, "iam")


def test_documents_come_back_as_dicts_through_botocores_own_decoding(client: Any) -> None:
    client.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(TRUST), Description="d")
    role = client.get_role(RoleName="exec")["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST
    client.put_role_policy(RoleName="exec", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
    assert client.get_role_policy(RoleName="exec", PolicyName="p")["PolicyDocument"]["Statement"][0]["Action"] == "logs:*"
    version = client.get_policy_version(PolicyArn=BASIC, VersionId="v1")["PolicyVersion"]
    assert version["Document"]["Statement"][0]["Resource"] == "*"


def test_errors_are_the_clients_modelled_exceptions(client: Any) -> None:
    with pytest.raises(client.exceptions.NoSuchEntityException) as missing:
        client.get_role(RoleName="nope")
    assert missing.value.response["Error"]["Message"] == "The role with name nope cannot be found."
    client.create_user(UserName="alice")
    with pytest.raises(client.exceptions.EntityAlreadyExistsException):
        client.create_user(UserName="alice")
    client.attach_user_policy(UserName="alice", PolicyArn=BASIC)
    with pytest.raises(client.exceptions.DeleteConflictException):
        client.delete_user(UserName="alice")
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.create_policy(PolicyName="bad", PolicyDocument="{")


def test_boto3_paginators_walk_marker_pages(client: Any, iam: IamService) -> None:
    for i in range(7):
        client.create_user(UserName=f"user-{i}")
    pages = list(client.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Users"]) for p in pages] == [3, 3, 1]
    assert [u["UserName"] for p in pages for u in p["Users"]] == [f"user-{i}" for i in range(7)]
    policies = [p["PolicyName"] for page in client.get_paginator("list_policies").paginate(
        Scope="AWS", PaginationConfig={"PageSize": 2}) for p in page["Policies"]]
    assert len(policies) == 6 and "AWSLambdaBasicExecutionRole" in policies


def test_sts_caller_identity(iam: IamService) -> None:
    sts = _client(iam, "sts")
    assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
