"""A function's VpcConfig: resolved against a real VPC model with Lambda's exact answers
(lambent/control/vpc_config.py), stored and reloaded with the function, kept by its versions, and
prepared while the function is Pending (lambent/control/functions.py)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambent.arns import FunctionKey, function_key
from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.control.functions import CreateFunctionInput, FunctionService
from lambent.control.model import FunctionConfig, State, UpdateStatus, VpcConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.control.updates import ConfigUpdate
from lambent.control.versions import VersionService
from lambent.control.vpc_config import COEXIST, SAME_VPC, resolve_vpc_config
from lambent.errors import InvalidParameterValue, SubnetIPAddressLimitReached, VpcAccessFailed
from lambent.settings import Settings
from lambent.store import Store
from lambent.store.vpc import VpcStore
from lambent.vpc import errors as ve
from lambent.vpc.service import VpcService

A, B = "111122223333", "444455556666"


@pytest.fixture
def vpcs(tmp_path: Path) -> Iterator[VpcService]:
    store = VpcStore.open_in(tmp_path)
    yield VpcService(store, region="us-east-1")
    store.close()


def test_subnets_and_groups_resolve_to_their_vpc_in_request_order_without_repeats(vpcs: VpcService) -> None:
    vpc = vpcs.create_vpc(A, "10.0.0.0/16")
    s1 = vpcs.create_subnet(A, vpc.vpc_id, "10.0.1.0/24").subnet_id
    s2 = vpcs.create_subnet(A, vpc.vpc_id, "10.0.2.0/24").subnet_id
    g = vpcs.create_group(A, vpc.vpc_id, "db-clients", "d").group_id
    cfg = resolve_vpc_config(vpcs, A, [s2, s1, s2], [g, g], True)
    assert cfg == VpcConfig((s2, s1), (g,), vpc.vpc_id, A, True)
    assert cfg.attached


def test_both_empty_is_the_empty_configuration_that_leaves_the_vpc(vpcs: VpcService) -> None:
    cfg = resolve_vpc_config(vpcs, A, [], [])
    assert cfg == VpcConfig(account_id=A)
    assert not cfg.attached


@pytest.mark.parametrize("subnets,groups", [(["subnet-0123456789abcdef0"], []), ([], ["sg-0123456789abcdef0"])])
def test_subnets_and_groups_must_coexist(vpcs: VpcService, subnets: list[str], groups: list[str]) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_vpc_config(vpcs, A, subnets, groups)
    assert caught.value.message == COEXIST == "SubnetIds and SecurityIds must coexist or be both empty list."


def test_an_unknown_subnet_is_named_with_ec2s_code_and_message(vpcs: VpcService) -> None:
    vpc = vpcs.create_vpc(A, "10.0.0.0/16")
    g = vpcs.default_group(vpc.vpc_id).group_id
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_vpc_config(vpcs, A, ["subnet-0000000000000dead"], [g])
    assert caught.value.message == (
        "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. "
        "EC2 Error Message: The subnet ID 'subnet-0000000000000dead' does not exist")


def test_an_unknown_group_is_named_with_ec2s_code_and_message(vpcs: VpcService) -> None:
    vpc = vpcs.create_vpc(A, "10.0.0.0/16")
    s = vpcs.create_subnet(A, vpc.vpc_id, "10.0.1.0/24").subnet_id
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_vpc_config(vpcs, A, [s], ["sg-0000000000000beef"])
    assert caught.value.message == (
        "Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. "
        "EC2 Error Message: The security group 'sg-0000000000000beef' does not exist")


def test_another_accounts_subnet_is_not_found_as_if_it_did_not_exist(vpcs: VpcService) -> None:
    theirs = vpcs.create_vpc(B, "10.0.0.0/16")
    their_subnet = vpcs.create_subnet(B, theirs.vpc_id, "10.0.1.0/24").subnet_id
    their_group = vpcs.default_group(theirs.vpc_id).group_id
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_vpc_config(vpcs, A, [their_subnet], [their_group])
    assert f"The subnet ID '{their_subnet}' does not exist" in caught.value.message


@pytest.mark.parametrize("mix", ["subnets", "group"])
def test_subnets_and_groups_of_different_vpcs_are_refused(vpcs: VpcService, mix: str) -> None:
    one, two = vpcs.create_vpc(A, "10.0.0.0/16"), vpcs.create_vpc(A, "10.1.0.0/16")
    s1 = vpcs.create_subnet(A, one.vpc_id, "10.0.1.0/24").subnet_id
    s2 = vpcs.create_subnet(A, two.vpc_id, "10.1.1.0/24").subnet_id
    g1, g2 = vpcs.default_group(one.vpc_id).group_id, vpcs.default_group(two.vpc_id).group_id
    subnets, groups = ([s1, s2], [g1]) if mix == "subnets" else ([s1], [g1, g2])
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_vpc_config(vpcs, A, subnets, groups)
    assert caught.value.message == SAME_VPC


# -- stored with the function ------------------------------------------------------------------
def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
    return buf.getvalue()


def K(name: str) -> FunctionKey:
    return function_key(A, name)


def _service(tmp_path: Path) -> FunctionService:
    store = Store.open_in(tmp_path)
    return FunctionService(Settings(data_dir=tmp_path), store, CodeStore(tmp_path / "code", store, ZipLimits()),
                           RuntimeCatalog())


VPC = VpcConfig(("subnet-0123456789abcdef0",), ("sg-0123456789abcdef0",), "vpc-0123456789abcdef0", A)


def _inp(name: str, vpc: VpcConfig | None) -> CreateFunctionInput:
    return CreateFunctionInput(account_id=A, name=name, runtime="python3.11", role=f"arn:aws:iam::{A}:role/r", handler="app.handler",
                               zip_file=_zip(), vpc_config=vpc)


def test_the_configuration_round_trips_through_json() -> None:
    cfg = FunctionConfig("f", "python3.11", "r", "h", "x", "y", 1, "t", "rev", vpc_config=VPC)
    assert FunctionConfig.from_json(cfg.to_json()) == cfg
    plain = FunctionConfig("f", "python3.11", "r", "h", "x", "y", 1, "t", "rev")
    assert FunctionConfig.from_json(plain.to_json()).vpc_config is None
    # rows written before the field existed have no key at all
    legacy = plain.to_json()
    del legacy["vpc_config"]
    assert FunctionConfig.from_json(legacy).vpc_config is None


async def test_stored_reloaded_kept_by_versions_and_removed_by_an_empty_update(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    await svc.create(_inp("fn", VPC))
    await svc.wait_idle()
    assert svc.resolve(K("fn")).vpc_config == VPC
    version = await VersionService(svc).publish(K("fn"))
    await svc.update_configuration(K("fn"), ConfigUpdate(vpc_config=VpcConfig(account_id=A)))
    await svc.wait_idle()
    assert svc.resolve(K("fn")).vpc_config == VpcConfig(account_id=A)
    assert svc.resolve(K("fn"), version.version).vpc_config == VPC  # a version keeps what it was published with
    svc.store.close()
    again = _service(tmp_path)
    assert again.resolve(K("fn"), version.version).vpc_config == VPC
    assert again.resolve(K("fn")).vpc_config == VpcConfig(account_id=A)
    again.store.close()


async def test_pending_until_the_network_is_prepared_then_active(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    prepared: list[str] = []

    async def prepare(cfg: FunctionConfig) -> None:
        assert svc.resolve(cfg.key).state == State.PENDING  # still Pending while it runs
        prepared.append(cfg.name)

    svc.prepare_network = prepare
    await svc.create(_inp("in-vpc", VPC))
    await svc.create(_inp("plain", None))
    await svc.create(_inp("left", VpcConfig(account_id=A)))
    await svc.wait_idle()
    assert prepared == ["in-vpc"]  # only a configuration that joins a VPC has a network to prepare
    assert all(svc.resolve(K(n)).state == State.ACTIVE for n in ("in-vpc", "plain", "left"))
    svc.store.close()


async def test_a_network_that_cannot_be_prepared_fails_with_its_reason_code(tmp_path: Path) -> None:
    svc = _service(tmp_path)

    async def prepare(cfg: FunctionConfig) -> None:
        failed = VpcAccessFailed("Lambda was not able to set up VPC access for the Lambda function: gone")
        failed.reason_code = "InvalidSubnet"
        raise failed

    svc.prepare_network = prepare
    await svc.create(_inp("fn", VPC))
    await svc.wait_idle()
    cfg = svc.resolve(K("fn"))
    assert (cfg.state, cfg.state_reason_code) == (State.FAILED, "InvalidSubnet")
    assert cfg.state_reason == "Lambda was not able to set up VPC access for the Lambda function: gone"


async def test_an_update_into_a_vpc_is_in_progress_until_prepared(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    await svc.create(_inp("fn", None))
    await svc.wait_idle()

    async def prepare(cfg: FunctionConfig) -> None:
        raise SubnetIPAddressLimitReached("full")

    svc.prepare_network = prepare
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(vpc_config=VPC))
    assert (cfg.last_update_status, cfg.last_update_status_reason_code) == (UpdateStatus.IN_PROGRESS, "Creating")
    await svc.wait_idle()
    done = svc.resolve(K("fn"))
    assert (done.last_update_status, done.last_update_status_reason_code) == (UpdateStatus.FAILED,
                                                                              "SubnetOutOfIPAddresses")
    svc.store.close()


def test_a_subnet_or_group_a_function_uses_cannot_be_deleted(vpcs: VpcService) -> None:
    vpc = vpcs.create_vpc(A, "10.0.0.0/16")
    used = vpcs.create_subnet(A, vpc.vpc_id, "10.0.1.0/24").subnet_id
    free = vpcs.create_subnet(A, vpc.vpc_id, "10.0.2.0/24").subnet_id
    group = vpcs.create_group(A, vpc.vpc_id, "fn", "d").group_id
    config = resolve_vpc_config(vpcs, A, [used], [group])
    vpcs.used_elsewhere.append(lambda account, rid: account == A and rid in config.subnet_ids + config.security_group_ids)
    with pytest.raises(ve.DependencyViolation) as caught:
        vpcs.delete_subnet(A, used)
    assert caught.value.message == f"The subnet '{used}' has dependencies and cannot be deleted."
    with pytest.raises(ve.DependencyViolation) as caught:
        vpcs.delete_group(A, group)
    assert caught.value.message == f"resource {group} has a dependent object"
    vpcs.delete_subnet(A, free)  # what no function uses goes as before
    assert [s.subnet_id for s in vpcs.subnets(A)] == [used]
