"""Security-group permissions: EC2's ``IpPermissions`` to atomic rules and back (pure).

Authorize*/Revoke* take ``IpPermissions`` (protocol, ports, a list of CIDRs, a list of groups);
each CIDR or group of a permission is one :class:`~lambent.vpc.model.Rule`. IpProtocol is
``tcp``/``udp``/``icmp``/``-1`` or their numbers (6, 17, 1; "all" is -1); tcp and udp need a port
range 0..65535, icmp takes a type and code (-1: any); -1 ignores ports ("Security group rules",
https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html). IPv6 ranges and
prefix lists are refused by name (lambent's VPCs are IPv4 only).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambent.vpc import errors as ve
from lambent.vpc.model import Protocol, Rule, echo

_NUMBERS = {"6": Protocol.TCP, "17": Protocol.UDP, "1": Protocol.ICMP, "-1": Protocol.ALL, "all": Protocol.ALL}
_MAX_DESCRIPTION = 255


@dataclass(frozen=True, slots=True)
class Peer:
    """A rule's other side as the caller named it: a CIDR or a group id (checked by the service)."""

    cidr: ipaddress.IPv4Network | None
    group_id: str | None
    account_id: str | None
    description: str


def protocol_of(raw: str) -> Protocol:
    value = raw.strip().lower()
    if value in _NUMBERS:
        return _NUMBERS[value]
    try:
        return Protocol(value)
    except ValueError:
        raise ve.InvalidValue(
            f"Invalid value '{echo(raw, 32)}' for IP protocol. Unknown protocol (lambent supports tcp, udp, icmp and -1)."
        ) from None


def ports_of(protocol: Protocol, from_port: int | None, to_port: int | None) -> tuple[int | None, int | None]:
    """The rule's (from, to) as EC2 keeps them; InvalidParameterValue for a bad range."""
    if protocol is Protocol.ALL:
        return None, None
    if protocol is Protocol.ICMP:
        kind = -1 if from_port is None else from_port
        code = -1 if to_port is None else to_port
        if not -1 <= kind <= 255 or not -1 <= code <= 255:
            raise ve.InvalidValue(f"Invalid value for portRange. ICMP type ({kind}) and code ({code}) must be -1..255.")
        return kind, code
    if from_port is None or to_port is None:
        raise ve.InvalidValue(f"Invalid value for portRange. Must specify both from and to ports with {protocol}.")
    if from_port == -1 and to_port == -1:
        return 0, 65535
    if not 0 <= from_port <= 65535 or not 0 <= to_port <= 65535:
        raise ve.InvalidValue(f"Invalid value for portRange. Ports must be 0..65535 ({from_port}..{to_port}).")
    if from_port > to_port:
        raise ve.InvalidValue(f"Invalid port range: from port {from_port} is greater than to port {to_port}.")
    return from_port, to_port


def _description(raw: object) -> str:
    text = "" if raw is None else str(raw)
    if len(text) > _MAX_DESCRIPTION or any(ord(ch) < 0x20 for ch in text) or echo(text, _MAX_DESCRIPTION) != text:
        raise ve.InvalidValue("Invalid rule description: at most 255 printable characters.")
    return text


def _peers(permission: Mapping[str, Any]) -> list[Peer]:
    if permission.get("Ipv6Ranges"):
        raise ve.InvalidValue("Ipv6Ranges are not supported by this lambent server (its VPCs are IPv4 only).")
    if permission.get("PrefixListIds"):
        raise ve.InvalidValue("PrefixListIds are not supported by this lambent server.")
    peers: list[Peer] = []
    for item in permission.get("IpRanges") or []:
        raw = item.get("CidrIp")
        if not raw:
            raise ve.MissingParameter("The request must contain the parameter CidrIp.")
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise ve.InvalidValue(f"CIDR block {echo(raw)} is malformed") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise ve.InvalidValue(f"CIDR block {echo(raw)} is malformed")
        peers.append(Peer(net, None, None, _description(item.get("Description"))))
    for pair in permission.get("UserIdGroupPairs") or []:
        group = pair.get("GroupId")
        if not group:
            raise ve.MissingParameter("The request must contain the parameter groupId (a source group by GroupName "
                                      "needs a default VPC, which lambent has none of).")
        peers.append(Peer(None, str(group), pair.get("UserId"), _description(pair.get("Description"))))
    return peers


def rules_of(
    group_id: str, egress: bool, permissions: Sequence[Mapping[str, Any]], new_rule_id: Callable[[], str]
) -> list[Rule]:
    """The atomic rules of ``permissions`` (each CIDR or group a rule), duplicates within the
    request refused as EC2 does."""
    if not permissions:
        raise ve.MissingParameter("The request must contain the parameter ipPermissions")
    out: list[Rule] = []
    for permission in permissions:
        raw = permission.get("IpProtocol")
        if raw is None:
            raise ve.MissingParameter("The request must contain the parameter ipProtocol")
        protocol = protocol_of(str(raw))
        low, high = ports_of(protocol, permission.get("FromPort"), permission.get("ToPort"))
        peers = _peers(permission)
        if not peers:
            raise ve.MissingParameter("The request must contain an IpRanges entry or a UserIdGroupPairs entry.")
        for peer in peers:
            rule = Rule(new_rule_id(), group_id, egress, protocol, low, high, peer.cidr, peer.group_id,
                        peer.account_id, peer.description)
            if any(rule.same_permission(seen) for seen in out):
                raise ve.PermissionDuplicate(f"the specified rule {describe(rule)} already exists")
            out.append(rule)
    return out


def describe(rule: Rule) -> str:
    """EC2's spelling of a rule in messages: ``"peer: 10.0.0.0/8, TCP, from port: 22, to port: 22, ALLOW"``."""
    peer = str(rule.cidr) if rule.cidr is not None else str(rule.peer_group_id)
    proto = "ALL" if rule.protocol is Protocol.ALL else rule.protocol.upper()
    ports = "" if rule.from_port is None else f", from port: {rule.from_port}, to port: {rule.to_port}"
    return f'"peer: {peer}, {proto}{ports}, ALLOW"'


def permissions_of(rules: Iterable[Rule], owner_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """EC2's ``IpPermissions`` of ``rules``: one entry per (protocol, ports), in first-seen order."""
    grouped: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for rule in rules:
        key = (rule.protocol.value, rule.from_port, rule.to_port)
        entry = grouped.get(key)
        if entry is None:
            entry = {"IpProtocol": rule.protocol.value, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                     "UserIdGroupPairs": []}
            if rule.from_port is not None:
                entry["FromPort"] = rule.from_port
                entry["ToPort"] = rule.to_port
            grouped[key] = entry
        if rule.cidr is not None:
            item: dict[str, Any] = {"CidrIp": str(rule.cidr)}
            if rule.description:
                item["Description"] = rule.description
            entry["IpRanges"].append(item)
        elif rule.peer_group_id is not None:
            pair: dict[str, Any] = {"GroupId": rule.peer_group_id,
                                    "UserId": rule.peer_account_id or owner_of(rule.peer_group_id)}
            if rule.description:
                pair["Description"] = rule.description
            entry["UserIdGroupPairs"].append(pair)
    return list(grouped.values())
