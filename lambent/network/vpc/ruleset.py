"""The nftables text of every VPC of one server (pure; no I/O): ``VpcRuleset(...).text()``.

Every subnet's traffic is routed by the host (bridge ports are isolated, the bridge answers ARP for
its whole subnet: ``proxy_arp_pvlan``), so one ``inet`` table sees every packet of a VPC with
conntrack, and an interface is known by its address (a ``bridge`` table drops, per port, any IPv4
or ARP source but the port's own address, and every other ether type: no spoofing a neighbour's
address to borrow its groups).

Base chains, each evaluated whatever the others answered (an ``accept`` ends only its own chain):

- ``route`` (forward, filter - 6): from a subnet, only its own VPC's block, or — while the VPC
  has a NAT gateway — addresses outside every VPC, outside link-local and the default network's
  pool, and outside ``deny`` unless in ``allow``; towards a subnet, only replies.
- ``sg_out`` / ``sg_in`` (forward, filter - 5 / - 4): the source interface's egress rules, the
  destination interface's ingress rules (any of its groups allowing is enough, as on AWS);
  replies (``ct state established,related``) always pass: security groups are stateful.
- ``input_*`` (input): from a subnet, DNS to its VPC's gateways, and what an address the host
  itself holds on a subnet (``lambent vpc attach --host``) lets in through its groups; every other
  address of the host is unreachable.
- ``output_*`` (output): the host reaches a subnet only from a host attachment, through its
  groups and the peer's (and with replies); never an ICMP redirect.
- ``postrouting`` (nat): sources of VPCs with a NAT gateway are masqueraded leaving for the world.

The text starts by creating then deleting both tables, so one ``nft -f`` replaces them atomically
(conntrack state lives outside the tables: established flows survive a rules change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from lambent.vpc.model import Protocol, Rule

__all__ = ["LINK_LOCAL", "Loaded", "NetInterface", "NetSubnet", "NetVpc", "VpcRuleset", "delete_text", "interface_text",
           "rule_expr", "set_chain"]

LINK_LOCAL = IPv4Network("169.254.0.0/16")


@dataclass(frozen=True)
class NetVpc:
    vpc_id: str
    cidr: IPv4Network
    nat: bool


@dataclass(frozen=True)
class NetSubnet:
    subnet_id: str
    vpc_id: str
    bridge: str
    cidr: IPv4Network
    gateway: IPv4Address


@dataclass(frozen=True)
class NetInterface:
    """An address of a subnet that exists on Linux: a veth (``port`` its host end) or an address
    of the host itself (``port`` None)."""

    address: IPv4Address
    vpc_id: str
    group_ids: tuple[str, ...]
    port: str | None


def _chain_of(group_id: str) -> str:
    return "g_" + group_id.replace("-", "_")


def _set_of(group_id: str) -> str:
    return "m_" + group_id.replace("-", "_")


def set_chain(group_ids: Sequence[str]) -> str:
    """The chain (prefix; ``_eg`` / ``_in`` follow) of one list of groups: every interface holding
    exactly these groups jumps to it (the maps ``if_eg`` / ``if_in``), so an interface added later
    needs map elements only, not chains of its own."""
    return "s_" + hashlib.sha256(",".join(group_ids).encode()).hexdigest()[:16]


def _elements(items: Iterable[str]) -> str:
    listed = sorted(set(items))
    return f" elements = {{ {', '.join(listed)} }};" if listed else ""


def rule_expr(rule: Rule) -> str:
    """The nft match of one atomic rule (without its verdict): peer, protocol, ports."""
    side = "daddr" if rule.egress else "saddr"
    parts: list[str] = []
    if rule.peer_group_id is not None:
        parts.append(f"ip {side} @{_set_of(rule.peer_group_id)}")
    elif rule.cidr is not None and rule.cidr.prefixlen > 0:
        parts.append(f"ip {side} {rule.cidr}")
    if rule.protocol in (Protocol.TCP, Protocol.UDP):
        proto = rule.protocol.value
        low = 0 if rule.from_port is None or rule.from_port < 0 else rule.from_port
        high = 65535 if rule.to_port is None or rule.to_port < 0 else rule.to_port
        if (low, high) == (0, 65535):
            parts.append(f"meta l4proto {proto}")
        elif low == high:
            parts.append(f"{proto} dport {low}")
        else:
            parts.append(f"{proto} dport {low}-{high}")
    elif rule.protocol is Protocol.ICMP:
        parts.append("meta l4proto icmp")
        if rule.from_port is not None and rule.from_port >= 0:
            parts.append(f"icmp type {rule.from_port}")
            if rule.to_port is not None and rule.to_port >= 0:
                parts.append(f"icmp code {rule.to_port}")
    return " ".join(parts) if parts else "meta nfproto ipv4"


@dataclass(frozen=True)
class VpcRuleset:
    table: str
    #: every link of this server starts with it (bridges and veths)
    link_prefix: str
    vpcs: tuple[NetVpc, ...]
    subnets: tuple[NetSubnet, ...]
    interfaces: tuple[NetInterface, ...]
    #: group id -> its rules (both directions)
    rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    #: group id -> the addresses of its members (every interface of the model holding the group)
    members: Mapping[str, tuple[IPv4Address, ...]] = field(default_factory=dict)
    deny: tuple[IPv4Network, ...] = ()
    allow: tuple[IPv4Network, ...] = ()
    #: never reachable through a NAT gateway (the default network's pool)
    never: tuple[IPv4Network, ...] = ()
    #: lists of groups whose chains exist ahead of need (prepared functions' VpcConfigs)
    prepared: tuple[tuple[str, ...], ...] = ()

    def _group_chains(self) -> list[str]:
        out: list[str] = []
        for group_id in sorted(self._wanted()):
            for egress in (True, False):
                name = f"{_chain_of(group_id)}_{'eg' if egress else 'in'}"
                body = [f"    {rule_expr(r)} accept" for r in self.rules.get(group_id, ()) if r.egress == egress]
                out.append(f"  chain {name} {{\n" + "".join(line + "\n" for line in body) + "  }")
        return out

    def group_sets(self) -> list[tuple[str, ...]]:
        """The distinct lists of groups of the interfaces and of ``prepared`` (sorted)."""
        return sorted({*(i.group_ids for i in self.interfaces), *self.prepared})

    def _interface_chains(self) -> list[str]:
        out: list[str] = []
        for groups in self.group_sets():
            for direction in ("eg", "in"):
                body = "".join(f"    jump {_chain_of(g)}_{direction}\n" for g in groups)
                out.append(f"  chain {set_chain(groups)}_{direction} {{\n{body}    drop\n  }}")
        return out

    def loaded(self) -> Loaded:
        """What this text creates that :func:`interface_text` builds on."""
        return Loaded(table=self.table, groups=frozenset(self._wanted()), group_sets=frozenset(self.group_sets()),
                      peer_sets=frozenset(self._peers()))

    def _wanted(self) -> set[str]:
        return {g for groups in self.group_sets() for g in groups}

    def _peers(self) -> set[str]:
        return {r.peer_group_id for rules in self.rules.values() for r in rules if r.peer_group_id}

    def _sets(self) -> list[str]:
        peers = self._peers()
        out = [
            f"  set all_vpcs {{ type ipv4_addr; flags interval;{_elements(str(v.cidr) for v in self.vpcs)} }}",
            f"  set deny {{ type ipv4_addr; flags interval;{_elements(str(n) for n in self.deny)} }}",
            f"  set allow {{ type ipv4_addr; flags interval;{_elements(str(n) for n in self.allow)} }}",
            f"  set never {{ type ipv4_addr; flags interval;{_elements(str(n) for n in (LINK_LOCAL, *self.never))} }}",
            f"  set nat_src {{ type ipv4_addr; flags interval;{_elements(str(v.cidr) for v in self.vpcs if v.nat)} }}",
            f"  set hosts {{ type ipv4_addr;{_elements(str(i.address) for i in self.interfaces if i.port is None)} }}",
        ]
        for group_id in sorted(peers):
            addresses = (str(a) for a in self.members.get(group_id, ()))
            out.append(f"  set {_set_of(group_id)} {{ type ipv4_addr;{_elements(addresses)} }}")
        for direction in ("eg", "in"):
            entries = (f"{i.address} : jump {set_chain(i.group_ids)}_{direction}" for i in self.interfaces)
            out.append(f"  map if_{direction} {{ type ipv4_addr : verdict;{_elements(entries)} }}")
        return out

    def _route(self, lp: str) -> str:
        vpcs = {v.vpc_id: v for v in self.vpcs}
        lines = [
            "type filter hook forward priority filter - 6; policy accept;",
            f'iifname != "{lp}*" oifname != "{lp}*" accept',
            "ct state established,related accept",
            f'iifname "{lp}*" meta nfproto ipv6 drop',
        ]
        for s in sorted(self.subnets, key=lambda s: s.bridge):
            vpc = vpcs.get(s.vpc_id)
            br = f'iifname "{s.bridge}"'
            lines.append(f"{br} ip saddr != {s.cidr} drop")
            if vpc is None:
                lines.append(f"{br} drop")
                continue
            lines.append(f'{br} ip daddr {vpc.cidr} oifname "{lp}*" accept')
            if vpc.nat:
                lines += [f"{br} ip daddr @never drop", f"{br} ip daddr @all_vpcs drop",
                          f'{br} oifname "{lp}*" drop', f"{br} ip daddr @allow accept",
                          f"{br} ip daddr @deny drop", f"{br} accept"]
            else:
                lines.append(f"{br} drop")
        lines += [f'iifname "{lp}*" drop', f'oifname "{lp}*" drop']
        return _chain("route", lines)

    def _input(self, lp: str) -> list[str]:
        vpcs = {v.vpc_id: v for v in self.vpcs}
        gateways: dict[str, list[str]] = {}
        for s in self.subnets:
            gateways.setdefault(s.vpc_id, []).append(str(s.gateway))
        hosts: dict[str, list[str]] = {}
        for i in self.interfaces:
            if i.port is None:
                hosts.setdefault(i.vpc_id, []).append(str(i.address))
        route = ["type filter hook input priority filter - 6; policy accept;",
                 f'iifname != "{lp}*" accept', "ct state established,related accept", "meta nfproto ipv6 drop"]
        for s in sorted(self.subnets, key=lambda s: s.bridge):
            if s.vpc_id not in vpcs:
                continue
            br = f'iifname "{s.bridge}" ip saddr {s.cidr}'
            gws = "{ " + ", ".join(sorted(gateways[s.vpc_id])) + " }"
            route += [f"{br} ip daddr {gws} udp dport 53 accept", f"{br} ip daddr {gws} tcp dport 53 accept"]
            if s.vpc_id in hosts:
                route.append(f"{br} ip daddr {{ {', '.join(sorted(hosts[s.vpc_id]))} }} accept")
        route.append("drop")
        common = [f'iifname != "{lp}*" accept', "ct state established,related accept"]
        dns = [f"ip daddr {{ {', '.join(sorted(str(s.gateway) for s in self.subnets))} }} th dport 53 accept"] \
            if self.subnets else []
        out = [_chain("input_route", route),
               _chain("input_out", ["type filter hook input priority filter - 5; policy accept;", *common, *dns,
                                    "ip saddr vmap @if_eg", "drop"]),
               _chain("input_in", ["type filter hook input priority filter - 4; policy accept;", *common, *dns,
                                   "ip daddr vmap @if_in", "drop"])]
        return out

    def _output(self, lp: str) -> list[str]:
        common = [f'oifname != "{lp}*" accept', "icmp type redirect drop", "ct state established,related accept"]
        return [
            _chain("output_route", ["type filter hook output priority filter - 6; policy accept;", *common,
                                    "meta nfproto ipv6 drop", "ip saddr != @hosts drop"]),
            _chain("output_out", ["type filter hook output priority filter - 5; policy accept;", *common,
                                  "ip saddr vmap @if_eg", "drop"]),
            _chain("output_in", ["type filter hook output priority filter - 4; policy accept;", *common,
                                 "ip daddr vmap @if_in", "drop"]),
        ]

    def text(self) -> str:
        lp = self.link_prefix
        sg_common = ["ct state established,related accept"]
        chains = [
            self._route(lp),
            _chain("sg_out", ["type filter hook forward priority filter - 5; policy accept;",
                              f'iifname != "{lp}*" accept', *sg_common, "ip saddr vmap @if_eg", "drop"]),
            _chain("sg_in", ["type filter hook forward priority filter - 4; policy accept;",
                             f'oifname != "{lp}*" accept', *sg_common, "ip daddr vmap @if_in", "drop"]),
            *self._input(lp),
            *self._output(lp),
            _chain("postrouting", ["type nat hook postrouting priority srcnat; policy accept;",
                                   f'ip saddr @nat_src oifname != "{lp}*" masquerade']),
            *self._group_chains(),
            *self._interface_chains(),
        ]
        ports = [f'"{i.port}" . {i.address}' for i in self.interfaces if i.port is not None]
        bridge = [
            f"table bridge {self.table} {{",
            f"  set ports {{ type ifname . ipv4_addr;{_elements(ports)} }}",
            _chain("prerouting", [
                "type filter hook prerouting priority filter - 10; policy accept;",
                f'iifname != "{lp}*" accept',
                "ether type ip iifname . ip saddr @ports accept",
                "ether type arp iifname . arp saddr ip @ports accept",
                "drop",
            ]),
            "}",
        ]
        return "\n".join([
            delete_text(self.table).rstrip("\n"),
            f"table inet {self.table} {{",
            *self._sets(),
            *chains,
            "}",
            *bridge,
        ]) + "\n"


@dataclass(frozen=True)
class Loaded:
    """What the last whole ruleset loaded created: group chains, group-list chains, peer sets."""

    table: str
    groups: frozenset[str]
    group_sets: frozenset[tuple[str, ...]]
    peer_sets: frozenset[str]


def interface_text(loaded: Loaded, interface: NetInterface, *, add: bool) -> str | None:
    """One small transaction adding (``add``) or removing an interface with a port over the
    ruleset ``loaded`` describes: its map elements (``if_eg`` / ``if_in``: address -> its groups'
    chain), its bridge port binding (anti-spoofing) and its addresses in the member sets of its
    groups that rules name as peers. None when that cannot be done element-wise (a host address,
    or one of its groups has no chains loaded: the caller loads the whole ruleset instead).

    The map entries are created (refused if the address has one: the caller then loads the whole
    ruleset); the set elements are added (a no-op if there); removing an element that is not
    there fails, and the caller then loads the whole ruleset."""
    if interface.port is None or not set(interface.group_ids) <= loaded.groups:
        return None
    t, a, groups = loaded.table, interface.address, interface.group_ids
    if not add and groups not in loaded.group_sets:
        return None
    verb = "add" if add else "delete"
    #: a map entry must not exist yet: ``add`` would keep an older value (a stale holder of the
    #: address); ``create`` is refused instead, and the caller loads the whole ruleset
    unique = "create" if add else "delete"
    lines: list[str] = []
    if add and groups not in loaded.group_sets:
        chain = set_chain(groups)
        for direction in ("eg", "in"):
            lines.append(f"add chain inet {t} {chain}_{direction}")
            lines += [f"add rule inet {t} {chain}_{direction} jump {_chain_of(g)}_{direction}" for g in groups]
            lines.append(f"add rule inet {t} {chain}_{direction} drop")
    for direction in ("eg", "in"):
        value = f" : jump {set_chain(groups)}_{direction}" if add else ""
        lines.append(f"{unique} element inet {t} if_{direction} {{ {a}{value} }}")
    lines.append(f'{verb} element bridge {t} ports {{ "{interface.port}" . {a} }}')
    lines += [f"{verb} element inet {t} {_set_of(g)} {{ {a} }}" for g in sorted(set(groups) & loaded.peer_sets)]
    return "\n".join(lines) + "\n"


def _chain(name: str, lines: list[str]) -> str:
    return f"  chain {name} {{\n" + "".join(f"    {line}\n" for line in lines) + "  }"


def delete_text(table: str) -> str:
    """Removes both tables of ``table`` whether they exist or not."""
    return (f"table inet {table} {{}}\ndelete table inet {table}\n"
            f"table bridge {table} {{}}\ndelete table bridge {table}\n")
