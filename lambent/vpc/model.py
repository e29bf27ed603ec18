"""The VPC subset's values: frozen, one per EC2 resource, in lambent's own field names.

The wire shapes (``Vpc``, ``Subnet``, ``SecurityGroup`` ... of botocore's ec2 model) are built
from these in :mod:`lambent.api.ec2_api`; the store keeps them as rows (:mod:`lambent.store.vpc`).
Ids are EC2's: a prefix and 17 lower-case hex digits (``vpc-0a1b2c3d4e5f60718``).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from lambent.vpc import errors as ve

Tags = tuple[tuple[str, str], ...]

#: EC2 accepts the old 8-digit ids and the 17-digit ones.
_ID = re.compile(r"^[a-z]+-[0-9a-f]{8}(?:[0-9a-f]{9})?$")


#: characters XML 1.0 cannot carry: a stored value holding one would make every answer naming it
#: unparsable (a Describe broken for the whole account), an echoed one the error itself
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def echo(text: object, limit: int = 64) -> str:
    """A caller's value as a message may quote it: cut to ``limit``, XML-unsafe characters as ``?``."""
    return _NOT_XML.sub("?", str(text)[:limit])


def check_text(text: str, what: str, limit: int) -> str:
    """``text`` if it is at most ``limit`` characters XML can carry; InvalidParameterValue otherwise."""
    if len(text) > limit or _NOT_XML.search(text):
        raise ve.InvalidValue(f"Invalid value for {what}: at most {limit} characters, no control characters.")
    return text


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def check_id(value: str, prefix: str, malformed: type[ve.Ec2Error]) -> str:
    """``value`` if it is a well-formed id of ``prefix``; EC2's ``.Malformed`` error otherwise."""
    if not value.startswith(f"{prefix}-") or not _ID.match(value):
        raise malformed(f'Invalid id: "{echo(value)}"')
    return value


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"
    ALL = "-1"


class InterfaceType(StrEnum):
    """Who holds an address (``InterfaceType`` of DescribeNetworkInterfaces)."""

    LAMBDA = "lambda"
    NAT_GATEWAY = "nat_gateway"
    VPC_ENDPOINT = "vpc_endpoint"
    #: an operator's own service attached with ``lambent vpc attach``
    ATTACHMENT = "interface"


@dataclass(frozen=True, slots=True)
class Vpc:
    vpc_id: str
    account_id: str
    cidr: ipaddress.IPv4Network
    tags: Tags = ()
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Subnet:
    subnet_id: str
    account_id: str
    vpc_id: str
    cidr: ipaddress.IPv4Network
    availability_zone: str
    tags: Tags = ()
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Rule:
    """One atomic security-group rule: one protocol and port range, one source or destination
    (a CIDR or another group). EC2's ``IpPermissions`` group these by protocol and ports."""

    rule_id: str
    group_id: str
    egress: bool
    protocol: Protocol
    #: tcp/udp: the port range; icmp: type and code (-1: all); -1 (all traffic): None
    from_port: int | None
    to_port: int | None
    cidr: ipaddress.IPv4Network | None = None
    #: the group whose members are the peers (a UserIdGroupPair)
    peer_group_id: str | None = None
    peer_account_id: str | None = None
    description: str = ""

    def same_permission(self, other: Rule) -> bool:
        """Equal but for id and description: EC2's duplicate test."""
        return (self.egress, self.protocol, self.from_port, self.to_port, self.cidr, self.peer_group_id) == (
            other.egress, other.protocol, other.from_port, other.to_port, other.cidr, other.peer_group_id)


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    group_id: str
    account_id: str
    vpc_id: str
    name: str
    description: str
    tags: Tags = ()
    created_at: float = 0.0

    @property
    def is_default(self) -> bool:
        return self.name == "default"


@dataclass(frozen=True, slots=True)
class NatGateway:
    nat_gateway_id: str
    account_id: str
    vpc_id: str
    subnet_id: str
    connectivity: str
    #: the interface holding its private address in the subnet
    interface_id: str
    private_ip: ipaddress.IPv4Address
    tags: Tags = ()
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class VpcEndpoint:
    endpoint_id: str
    account_id: str
    vpc_id: str
    service_name: str
    endpoint_type: str
    subnet_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    interface_ids: tuple[str, ...] = ()
    private_dns: bool = False
    policy: str = ""
    tags: Tags = ()
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class NetworkInterface:
    """An address leased from a subnet (one per environment, NAT gateway, endpoint ...)."""

    interface_id: str
    account_id: str
    vpc_id: str
    subnet_id: str
    address: ipaddress.IPv4Address
    interface_type: InterfaceType
    availability_zone: str
    description: str = ""
    group_ids: tuple[str, ...] = ()
    created_at: float = 0.0


class ChangeKind(StrEnum):
    VPC_CREATED = "vpc-created"
    VPC_DELETED = "vpc-deleted"
    SUBNET_CREATED = "subnet-created"
    SUBNET_DELETED = "subnet-deleted"
    GROUP_CREATED = "group-created"
    GROUP_DELETED = "group-deleted"
    #: a group's rules changed: the network layer re-applies them to its interfaces
    RULES_CHANGED = "rules-changed"
    NAT_CREATED = "nat-created"
    NAT_DELETED = "nat-deleted"
    ENDPOINT_CREATED = "endpoint-created"
    ENDPOINT_DELETED = "endpoint-deleted"
    ADDRESS_LEASED = "address-leased"
    ADDRESS_RELEASED = "address-released"


@dataclass(frozen=True, slots=True)
class VpcChange:
    """What a listener of :class:`lambent.vpc.service.VpcService` is told after a committed change."""

    kind: ChangeKind
    account_id: str
    vpc_id: str
    #: the resource that changed (a subnet, group, NAT gateway, endpoint or interface id)
    resource_id: str


@dataclass(frozen=True, slots=True)
class VpcQuotas:
    """Per-account (or per-VPC / per-group) counts, AWS's default quotas ("Amazon VPC quotas",
    https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html), so a caller cannot
    fill the host with objects."""

    vpcs_per_account: int = 5
    subnets_per_vpc: int = 200
    groups_per_vpc: int = 2500
    #: inbound and outbound counted separately
    rules_per_group: int = 60
    nat_gateways_per_az: int = 5
    endpoints_per_vpc: int = 50
    tags_per_resource: int = 50
    #: results of a Describe page when MaxResults is not given (and its ceiling)
    max_results: int = 1000


_MAX_TAG_KEY = 127
_MAX_TAG_VALUE = 255


def check_tags(pairs: Tags, limit: int) -> Tags:
    """``pairs`` if they are tags EC2 would take: at most ``limit``, keys 1..127 characters and not
    ``aws:``-prefixed (reserved for AWS), values up to 255, one value per key
    ("Tag restrictions", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html)."""
    if len(pairs) > limit:
        raise ve.InvalidValue(f"The number of tags exceeds the limit of {limit}.")
    seen: set[str] = set()
    for key, value in pairs:
        if not key:
            raise ve.InvalidValue("Tag keys must be 1 to 127 characters and values at most 255.")
        check_text(key, "Tag.Key", _MAX_TAG_KEY)
        check_text(value, "Tag.Value", _MAX_TAG_VALUE)
        if key.lower().startswith("aws:"):
            raise ve.InvalidValue("Tag keys starting with 'aws:' are reserved for internal use")
        if key in seen:
            raise ve.InvalidValue(f"Duplicate tag key '{echo(key, 127)}' specified.")
        seen.add(key)
    return pairs
