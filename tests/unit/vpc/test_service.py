"""VpcService: write-through persistence, listeners, leases from several threads, failures that
change nothing (lambent/vpc/service.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from lambent.errors import StorageFull
from lambent.store.vpc import VpcStore, Write
from lambent.vpc import errors as ve
from lambent.vpc.model import ChangeKind, InterfaceType, VpcChange
from lambent.vpc.service import VpcService

A, B = "111122223333", "444455556666"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VpcStore]:
    s = VpcStore.open_in(tmp_path)
    yield s
    s.close()


def test_everything_survives_a_restart(tmp_path: Path, store: VpcStore) -> None:
    svc = VpcService(store, region="eu-west-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16", (("Name", "x"),))
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.1.0/24", "eu-west-1c")
    group = svc.create_group(A, vpc.vpc_id, "g", "d")
    svc.authorize(A, group.group_id, egress=False, permissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": group.group_id}]}])
    nat = svc.create_nat_gateway(A, subnet.subnet_id)
    lease = svc.lease_address(subnet.subnet_id, group_ids=[group.group_id])
    endpoint = svc.create_vpc_endpoint(A, vpc.vpc_id, "com.amazonaws.eu-west-1.lambda", subnet_ids=[subnet.subnet_id])

    again = VpcService(VpcStore.open_in(tmp_path), region="eu-west-1")
    try:
        assert again.vpcs(A) == [vpc] and again.subnets(A) == [subnet] and again.nat_gateways(A) == [nat]
        assert {g.group_id for g in again.groups(A)} == {group.group_id, svc.default_group(vpc.vpc_id).group_id}
        assert again.rules(group.group_id, egress=False) == svc.rules(group.group_id, egress=False)
        assert again.interface(A, lease.interface_id) == lease
        assert again.vpc_endpoints(A) == [endpoint]
        assert again.available_addresses(subnet.subnet_id) == 251 - 3  # NAT, lease, endpoint
    finally:
        again.store.close()


def test_deleting_a_vpc_takes_its_default_group_with_it(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    default = svc.default_group(vpc.vpc_id)
    svc.delete_vpc(A, vpc.vpc_id)
    assert svc.groups(A) == [] and svc.rules(default.group_id, egress=True) == []
    assert store.load_all()["security_group_rules"] == []


def test_listeners_hear_committed_changes_and_one_failing_listener_harms_nothing(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    heard: list[VpcChange] = []

    def broken(change: VpcChange) -> None:
        raise RuntimeError("listener bug")

    svc.subscribe(broken)
    svc.subscribe(heard.append)
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/24")
    lease = svc.lease_address(subnet.subnet_id)
    svc.release_address(lease.interface_id)
    with pytest.raises(ve.SubnetConflict):
        svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/25")
    assert [c.kind for c in heard] == [ChangeKind.VPC_CREATED, ChangeKind.GROUP_CREATED, ChangeKind.SUBNET_CREATED,
                                       ChangeKind.ADDRESS_LEASED, ChangeKind.ADDRESS_RELEASED]
    assert svc.vpcs(A) == [vpc]


class _FullDisk(VpcStore):
    def write(self, writes: Sequence[Write]) -> None:
        raise StorageFull("the data directory is full")


def test_a_write_the_store_refuses_changes_nothing_in_memory(tmp_path: Path) -> None:
    store = _FullDisk.open_in(tmp_path)
    try:
        svc = VpcService(store, region="us-east-1")
        heard: list[VpcChange] = []
        svc.subscribe(heard.append)
        with pytest.raises(StorageFull):
            svc.create_vpc(A, "10.0.0.0/16")
        assert svc.vpcs(A) == [] and svc.groups(A) == [] and heard == []
    finally:
        store.close()


def test_leases_from_many_threads_never_share_an_address(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/27")  # 27 usable
    got: list[str] = []
    refused: list[ve.InsufficientFreeAddresses] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            try:
                lease = svc.lease_address(subnet.subnet_id)
            except ve.InsufficientFreeAddresses as exc:
                with lock:
                    refused.append(exc)
            else:
                with lock:
                    got.append(str(lease.address))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(got) == 27 == len(set(got)) and len(refused) == 13
    assert svc.available_addresses(subnet.subnet_id) == 0


def test_release_all_frees_what_no_environment_holds_after_a_crash(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/24")
    nat = svc.create_nat_gateway(A, subnet.subnet_id)
    for _ in range(3):
        svc.lease_address(subnet.subnet_id)
    assert svc.release_all(InterfaceType.LAMBDA) == 3
    assert [i.interface_id for i in svc.interfaces(A)] == [nat.interface_id]


def test_a_lease_checks_its_groups_belong_to_the_subnets_vpc(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    one, two = svc.create_vpc(A, "10.0.0.0/16"), svc.create_vpc(A, "10.1.0.0/16")
    subnet = svc.create_subnet(A, one.vpc_id, "10.0.0.0/24")
    with pytest.raises(ve.GroupNotFound):
        svc.lease_address(subnet.subnet_id, group_ids=[svc.default_group(two.vpc_id).group_id])
    with pytest.raises(ve.SubnetNotFound):
        svc.lease_address("subnet-0123456789abcdef0")
    assert svc.available_addresses(subnet.subnet_id) == 251


def test_groups_in_use_by_an_interface_or_endpoint_cannot_be_deleted(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/24")
    group = svc.create_group(A, vpc.vpc_id, "fn", "fn")
    lease = svc.lease_address(subnet.subnet_id, group_ids=[group.group_id])
    with pytest.raises(ve.DependencyViolation):
        svc.delete_group(A, group.group_id)
    svc.release_address(lease.interface_id)
    endpoint = svc.create_vpc_endpoint(A, vpc.vpc_id, "com.amazonaws.us-east-1.sts", group_ids=[group.group_id])
    with pytest.raises(ve.DependencyViolation):
        svc.delete_group(A, group.group_id)
    svc.delete_vpc_endpoint(A, endpoint.endpoint_id)
    assert svc.delete_group(A, group.group_id) == group


def test_accounts_see_only_their_own_objects(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/24")
    with pytest.raises(ve.VpcNotFound):
        svc.vpc(B, vpc.vpc_id)
    with pytest.raises(ve.SubnetNotFound):
        svc.subnet(B, subnet.subnet_id)
    with pytest.raises(ve.GroupNotFound):
        svc.authorize(B, svc.default_group(vpc.vpc_id).group_id, egress=True,
                      permissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert svc.vpcs(B) == [] and svc.interfaces(B) == [] and svc.nat_gateways(B) == []


def test_nat_gateways_per_zone_and_names_of_groups_are_bounded(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/24")
    for _ in range(svc.quotas.nat_gateways_per_az):
        svc.create_nat_gateway(A, subnet.subnet_id)
    with pytest.raises(ve.NatGatewayLimitExceeded):
        svc.create_nat_gateway(A, subnet.subnet_id)
    for name in ("", "x" * 256, "sg-abc", "bad\x00name"):
        with pytest.raises(ve.InvalidValue):
            svc.create_group(A, vpc.vpc_id, name, "d")


def test_a_vpc_config_names_one_vpc_of_the_callers(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    one, two = svc.create_vpc(A, "10.0.0.0/16"), svc.create_vpc(A, "10.1.0.0/16")
    a = svc.create_subnet(A, one.vpc_id, "10.0.0.0/24")
    b = svc.create_subnet(A, one.vpc_id, "10.0.1.0/24")
    c = svc.create_subnet(A, two.vpc_id, "10.1.0.0/24")
    group = svc.default_group(one.vpc_id).group_id
    assert svc.vpc_of_config(A, [a.subnet_id, b.subnet_id], [group]) == one.vpc_id
    with pytest.raises(ve.ParameterCombination):
        svc.vpc_of_config(A, [a.subnet_id, c.subnet_id], [])
    with pytest.raises(ve.ParameterCombination):
        svc.vpc_of_config(A, [c.subnet_id], [group])
    with pytest.raises(ve.SubnetNotFound) as caught:
        svc.vpc_of_config(B, [a.subnet_id], [])
    assert a.subnet_id in caught.value.message
    with pytest.raises(ve.MissingParameter):
        svc.vpc_of_config(A, [], [group])


def test_the_network_layer_finds_gateways_and_group_members(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.8.0/24")
    group = svc.create_group(A, vpc.vpc_id, "g", "g")
    inside = svc.lease_address(subnet.subnet_id, group_ids=[group.group_id])
    svc.lease_address(subnet.subnet_id)
    assert str(svc.gateway(subnet.subnet_id)) == "10.0.8.1"
    assert svc.members(group.group_id) == [inside]


def test_describing_while_another_thread_leases_is_safe(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.0.0/24")
    done = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            while not done.is_set():
                svc.release_address(svc.lease_address(subnet.subnet_id).interface_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(300):
            svc.interfaces(A)
            assert svc.available_addresses(subnet.subnet_id) in (250, 251)
    finally:
        done.set()
        worker.join(timeout=30)
    assert errors == [] and svc.available_addresses(subnet.subnet_id) == 251


def _rows(store: VpcStore) -> set[str]:
    return {r["interface_id"] for r in store.load_all()["network_interfaces"]}


def test_environment_leases_are_group_committed_and_counted_at_once(store: VpcStore) -> None:
    """An environment's lease (``later``: a cold start's path) counts at once in every answer and
    reaches vpc.db at the next flush or other write, in order; one given back before that costs
    no write at all."""
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.1.0/28")
    kept = svc.lease_address(subnet.subnet_id, later=True)
    gone = svc.lease_address(subnet.subnet_id, later=True)
    assert svc.available_addresses(subnet.subnet_id) == 11 - 2
    assert {i.interface_id for i in svc.interfaces(A)} == {kept.interface_id, gone.interface_id}
    assert _rows(store) == set() and svc.unflushed == 2
    svc.release_address(gone.interface_id)
    assert svc.available_addresses(subnet.subnet_id) == 11 - 1
    assert svc.flush() == 1  # the insert of ``kept``; ``gone``'s insert and delete cancel out
    assert _rows(store) == {kept.interface_id} and svc.unflushed == 0 and svc.flush() == 0
    # any other write commits what is behind first, in the same transaction
    svc.release_address(kept.interface_id)
    assert _rows(store) == {kept.interface_id}
    svc.create_group(A, vpc.vpc_id, "g", "d")
    assert _rows(store) == set() and svc.unflushed == 0


def test_a_full_subnet_is_full_also_before_the_flush(store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.1.0/28")
    for _ in range(11):
        svc.lease_address(subnet.subnet_id, later=True)
    with pytest.raises(ve.InsufficientFreeAddresses) as caught:
        svc.lease_address(subnet.subnet_id, later=True)
    assert caught.value.context["subnet_id"] == subnet.subnet_id
    assert svc.available_addresses(subnet.subnet_id) == 0


def test_a_refused_flush_keeps_the_writes_behind(store: VpcStore, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.1.0/24")
    lease = svc.lease_address(subnet.subnet_id, later=True)
    real = store.write

    def full(writes: Sequence[Write]) -> None:
        raise StorageFull("disk full")

    monkeypatch.setattr(store, "write", full)
    with pytest.raises(StorageFull):
        svc.flush()
    assert svc.unflushed == 1
    monkeypatch.setattr(store, "write", real)
    assert svc.flush() == 1 and _rows(store) == {lease.interface_id}


def test_a_restart_releases_environment_leases_left_in_vpc_db(tmp_path: Path, store: VpcStore) -> None:
    svc = VpcService(store, region="us-east-1")
    vpc = svc.create_vpc(A, "10.0.0.0/16")
    subnet = svc.create_subnet(A, vpc.vpc_id, "10.0.1.0/24")
    svc.lease_address(subnet.subnet_id, later=True)
    svc.flush()
    svc.lease_address(subnet.subnet_id, later=True)  # lost with the "crash": never in vpc.db
    again = VpcService(VpcStore.open_in(tmp_path), region="us-east-1")
    try:
        assert len(again.interfaces(A)) == 1
        assert again.release_all(InterfaceType.LAMBDA) == 1
        assert again.interfaces(A) == [] and _rows(again.store) == set()
    finally:
        again.store.close()
