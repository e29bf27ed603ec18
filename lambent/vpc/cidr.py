"""IPv4 CIDR rules of VPCs and subnets, and the addresses a subnet can hand out (pure).

AWS's rules ("VPC CIDR blocks", https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html;
"Subnet CIDR blocks", https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html):
a VPC's block and a subnet's are /16 to /28; a subnet lies inside its VPC's block and overlaps no
other subnet of the VPC; the first four addresses of a subnet and its last one are reserved
(network, VPC router, DNS, future use, broadcast), so a /28 offers 11.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable

from lambent.vpc import errors as ve
from lambent.vpc.model import echo

MIN_PREFIX = 16
MAX_PREFIX = 28
#: network address, router (+1), DNS (+2), reserved (+3) and the last address
RESERVED_PER_SUBNET = 5
_FIRST_USABLE = 4


def parse(text: str, parameter: str) -> ipaddress.IPv4Network:
    """``text`` as an IPv4 network in canonical form; EC2's InvalidParameterValue otherwise
    (host bits set, IPv6, or not a CIDR at all)."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ve.InvalidValue(
            f"Value ({echo(text)}) for parameter {parameter} is invalid. This is not a valid CIDR block."
        ) from None
    if not isinstance(net, ipaddress.IPv4Network) or "/" not in text:
        raise ve.InvalidValue(f"Value ({echo(text)}) for parameter {parameter} is invalid. This is not a valid CIDR block.")
    return net


def vpc_block(text: str) -> ipaddress.IPv4Network:
    """A CreateVpc ``CidrBlock``: a valid block between /16 and /28 (InvalidVpc.Range otherwise)."""
    net = parse(text, "cidrBlock")
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
        raise ve.VpcRange(f"The CIDR '{text}' is invalid.")
    return net


def subnet_block(
    text: str, vpc: ipaddress.IPv4Network, siblings: Iterable[ipaddress.IPv4Network]
) -> ipaddress.IPv4Network:
    """A CreateSubnet ``CidrBlock``: /16../28, inside ``vpc`` (InvalidSubnet.Range) and overlapping
    none of the VPC's other subnets (InvalidSubnet.Conflict)."""
    net = parse(text, "cidrBlock")
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX or not net.subnet_of(vpc):
        raise ve.SubnetRange(f"The CIDR '{text}' is invalid.")
    for other in siblings:
        if net.overlaps(other):
            raise ve.SubnetConflict(f"The CIDR '{text}' conflicts with another subnet")
    return net


def usable_count(net: ipaddress.IPv4Network) -> int:
    """Addresses a subnet can give out: its size minus AWS's five reserved ones."""
    return net.num_addresses - RESERVED_PER_SUBNET


def gateway(net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The subnet's router address (the network address + 1), as on AWS."""
    return net.network_address + 1


def is_usable(net: ipaddress.IPv4Network, address: ipaddress.IPv4Address) -> bool:
    """``address`` is in ``net`` and is not one of the reserved five."""
    if address not in net:
        return False
    offset = int(address) - int(net.network_address)
    return _FIRST_USABLE <= offset < net.num_addresses - 1


def first_free(net: ipaddress.IPv4Network, taken: Collection[ipaddress.IPv4Address]) -> ipaddress.IPv4Address | None:
    """The lowest usable address of ``net`` not in ``taken``; None when the subnet is full.
    Scans at most ``len(taken) + 1`` candidates."""
    start = int(net.network_address) + _FIRST_USABLE
    end = int(net.broadcast_address)  # exclusive: the last address is reserved
    candidate = start
    while candidate < end:
        address = ipaddress.IPv4Address(candidate)
        if address not in taken:
            return address
        candidate += 1
    return None
