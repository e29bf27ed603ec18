"""Callers that are not the account's root: the request path authorises EC2 calls with
lambent.iam.enforce over actions_ec2's table (merged into the action table as the integrator will
list it), so a user gets exactly what its identity policy grants, in EC2's UnauthorizedOperation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from ec2_wire import ACCOUNT, Endpoint

from lambent.iam import enforce
from lambent.iam.actions import ACTIONS
from lambent.iam.actions_ec2 import actions
from lambent.iam.authorize import Authorizer
from lambent.iam.model import OwnerKind, Principal
from lambent.iam.service import IamService

POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateVpc"], "Resource": "*"},
    {"Effect": "Allow", "Action": "ec2:CreateSubnet", "Resource": [
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/*", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/*"]},
    {"Effect": "Deny", "Action": "ec2:DeleteVpc", "Resource": "*"},
]}


@pytest.fixture
def bob(endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Principal]:
    monkeypatch.setattr(enforce, "ACTIONS", {**ACTIONS, **{(a.service, a.operation): a for a in actions()}})
    iam = IamService.open_in(tmp_path / "iam", ACCOUNT, ("LKIAROOTROOTROOTROOT", "r" * 40))
    iam.create_user(ACCOUNT, "bob")
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "bob", "vpc", json.dumps(POLICY))
    key = iam.create_access_key(ACCOUNT, "bob")
    principal = iam.lookup(key.access_key_id)
    assert principal is not None
    endpoint.platform_extras.update(authorizer=Authorizer(iam),
                                    function_policies=SimpleNamespace(for_arn=lambda arn: None))
    yield principal
    iam.close()


def test_a_user_gets_what_its_policy_grants_and_unauthorized_operation_for_the_rest(
        endpoint: Endpoint, bob: Principal) -> None:
    ec2 = endpoint.client(ACCOUNT, bob)
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    assert ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.0.0/24")["Subnet"]["VpcId"] == vpc_id
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [vpc_id]
    for call, kwargs in ((ec2.delete_vpc, {"VpcId": vpc_id}),
                         (ec2.create_security_group, {"VpcId": vpc_id, "GroupName": "g", "Description": "g"}),
                         (ec2.create_nat_gateway, {"SubnetId": "subnet-0123456789abcdef0"})):
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert caught.value.response["Error"]["Code"] == "UnauthorizedOperation"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "arn:aws:iam::" in caught.value.response["Error"]["Message"]
    assert [v["VpcId"] for v in endpoint.client().describe_vpcs()["Vpcs"]] == [vpc_id]
