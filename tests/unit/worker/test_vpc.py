"""Environments of VPC functions (lambent/worker/vpc.py and the pool's choice of network): the
placement's network under the host's cap, failures as Lambda's Invoke errors, nothing held
after a failed or finished attach, and the default network for everything else."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lambent.control.model import FunctionConfig, VpcConfig
from lambent.control.runtimes import RuntimeCatalog
from lambent.errors import (
    ENILimitReached,
    LimitExceeded,
    ResourceNotFound,
    ServiceError,
    SubnetIPAddressLimitReached,
    VpcAccessFailed,
)
from lambent.observability.logs import LogStore
from lambent.sandbox import CgroupManager
from lambent.settings import WorkerSettings
from lambent.worker.pool import WorkerPool
from lambent.vpc import errors as ve
from lambent.worker.vpc import (
    ENI_LIMIT_MESSAGE,
    InterfaceCap,
    VpcEnvironmentNetwork,
    VpcPlacement,
    subnet_limit_message,
    vpc_placement,
)

SUBNET = "subnet-0123456789abcdef0"


class FakeNetwork:
    """An EnvironmentNetwork recording attaches and detaches; ``fail`` raised by the next attach."""

    def __init__(self, name: str = "net") -> None:
        self.name = name
        self.fail: BaseException | None = None
        self.attached: list[str] = []
        self.detached: list[object] = []

    @property
    def resolv_conf(self) -> Path:
        return Path(f"/run/{self.name}/resolv.conf")

    async def attach(self, env_id: str, pid: int) -> object:
        if self.fail is not None:
            raise self.fail
        self.attached.append(env_id)
        return ("att", env_id)

    async def detach(self, att: object, /) -> None:
        self.detached.append(att)


def cfg(vpc: VpcConfig | None = None, name: str = "f") -> FunctionConfig:
    return FunctionConfig(name=name, runtime="python3.11", role="r", handler="app.handler", code_hash_hex="a" * 64,
                          code_sha256_b64="x", code_size=1, last_modified="now", revision_id="rev", vpc_config=vpc)


VPC = VpcConfig((SUBNET,), ("sg-0123456789abcdef0",), "vpc-0123456789abcdef0", "111122223333")


async def test_attach_and_detach_pass_through_and_count_against_the_cap() -> None:
    inner, cap = FakeNetwork(), InterfaceCap(2)
    net = VpcEnvironmentNetwork(inner, cap, "f")
    assert net.resolv_conf == inner.resolv_conf
    att = await net.attach("env-1", 42)
    assert (inner.attached, cap.in_use) == (["env-1"], 1)
    await net.detach(att)
    await net.detach(att)  # idempotent: counted back once
    assert cap.in_use == 0
    assert inner.detached == [att, att]


async def test_the_host_cap_is_enilimitreached_and_frees_when_an_environment_goes() -> None:
    inner, cap = FakeNetwork(), InterfaceCap(1)
    first = VpcEnvironmentNetwork(inner, cap, "f")
    att = await first.attach("env-1", 1)
    with pytest.raises(ENILimitReached) as caught:
        await VpcEnvironmentNetwork(inner, cap, "f").attach("env-2", 2)
    assert caught.value.message == ENI_LIMIT_MESSAGE
    assert inner.attached == ["env-1"]  # the inner network was never asked
    await first.detach(att)
    await VpcEnvironmentNetwork(inner, cap, "f").attach("env-3", 3)
    assert cap.in_use == 1


async def test_a_full_subnet_is_subnetipaddresslimitreached_naming_it_and_holds_nothing() -> None:
    inner, cap = FakeNetwork(), InterfaceCap(4)
    inner.fail = LimitExceeded("There are not enough free addresses in subnet", subnet_id=SUBNET)
    with pytest.raises(SubnetIPAddressLimitReached) as caught:
        await VpcEnvironmentNetwork(inner, cap, "f").attach("env-1", 1)
    assert caught.value.message == subnet_limit_message(SUBNET)
    assert SUBNET in caught.value.message
    assert caught.value.reason_code == "SubnetOutOfIPAddresses"
    assert cap.in_use == 0


@pytest.mark.parametrize("error", [ServiceError("linux said no"), ResourceNotFound("subnet gone")])
async def test_other_lambent_errors_are_ec2unexpected_and_hold_nothing(error: Exception) -> None:
    inner, cap = FakeNetwork(), InterfaceCap(4)
    inner.fail = error
    with pytest.raises(VpcAccessFailed) as caught:
        await VpcEnvironmentNetwork(inner, cap, "f").attach("env-1", 1)
    assert type(caught.value) is VpcAccessFailed
    assert caught.value.message.startswith("Lambda was not able to set up VPC access for the Lambda function")
    assert cap.in_use == 0


async def test_a_cancelled_attach_gives_its_place_back() -> None:
    inner, cap = FakeNetwork(), InterfaceCap(1)
    inner.fail = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        await VpcEnvironmentNetwork(inner, cap, "f").attach("env-1", 1)
    assert cap.in_use == 0


def test_the_cap_needs_room_for_one() -> None:
    with pytest.raises(ValueError):
        InterfaceCap(0)


# -- the pool's choice ---------------------------------------------------------------------------
@pytest.fixture
def pool(tmp_path: Path) -> WorkerPool:
    return WorkerPool(WorkerSettings(memory_budget_mb=1024, vpc_interfaces_max=3), runtimes=RuntimeCatalog(),
                      code_dir=lambda sha: tmp_path / sha, logs=LogStore(tmp_path / "logs"),
                      cgroups=CgroupManager(root=str(tmp_path / "cg")), region="us-east-1")


async def test_vpc_configurations_join_their_vpc_and_the_rest_the_default_network(pool: WorkerPool) -> None:
    default, vpc_net = FakeNetwork("default"), FakeNetwork("vpc")
    placed: list[str] = []

    def placer(c: FunctionConfig) -> VpcPlacement:
        placed.append(c.name)
        return VpcPlacement(vpc_net, lambda: False)

    pool.network_with(default)
    pool.vpc_with(placer)
    plain = await pool.new_environment(cfg(name="plain"))
    left = await pool.new_environment(cfg(VpcConfig(account_id="111122223333"), name="left"))
    joined = await pool.new_environment(cfg(VPC, name="joined"))
    assert plain.network is default and plain.inside_gate is None
    assert left.network is default and left.inside_gate is None
    assert isinstance(joined.network, VpcEnvironmentNetwork) and joined.network.inner is vpc_net
    assert joined.network.cap is pool.vpc_interfaces and pool.vpc_interfaces.limit == 3
    assert joined.inside_gate is not None and joined.inside_gate() is False
    assert placed == ["joined"]
    await pool.shutdown()


async def test_without_a_vpc_data_plane_a_vpc_environment_cannot_start(pool: WorkerPool) -> None:
    with pytest.raises(VpcAccessFailed) as caught:
        await pool.new_environment(cfg(VPC))
    assert "LAMBENT_VPC_NETWORK_ENABLED" in caught.value.message
    assert pool.memory_in_use_mb == 0 and not pool.environments()  # refused before anything was reserved


async def test_a_placer_refusal_is_ec2unexpected_and_reserves_nothing(pool: WorkerPool) -> None:
    def placer(c: FunctionConfig) -> VpcPlacement:
        raise ResourceNotFound("The subnet ID 'subnet-0123456789abcdef0' does not exist")

    pool.vpc_with(placer)
    with pytest.raises(VpcAccessFailed) as caught:
        await pool.new_environment(cfg(VPC))
    assert caught.value.message.endswith("The subnet ID 'subnet-0123456789abcdef0' does not exist")
    assert pool.memory_in_use_mb == 0 and not pool.environments()


# -- the platform's placement over the VPC data plane ------------------------------------------------
class FakePlane:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.asked: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        self.reachable: set[tuple[str, str]] = set()

    def for_function(self, account_id: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str]) -> FakeNetwork:
        if self.error is not None:
            raise self.error
        self.asked.append((account_id, tuple(subnet_ids), tuple(security_group_ids)))
        return FakeNetwork("vpc")

    def api_reachable(self, account_id: str, vpc_id: str) -> bool:
        return (account_id, vpc_id) in self.reachable


def test_the_placement_asks_for_the_functions_own_account_subnets_and_groups() -> None:
    plane = FakePlane()
    placement = vpc_placement(plane, cfg(VPC))
    assert plane.asked == [(VPC.account_id, VPC.subnet_ids, VPC.security_group_ids)]
    assert placement.api_reachable() is False
    plane.reachable.add((VPC.account_id, VPC.vpc_id))  # an endpoint or a NAT gateway appears: seen at once
    assert placement.api_reachable() is True


@pytest.mark.parametrize("error,reason", [
    (ve.SubnetNotFound("The subnet ID 'x' does not exist"), "InvalidSubnet"),
    (ve.GroupNotFound("The security group 'y' does not exist"), "InvalidSecurityGroup"),
    (ve.ParameterCombination("several VPCs"), "InvalidConfiguration"),
])
def test_a_vpc_that_no_longer_serves_the_configuration_fails_with_lambdas_reason(error: Exception, reason: str) -> None:
    with pytest.raises(VpcAccessFailed) as caught:
        vpc_placement(FakePlane(error), cfg(VPC))
    assert caught.value.reason_code == reason


def test_only_an_attached_configuration_is_placed() -> None:
    with pytest.raises(VpcAccessFailed):
        vpc_placement(FakePlane(), cfg(VpcConfig(account_id="111122223333")))
