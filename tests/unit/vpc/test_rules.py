"""IpPermissions <-> atomic rules (lambent/vpc/rules.py)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lambent.vpc import errors as ve
from lambent.vpc.model import Protocol
from lambent.vpc.rules import permissions_of, rules_of

_ids = itertools.count()


def _rules(*permissions: dict[str, Any], egress: bool = False) -> Any:
    return rules_of("sg-1", egress, list(permissions), lambda: f"sgr-{next(_ids)}")


def test_each_cidr_and_group_of_a_permission_is_one_rule() -> None:
    rules = _rules({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.0.2.0/24", "Description": "web"}],
                    "UserIdGroupPairs": [{"GroupId": "sg-2"}]})
    assert [(r.protocol, r.from_port, r.to_port) for r in rules] == [(Protocol.TCP, 80, 443)] * 3
    assert [str(r.cidr) if r.cidr else r.peer_group_id for r in rules] == ["10.0.0.0/8", "192.0.2.0/24", "sg-2"]
    assert rules[1].description == "web"


@pytest.mark.parametrize(("raw", "protocol", "ports"), [
    ("6", Protocol.TCP, (22, 22)), ("17", Protocol.UDP, (22, 22)), ("TCP", Protocol.TCP, (22, 22)),
    ("1", Protocol.ICMP, (22, 22)), ("-1", Protocol.ALL, (None, None)), ("all", Protocol.ALL, (None, None)),
])
def test_protocols_by_name_or_number(raw: str, protocol: Protocol, ports: tuple[int | None, int | None]) -> None:
    [rule] = _rules({"IpProtocol": raw, "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
    assert rule.protocol is protocol and (rule.from_port, rule.to_port) == ports


def test_icmp_defaults_to_any_type_and_code() -> None:
    [rule] = _rules({"IpProtocol": "icmp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
    assert (rule.from_port, rule.to_port) == (-1, -1)


@pytest.mark.parametrize("permission", [
    {"IpProtocol": "47", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "udp", "FromPort": -5, "ToPort": 10, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "udp", "FromPort": 10, "ToPort": 9, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "icmp", "FromPort": 256, "ToPort": 0, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "::/0"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "PrefixListIds": [{"PrefixListId": "pl-1"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "a\nb"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1},
    {"FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
])
def test_bad_permissions_are_refused(permission: dict[str, Any]) -> None:
    with pytest.raises(ve.InvalidValue):
        _rules(permission)


def test_a_duplicate_within_one_request_is_invalid_permission_duplicate() -> None:
    same = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    with pytest.raises(ve.PermissionDuplicate):
        _rules(same, same)


def test_rules_group_back_into_ip_permissions_by_protocol_and_ports() -> None:
    rules = _rules({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                   {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-2"}]},
                   {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]})
    out = permissions_of(rules, lambda g: "111122223333")
    assert out == [
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "10.1.0.0/16"}],
         "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []},
        {"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
         "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "111122223333"}]},
    ]
