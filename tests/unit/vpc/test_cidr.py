"""CIDR rules of VPCs and subnets and the reserved addresses (lambent/vpc/cidr.py)."""

from __future__ import annotations

import ipaddress

import pytest

from lambent.vpc import cidr
from lambent.vpc import errors as ve

VPC = ipaddress.IPv4Network("10.0.0.0/16")


@pytest.mark.parametrize("block", ["10.0.0.0/16", "192.168.0.0/20", "172.16.5.16/28"])
def test_vpc_blocks_from_16_to_28_are_taken(block: str) -> None:
    assert str(cidr.vpc_block(block)) == block


@pytest.mark.parametrize("block", ["10.0.0.0/15", "10.0.0.0/29", "0.0.0.0/0", "10.0.0.1/32"])
def test_vpc_blocks_outside_the_range_are_invalid_vpc_range(block: str) -> None:
    with pytest.raises(ve.VpcRange) as caught:
        cidr.vpc_block(block)
    assert caught.value.code == "InvalidVpc.Range" and block in caught.value.message


@pytest.mark.parametrize("block", ["10.0.0.1/16", "10.0.0.0", "fd00::/56", "10.0.0.0/33", "", "x/16", "010.0.0.0/16"])
def test_malformed_blocks_are_invalid_parameter_value(block: str) -> None:
    with pytest.raises(ve.InvalidValue) as caught:
        cidr.vpc_block(block)
    assert caught.value.code == "InvalidParameterValue"


def test_a_subnet_lies_inside_its_vpc() -> None:
    assert str(cidr.subnet_block("10.0.3.0/24", VPC, [])) == "10.0.3.0/24"
    assert str(cidr.subnet_block("10.0.0.0/16", VPC, [])) == "10.0.0.0/16"  # the whole VPC is allowed
    for block in ("10.1.0.0/24", "10.0.0.0/15", "10.0.0.0/29", "9.255.255.0/24"):
        with pytest.raises(ve.SubnetRange):
            cidr.subnet_block(block, VPC, [])


def test_subnets_of_a_vpc_do_not_overlap() -> None:
    siblings = [ipaddress.IPv4Network("10.0.1.0/24")]
    assert str(cidr.subnet_block("10.0.2.0/24", VPC, siblings)) == "10.0.2.0/24"
    for block in ("10.0.1.0/24", "10.0.1.128/25", "10.0.0.0/23", "10.0.1.240/28"):
        with pytest.raises(ve.SubnetConflict) as caught:
            cidr.subnet_block(block, VPC, siblings)
        assert caught.value.code == "InvalidSubnet.Conflict"


def test_five_addresses_of_each_subnet_are_reserved() -> None:
    net = ipaddress.IPv4Network("10.0.1.0/28")
    assert cidr.usable_count(net) == 11
    assert cidr.usable_count(ipaddress.IPv4Network("10.0.0.0/24")) == 251
    assert cidr.gateway(net) == ipaddress.IPv4Address("10.0.1.1")
    usable = [a for a in net if cidr.is_usable(net, a)]
    assert [str(a) for a in usable] == [f"10.0.1.{i}" for i in range(4, 15)]
    assert not cidr.is_usable(net, ipaddress.IPv4Address("10.0.2.5"))


def test_the_lowest_free_address_is_chosen_and_none_when_full() -> None:
    net = ipaddress.IPv4Network("10.0.1.0/28")
    taken = {ipaddress.IPv4Address("10.0.1.4"), ipaddress.IPv4Address("10.0.1.6")}
    assert cidr.first_free(net, taken) == ipaddress.IPv4Address("10.0.1.5")
    everything = {a for a in net if cidr.is_usable(net, a)}
    assert cidr.first_free(net, everything) is None
