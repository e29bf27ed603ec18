"""The VPC values as the store's rows and back (JSON for tags and id lists)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from lambent.vpc.model import (
    InterfaceType, NatGateway, NetworkInterface, Protocol, Rule, SecurityGroup, Subnet, Tags, Vpc, VpcEndpoint,
)

Row = dict[str, Any]


def _tags(tags: Tags) -> str:
    return json.dumps([list(t) for t in tags])


def _tags_from(text: str) -> Tags:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def _ids(ids: tuple[str, ...]) -> str:
    return json.dumps(list(ids))


def _ids_from(text: str) -> tuple[str, ...]:
    return tuple(str(i) for i in json.loads(text))


def vpc_row(v: Vpc) -> Row:
    return {"vpc_id": v.vpc_id, "account_id": v.account_id, "cidr": str(v.cidr), "tags": _tags(v.tags),
            "created_at": v.created_at}


def vpc_from(r: Row) -> Vpc:
    return Vpc(r["vpc_id"], r["account_id"], ipaddress.IPv4Network(r["cidr"]), _tags_from(r["tags"]), r["created_at"])


def subnet_row(s: Subnet) -> Row:
    return {"subnet_id": s.subnet_id, "account_id": s.account_id, "vpc_id": s.vpc_id, "cidr": str(s.cidr),
            "availability_zone": s.availability_zone, "tags": _tags(s.tags), "created_at": s.created_at}


def subnet_from(r: Row) -> Subnet:
    return Subnet(r["subnet_id"], r["account_id"], r["vpc_id"], ipaddress.IPv4Network(r["cidr"]),
                  r["availability_zone"], _tags_from(r["tags"]), r["created_at"])


def group_row(g: SecurityGroup) -> Row:
    return {"group_id": g.group_id, "account_id": g.account_id, "vpc_id": g.vpc_id, "name": g.name,
            "description": g.description, "tags": _tags(g.tags), "created_at": g.created_at}


def group_from(r: Row) -> SecurityGroup:
    return SecurityGroup(r["group_id"], r["account_id"], r["vpc_id"], r["name"], r["description"],
                         _tags_from(r["tags"]), r["created_at"])


def rule_row(x: Rule) -> Row:
    return {"rule_id": x.rule_id, "group_id": x.group_id, "egress": x.egress, "protocol": x.protocol.value,
            "from_port": x.from_port, "to_port": x.to_port, "cidr": None if x.cidr is None else str(x.cidr),
            "peer_group_id": x.peer_group_id, "peer_account_id": x.peer_account_id, "description": x.description}


def rule_from(r: Row) -> Rule:
    return Rule(r["rule_id"], r["group_id"], bool(r["egress"]), Protocol(r["protocol"]), r["from_port"], r["to_port"],
                None if r["cidr"] is None else ipaddress.IPv4Network(r["cidr"]), r["peer_group_id"],
                r["peer_account_id"], r["description"])


def nat_row(n: NatGateway) -> Row:
    return {"nat_gateway_id": n.nat_gateway_id, "account_id": n.account_id, "vpc_id": n.vpc_id,
            "subnet_id": n.subnet_id, "connectivity": n.connectivity, "interface_id": n.interface_id,
            "private_ip": str(n.private_ip), "tags": _tags(n.tags), "created_at": n.created_at}


def nat_from(r: Row) -> NatGateway:
    return NatGateway(r["nat_gateway_id"], r["account_id"], r["vpc_id"], r["subnet_id"], r["connectivity"],
                      r["interface_id"], ipaddress.IPv4Address(r["private_ip"]), _tags_from(r["tags"]), r["created_at"])


def endpoint_row(x: VpcEndpoint) -> Row:
    return {"endpoint_id": x.endpoint_id, "account_id": x.account_id, "vpc_id": x.vpc_id,
            "service_name": x.service_name, "endpoint_type": x.endpoint_type, "subnet_ids": _ids(x.subnet_ids),
            "group_ids": _ids(x.group_ids), "interface_ids": _ids(x.interface_ids), "private_dns": x.private_dns,
            "policy": x.policy, "tags": _tags(x.tags), "created_at": x.created_at}


def endpoint_from(r: Row) -> VpcEndpoint:
    return VpcEndpoint(r["endpoint_id"], r["account_id"], r["vpc_id"], r["service_name"], r["endpoint_type"],
                       _ids_from(r["subnet_ids"]), _ids_from(r["group_ids"]), _ids_from(r["interface_ids"]),
                       bool(r["private_dns"]), r["policy"], _tags_from(r["tags"]), r["created_at"])


def interface_row(i: NetworkInterface) -> Row:
    return {"interface_id": i.interface_id, "account_id": i.account_id, "vpc_id": i.vpc_id, "subnet_id": i.subnet_id,
            "address": str(i.address), "interface_type": i.interface_type.value,
            "availability_zone": i.availability_zone, "description": i.description, "group_ids": _ids(i.group_ids),
            "created_at": i.created_at}


def interface_from(r: Row) -> NetworkInterface:
    return NetworkInterface(r["interface_id"], r["account_id"], r["vpc_id"], r["subnet_id"],
                            ipaddress.IPv4Address(r["address"]), InterfaceType(r["interface_type"]),
                            r["availability_zone"], r["description"], _ids_from(r["group_ids"]), r["created_at"])
