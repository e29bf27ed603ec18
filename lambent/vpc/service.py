"""The VPC model of one server: VPCs, subnets, security groups, NAT gateways, VPC endpoints and the
addresses leased from subnets, per account, in memory and written through to ``vpc.db``.

Scope and lifetime: one per server, built by the platform over a :class:`~lambent.store.vpc.VpcStore`,
loaded whole at construction. Every method acts within one account (the caller's,
``call.principal.account_id``): another account's ids answer exactly as ids that do not exist.
Changes are committed to the store first, then applied in memory, then told to the listeners
(:meth:`VpcService.subscribe`) — the network layer applies security-group changes from there.
Methods are synchronous and take a lock, so the network layer may call :meth:`lease_address` /
:meth:`release_address` from a worker thread as well as from the event loop.

Behaviour copies EC2's: a default security group per VPC (named ``default``, all egress, ingress
from its own members: "Default security groups for your VPCs",
https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html); a new group allows
all egress ("Security groups for your VPC"); a VPC with subnets, groups or endpoints, a subnet with
addresses in use, and a group that others reference or interfaces use cannot be deleted
(DependencyViolation).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambent.store.vpc import VpcStore, Write
from lambent.vpc import cidr as cidrs
from lambent.vpc import errors as ve
from lambent.vpc import rows
from lambent.vpc.model import (
    ChangeKind, InterfaceType, NatGateway, NetworkInterface, Protocol, Rule, SecurityGroup, Subnet, Tags, Vpc,
    VpcChange, VpcEndpoint, VpcQuotas, check_text, echo, new_id,
)
from lambent.vpc.rules import describe, rules_of

log = logging.getLogger("lambent.vpc")

Listener = Callable[[VpcChange], None]

#: The services of lambent's API a VPC endpoint can reach (com.amazonaws.REGION.NAME).
ENDPOINT_SERVICES = ("lambda", "sts", "scheduler", "ec2")
_AZ_LETTERS = "abcdef"
_MAX_NAME = 255
#: client tokens remembered (in memory: a retry comes seconds after its first attempt), oldest forgotten first
_MAX_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    vpcs: tuple[Vpc, ...]
    subnets: tuple[Subnet, ...]
    groups: tuple[SecurityGroup, ...]
    rules: tuple[Rule, ...]
    nats: tuple[NatGateway, ...]
    endpoints: tuple[VpcEndpoint, ...]
    interfaces: tuple[NetworkInterface, ...]


class VpcService:
    def __init__(self, store: VpcStore, *, region: str, quotas: VpcQuotas | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.region = region
        self.quotas = quotas or VpcQuotas()
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        #: ``(account_id, subnet or group id) -> bool``: whether something outside the model uses
        #: it (a function's VpcConfig: Lambda's interfaces live as long as it does), so that
        #: DeleteSubnet / DeleteSecurityGroup answer DependencyViolation meanwhile.
        self.used_elsewhere: list[Callable[[str, str], bool]] = []
        loaded = store.load_all()
        self._vpcs = {v.vpc_id: v for v in map(rows.vpc_from, loaded["vpcs"])}
        self._subnets = {s.subnet_id: s for s in map(rows.subnet_from, loaded["subnets"])}
        self._groups = {g.group_id: g for g in map(rows.group_from, loaded["security_groups"])}
        self._rules = {r.rule_id: r for r in map(rows.rule_from, loaded["security_group_rules"])}
        self._nats = {n.nat_gateway_id: n for n in map(rows.nat_from, loaded["nat_gateways"])}
        self._endpoints = {x.endpoint_id: x for x in map(rows.endpoint_from, loaded["vpc_endpoints"])}
        self._interfaces = {i.interface_id: i for i in map(rows.interface_from, loaded["network_interfaces"])}
        #: (account, operation, ClientToken) -> (the request's arguments, the id it created)
        self._tokens: OrderedDict[tuple[str, str, str], tuple[object, str]] = OrderedDict()
        #: Called (under the lock) with a subnet about to be created; raises an Ec2Error to refuse
        #: it. The network layer sets it: a block it cannot route on this host is refused at
        #: CreateSubnet (InvalidSubnet.Conflict), not accepted then lost.
        self.subnet_guard: Callable[[Subnet], None] | None = None
        #: Writes of environments' leases not yet in vpc.db (``lease_address(..., later=True)``),
        #: oldest first; :meth:`flush` (or the next other write, before its own) commits them.
        self._behind: list[Write] = []

    # -- listeners -------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every committed change; returns the unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, changes: Sequence[VpcChange]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for change in changes:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:  # noqa: BLE001 - one broken listener must not undo a committed change
                    log.exception("VPC change listener failed on %s %s", change.kind, change.resource_id)

    # -- vpc.db ----------------------------------------------------------------------------------
    def _write(self, writes: Sequence[Write], *, later: bool = False) -> None:
        """Commit ``writes`` after every write left behind (one transaction, in order); with
        ``later``, leave them behind for :meth:`flush`. Under the lock."""
        if later:
            self._behind.extend(writes)
            return
        behind, self._behind = self._behind, []
        try:
            self.store.write([*behind, *writes])
        except BaseException:
            self._behind = behind + self._behind
            raise

    def flush(self) -> int:
        """Commit the lease writes left behind (group commit: one transaction for all of them; a
        lease given back before its commit costs nothing). Returns how many writes were committed;
        on a store error they stay behind (and it is raised). Idempotent; any thread."""
        with self._lock:
            behind, self._behind = self._behind, []
            inserted = {w.row["interface_id"] for w in behind if w.op == "insert"}
            deleted = {w.row["interface_id"] for w in behind if w.op == "delete"}
            both = inserted & deleted
            batch = [w for w in behind if w.row.get("interface_id") not in both]
            try:
                self.store.write(batch)
            except BaseException:
                self._behind = batch + self._behind  # coalesced: what stays behind is bounded
                raise
            return len(batch)

    @property
    def unflushed(self) -> int:
        """How many lease writes are not yet in vpc.db."""
        with self._lock:
            return len(self._behind)

    def _used_elsewhere(self, account_id: str, resource_id: str) -> bool:
        return any(check(account_id, resource_id) for check in self.used_elsewhere)

    # -- look-ups (account-scoped: another account's object is "not found") ------------------------
    def vpc(self, account_id: str, vpc_id: str) -> Vpc:
        found = self._vpcs.get(vpc_id)
        if found is None or found.account_id != account_id:
            raise ve.VpcNotFound(f"The vpc ID '{echo(vpc_id)}' does not exist")
        return found

    def subnet(self, account_id: str, subnet_id: str) -> Subnet:
        found = self._subnets.get(subnet_id)
        if found is None or found.account_id != account_id:
            raise ve.SubnetNotFound(f"The subnet ID '{echo(subnet_id)}' does not exist")
        return found

    def group(self, account_id: str, group_id: str) -> SecurityGroup:
        found = self._groups.get(group_id)
        if found is None or found.account_id != account_id:
            raise ve.GroupNotFound(f"The security group '{echo(group_id)}' does not exist")
        return found

    def nat_gateway(self, account_id: str, nat_id: str) -> NatGateway:
        found = self._nats.get(nat_id)
        if found is None or found.account_id != account_id:
            raise ve.NatGatewayNotFound(f"The Nat Gateway {nat_id} was not found")
        return found

    def vpc_endpoint(self, account_id: str, endpoint_id: str) -> VpcEndpoint:
        found = self._endpoints.get(endpoint_id)
        if found is None or found.account_id != account_id:
            raise ve.VpcEndpointNotFound(f"The Vpc Endpoint Id '{endpoint_id}' does not exist")
        return found

    def interface(self, account_id: str, interface_id: str) -> NetworkInterface:
        found = self._interfaces.get(interface_id)
        if found is None or found.account_id != account_id:
            raise ve.NetworkInterfaceNotFound(f"The networkInterface ID '{interface_id}' does not exist")
        return found

    def vpcs(self, account_id: str) -> list[Vpc]:
        with self._lock:
            return sorted((v for v in self._vpcs.values() if v.account_id == account_id), key=lambda v: v.vpc_id)

    def subnets(self, account_id: str) -> list[Subnet]:
        with self._lock:
            return sorted((s for s in self._subnets.values() if s.account_id == account_id), key=lambda s: s.subnet_id)

    def groups(self, account_id: str) -> list[SecurityGroup]:
        with self._lock:
            return sorted((g for g in self._groups.values() if g.account_id == account_id), key=lambda g: g.group_id)

    def nat_gateways(self, account_id: str) -> list[NatGateway]:
        with self._lock:
            return sorted((n for n in self._nats.values() if n.account_id == account_id), key=lambda n: n.nat_gateway_id)

    def vpc_endpoints(self, account_id: str) -> list[VpcEndpoint]:
        with self._lock:
            return sorted((x for x in self._endpoints.values() if x.account_id == account_id),
                          key=lambda x: x.endpoint_id)

    def interfaces(self, account_id: str) -> list[NetworkInterface]:
        with self._lock:
            return sorted((i for i in self._interfaces.values() if i.account_id == account_id),
                          key=lambda i: i.interface_id)

    def rules(self, group_id: str, *, egress: bool) -> list[Rule]:
        """The group's rules of one direction, in the order they were authorised."""
        with self._lock:
            return [r for r in self._rules.values() if r.group_id == group_id and r.egress == egress]

    def available_addresses(self, subnet_id: str) -> int:
        """``AvailableIpAddressCount``: usable addresses minus those leased."""
        with self._lock:
            subnet = self._subnets[subnet_id]
            used = sum(1 for i in self._interfaces.values() if i.subnet_id == subnet_id)
        return cidrs.usable_count(subnet.cidr) - used

    def has_nat_gateway(self, vpc_id: str) -> bool:
        """Whether the VPC's subnets have internet egress (a NAT gateway in any of its subnets)."""
        with self._lock:
            return any(n.vpc_id == vpc_id for n in self._nats.values())

    def group_name(self, group_id: str) -> str:
        found = self._groups.get(group_id)
        return found.name if found is not None else ""

    def owner_of_group(self, group_id: str) -> str:
        found = self._groups.get(group_id)
        return found.account_id if found is not None else ""

    # -- VPCs ------------------------------------------------------------------------------------
    def create_vpc(self, account_id: str, cidr_block: str, tags: Tags = ()) -> Vpc:
        net = cidrs.vpc_block(cidr_block)
        with self._lock:
            if len(self.vpcs(account_id)) >= self.quotas.vpcs_per_account:
                raise ve.VpcLimitExceeded("The maximum number of VPCs has been reached.")
            now = self._clock()
            vpc = Vpc(new_id("vpc"), account_id, net, tags, now)
            group = SecurityGroup(new_id("sg"), account_id, vpc.vpc_id, "default", "default VPC security group",
                                  (), now)
            defaults = [
                Rule(new_id("sgr"), group.group_id, True, Protocol.ALL, None, None, ipaddress.IPv4Network("0.0.0.0/0")),
                Rule(new_id("sgr"), group.group_id, False, Protocol.ALL, None, None, None, group.group_id, account_id),
            ]
            self._write([Write("insert", "vpcs", rows.vpc_row(vpc)),
                              Write("insert", "security_groups", rows.group_row(group)),
                              *(Write("insert", "security_group_rules", rows.rule_row(r)) for r in defaults)])
            self._vpcs[vpc.vpc_id] = vpc
            self._groups[group.group_id] = group
            self._rules.update((r.rule_id, r) for r in defaults)
        self._notify([VpcChange(ChangeKind.VPC_CREATED, account_id, vpc.vpc_id, vpc.vpc_id),
                      VpcChange(ChangeKind.GROUP_CREATED, account_id, vpc.vpc_id, group.group_id)])
        return vpc

    def default_group(self, vpc_id: str) -> SecurityGroup:
        with self._lock:
            return next(g for g in self._groups.values() if g.vpc_id == vpc_id and g.is_default)

    def delete_vpc(self, account_id: str, vpc_id: str) -> None:
        with self._lock:
            vpc = self.vpc(account_id, vpc_id)
            busy = (any(s.vpc_id == vpc_id for s in self._subnets.values())
                    or any(g.vpc_id == vpc_id and not g.is_default for g in self._groups.values())
                    or any(x.vpc_id == vpc_id for x in self._endpoints.values()))
            if busy:
                raise ve.DependencyViolation(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
            default = self.default_group(vpc_id)
            self._write([Write("delete", "security_group_rules", {"group_id": default.group_id}),
                              Write("delete", "security_groups", {"group_id": default.group_id}),
                              Write("delete", "vpcs", {"vpc_id": vpc_id})])
            for rule_id in [r.rule_id for r in self._rules.values() if r.group_id == default.group_id]:
                del self._rules[rule_id]
            del self._groups[default.group_id]
            del self._vpcs[vpc.vpc_id]
        self._notify([VpcChange(ChangeKind.GROUP_DELETED, account_id, vpc_id, default.group_id),
                      VpcChange(ChangeKind.VPC_DELETED, account_id, vpc_id, vpc_id)])

    # -- subnets ---------------------------------------------------------------------------------
    def availability_zones(self) -> list[str]:
        return [f"{self.region}{letter}" for letter in _AZ_LETTERS]

    def create_subnet(self, account_id: str, vpc_id: str, cidr_block: str, availability_zone: str | None = None,
                      tags: Tags = ()) -> Subnet:
        with self._lock:
            vpc = self.vpc(account_id, vpc_id)
            zones = self.availability_zones()
            zone = availability_zone or zones[0]
            if zone not in zones:
                raise ve.InvalidValue(
                    f"Value ({echo(zone)}) for parameter availabilityZone is invalid. Subnets can currently only be "
                    f"created in the following availability zones: {', '.join(zones)}.")
            siblings = [s for s in self._subnets.values() if s.vpc_id == vpc_id]
            net = cidrs.subnet_block(cidr_block, vpc.cidr, (s.cidr for s in siblings))
            if len(siblings) >= self.quotas.subnets_per_vpc:
                raise ve.SubnetLimitExceeded("The maximum number of subnets has been reached.")
            subnet = Subnet(new_id("subnet"), account_id, vpc_id, net, zone, tags, self._clock())
            if self.subnet_guard is not None:
                self.subnet_guard(subnet)
            self._write([Write("insert", "subnets", rows.subnet_row(subnet))])
            self._subnets[subnet.subnet_id] = subnet
        self._notify([VpcChange(ChangeKind.SUBNET_CREATED, account_id, vpc_id, subnet.subnet_id)])
        return subnet

    def delete_subnet(self, account_id: str, subnet_id: str) -> None:
        with self._lock:
            subnet = self.subnet(account_id, subnet_id)
            if any(i.subnet_id == subnet_id for i in self._interfaces.values()) or any(
                    subnet_id in x.subnet_ids for x in self._endpoints.values()) or self._used_elsewhere(
                    account_id, subnet_id):
                raise ve.DependencyViolation(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
            self._write([Write("delete", "subnets", {"subnet_id": subnet_id})])
            del self._subnets[subnet_id]
        self._notify([VpcChange(ChangeKind.SUBNET_DELETED, account_id, subnet.vpc_id, subnet_id)])

    # -- security groups -------------------------------------------------------------------------
    def create_group(self, account_id: str, vpc_id: str, name: str, description: str, tags: Tags = ()) -> SecurityGroup:
        for value, what in ((name, "GroupName"), (description, "GroupDescription")):
            if not value or len(value) > _MAX_NAME or any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in value):
                raise ve.InvalidValue(f"Invalid value for {what}: 1 to 255 printable ASCII characters.")
        if name.lower().startswith("sg-"):
            raise ve.InvalidValue("Group names may not be in the format sg-*.")
        with self._lock:
            self.vpc(account_id, vpc_id)
            siblings = [g for g in self._groups.values() if g.vpc_id == vpc_id]
            if any(g.name == name for g in siblings):
                raise ve.GroupDuplicate(f"The security group '{echo(name, 255)}' already exists for VPC '{vpc_id}'")
            if len(siblings) >= self.quotas.groups_per_vpc:
                raise ve.SecurityGroupLimitExceeded("The maximum number of security groups has been reached.")
            group = SecurityGroup(new_id("sg"), account_id, vpc_id, name, description, tags, self._clock())
            egress = Rule(new_id("sgr"), group.group_id, True, Protocol.ALL, None, None,
                          ipaddress.IPv4Network("0.0.0.0/0"))
            self._write([Write("insert", "security_groups", rows.group_row(group)),
                              Write("insert", "security_group_rules", rows.rule_row(egress))])
            self._groups[group.group_id] = group
            self._rules[egress.rule_id] = egress
        self._notify([VpcChange(ChangeKind.GROUP_CREATED, account_id, vpc_id, group.group_id)])
        return group

    def delete_group(self, account_id: str, group_id: str) -> SecurityGroup:
        with self._lock:
            group = self.group(account_id, group_id)
            if group.is_default:
                raise ve.CannotDelete(
                    f'the specified group: "{group_id}" name: "default" cannot be deleted by a user')
            referenced = any(r.peer_group_id == group_id and r.group_id != group_id for r in self._rules.values())
            in_use = any(group_id in i.group_ids for i in self._interfaces.values()) or any(
                group_id in x.group_ids for x in self._endpoints.values()) or self._used_elsewhere(account_id, group_id)
            if referenced or in_use:
                raise ve.DependencyViolation(f"resource {group_id} has a dependent object")
            self._write([Write("delete", "security_group_rules", {"group_id": group_id}),
                              Write("delete", "security_groups", {"group_id": group_id})])
            for rule_id in [r.rule_id for r in self._rules.values() if r.group_id == group_id]:
                del self._rules[rule_id]
            del self._groups[group_id]
        self._notify([VpcChange(ChangeKind.GROUP_DELETED, account_id, group.vpc_id, group_id)])
        return group

    def _check_peers(self, group: SecurityGroup, new: Sequence[Rule]) -> None:
        for rule in new:
            if rule.peer_group_id is None:
                continue
            peer = self._groups.get(rule.peer_group_id)
            if (peer is None or peer.account_id != group.account_id or peer.vpc_id != group.vpc_id
                    or rule.peer_account_id not in (None, group.account_id)):
                raise ve.GroupNotFound(f"The security group '{echo(rule.peer_group_id)}' does not exist")

    def authorize(self, account_id: str, group_id: str, *, egress: bool,
                  permissions: Sequence[Mapping[str, Any]]) -> list[Rule]:
        """Add the rules of ``permissions``; InvalidPermission.Duplicate if any exists already."""
        with self._lock:
            group = self.group(account_id, group_id)
            new = rules_of(group_id, egress, permissions, lambda: new_id("sgr"))
            self._check_peers(group, new)
            existing = self.rules(group_id, egress=egress)
            for rule in new:
                if any(rule.same_permission(old) for old in existing):
                    raise ve.PermissionDuplicate(f"the specified rule {describe(rule)} already exists")
            if len(existing) + len(new) > self.quotas.rules_per_group:
                raise ve.RulesLimitExceeded("The maximum number of rules per security group has been reached.")
            self._write([Write("insert", "security_group_rules", rows.rule_row(r)) for r in new])
            self._rules.update((r.rule_id, r) for r in new)
        self._notify([VpcChange(ChangeKind.RULES_CHANGED, account_id, group.vpc_id, group_id)])
        return new

    def revoke(self, account_id: str, group_id: str, *, egress: bool,
               permissions: Sequence[Mapping[str, Any]] = (), rule_ids: Sequence[str] = ()) -> tuple[list[Rule], list[Rule]]:
        """Remove the matching rules: (revoked, asked for but not there). Nothing matching at all is
        InvalidPermission.NotFound; an unknown rule id InvalidSecurityGroupRuleId.NotFound."""
        with self._lock:
            group = self.group(account_id, group_id)
            existing = self.rules(group_id, egress=egress)
            revoked: list[Rule] = []
            unknown: list[Rule] = []
            for rule_id in rule_ids:
                found = next((r for r in existing if r.rule_id == rule_id), None)
                if found is None:
                    raise ve.RuleIdNotFound(f"The security group rule ID '{echo(rule_id)}' does not exist")
                revoked.append(found)
            if permissions:
                for asked in rules_of(group_id, egress, permissions, lambda: ""):
                    found = next((r for r in existing if r.same_permission(asked)), None)
                    (revoked if found is not None else unknown).append(found or asked)
            if not revoked:
                raise ve.PermissionNotFound("The specified rule does not exist in this security group.")
            gone = {r.rule_id: r for r in revoked}
            self._write([Write("delete", "security_group_rules", {"rule_id": rid}) for rid in gone])
            for rid in gone:
                self._rules.pop(rid, None)
        self._notify([VpcChange(ChangeKind.RULES_CHANGED, account_id, group.vpc_id, group_id)])
        return list(gone.values()), unknown

    # -- what the network layer and Lambda's VpcConfig need ----------------------------------------
    def vpc_of_config(self, account_id: str, subnet_ids: Sequence[str], group_ids: Sequence[str]) -> str:
        """The VPC a function's ``VpcConfig`` names: every subnet and group the caller's and of one
        VPC. SubnetNotFound / GroupNotFound naming the first unknown one, ParameterCombination for
        several VPCs (Lambda answers each with InvalidParameterValueException)."""
        if not subnet_ids:
            raise ve.MissingParameter("A VpcConfig needs at least one subnet.")
        with self._lock:
            vpcs = {self.subnet(account_id, s).vpc_id for s in subnet_ids}
            vpcs |= {self.group(account_id, g).vpc_id for g in group_ids}
        if len(vpcs) != 1:
            raise ve.ParameterCombination("The subnets and security groups must all belong to the same VPC.")
        return vpcs.pop()

    def gateway(self, subnet_id: str) -> ipaddress.IPv4Address:
        """The subnet's router address (its network address + 1): an environment's default route."""
        return cidrs.gateway(self._subnets[subnet_id].cidr)

    def members(self, group_id: str) -> list[NetworkInterface]:
        """The interfaces in ``group_id``: who a rule naming the group as its peer lets through."""
        with self._lock:
            return [i for i in self._interfaces.values() if group_id in i.group_ids]

    def snapshot(self) -> Snapshot:
        """Every account's objects at one instant (the network layer builds Linux from it)."""
        with self._lock:
            return Snapshot(tuple(self._vpcs.values()), tuple(self._subnets.values()), tuple(self._groups.values()),
                            tuple(self._rules.values()), tuple(self._nats.values()),
                            tuple(self._endpoints.values()), tuple(self._interfaces.values()))

    # -- addresses -------------------------------------------------------------------------------
    def _new_interface(self, subnet: Subnet, interface_type: InterfaceType, description: str,
                       group_ids: tuple[str, ...]) -> NetworkInterface:
        taken = {i.address for i in self._interfaces.values() if i.subnet_id == subnet.subnet_id}
        address = cidrs.first_free(subnet.cidr, taken)
        if address is None:
            raise ve.InsufficientFreeAddresses(
                f"There are not enough free addresses in subnet '{subnet.subnet_id}' to satisfy the requested "
                "number of instances.", subnet_id=subnet.subnet_id)
        return NetworkInterface(new_id("eni"), subnet.account_id, subnet.vpc_id, subnet.subnet_id, address,
                                interface_type, subnet.availability_zone, description, group_ids, self._clock())

    def lease_address(self, subnet_id: str, *, interface_type: InterfaceType = InterfaceType.LAMBDA,
                      description: str = "", group_ids: Sequence[str] = (), later: bool = False) -> NetworkInterface:
        """Take the subnet's lowest free address for an environment (or an attachment): an
        interface that DescribeNetworkInterfaces shows and that counts against
        ``AvailableIpAddressCount`` until :meth:`release_address`. Raises SubnetNotFound, GroupNotFound
        (a group of another VPC) or InsufficientFreeAddresses (the subnet is full).

        ``later`` (an environment's lease, on a cold start's path): the lease holds in memory at
        once (every answer of the API counts it) and reaches vpc.db at the next :meth:`flush` or
        other write, not before this returns: a crash in between loses only a lease that the next
        start releases anyway (``release_all(LAMBDA)``: no environment survives a restart)."""
        with self._lock:
            subnet = self._subnets.get(subnet_id)
            if subnet is None:
                raise ve.SubnetNotFound(f"The subnet ID '{echo(subnet_id)}' does not exist")
            for group_id in group_ids:
                group = self._groups.get(group_id)
                if group is None or group.vpc_id != subnet.vpc_id:
                    raise ve.GroupNotFound(f"The security group '{group_id}' does not exist in VPC '{subnet.vpc_id}'")
            interface = self._new_interface(subnet, interface_type, check_text(description, "Description", _MAX_NAME),
                                            tuple(group_ids))
            self._write([Write("insert", "network_interfaces", rows.interface_row(interface))], later=later)
            self._interfaces[interface.interface_id] = interface
        self._notify([VpcChange(ChangeKind.ADDRESS_LEASED, interface.account_id, interface.vpc_id,
                                interface.interface_id)])
        return interface

    def release_address(self, interface_id: str) -> bool:
        """Give a leased address back; False (and nothing done) if it was not leased. Idempotent."""
        with self._lock:
            interface = self._interfaces.get(interface_id)
            if interface is None:
                return False
            # an environment's lease is given back as it was taken: committed at the next flush
            later = interface.interface_type is InterfaceType.LAMBDA
            self._write([Write("delete", "network_interfaces", {"interface_id": interface_id})], later=later)
            del self._interfaces[interface_id]
        self._notify([VpcChange(ChangeKind.ADDRESS_RELEASED, interface.account_id, interface.vpc_id, interface_id)])
        return True

    def release_all(self, interface_type: InterfaceType) -> int:
        """Release every lease of ``interface_type`` (a start after a crash: no environment
        survived it, so no ``lambda`` address is in use); returns how many."""
        with self._lock:
            ids = [i.interface_id for i in self._interfaces.values() if i.interface_type is interface_type]
        gone = sum(1 for interface_id in ids if self.release_address(interface_id))
        self.flush()
        return gone

    # -- idempotency ------------------------------------------------------------------------------
    def _replay(self, key: tuple[str, str, str] | None, arguments: object) -> str | None:
        """The id a request with this client token created before; IdempotentParameterMismatch
        (a ResourceConflict) if the token came with other arguments ("Ensuring idempotency",
        https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html)."""
        if key is None or key not in self._tokens:
            return None
        seen, resource_id = self._tokens[key]
        if seen != arguments:
            raise ve.IdempotentMismatch(f"Client token {echo(key[2])} was used with different arguments.")
        return resource_id

    def _remember(self, key: tuple[str, str, str] | None, arguments: object, resource_id: str) -> None:
        if key is None:
            return
        self._tokens[key] = (arguments, resource_id)
        while len(self._tokens) > _MAX_TOKENS:
            self._tokens.popitem(last=False)

    # -- NAT gateways ----------------------------------------------------------------------------
    def create_nat_gateway(self, account_id: str, subnet_id: str, connectivity: str = "public",
                           tags: Tags = (), client_token: str = "") -> NatGateway:
        if connectivity not in ("public", "private"):
            raise ve.InvalidValue(f"Invalid value '{echo(connectivity, 32)}' for ConnectivityType.")
        key = (account_id, "CreateNatGateway", client_token) if client_token else None
        arguments = (subnet_id, connectivity, tags)
        with self._lock:
            earlier = self._replay(key, arguments)
            if earlier is not None and earlier in self._nats:
                return self._nats[earlier]
            subnet = self.subnet(account_id, subnet_id)
            in_zone = [n for n in self._nats.values() if n.account_id == account_id
                       and self._subnets[n.subnet_id].availability_zone == subnet.availability_zone]
            if len(in_zone) >= self.quotas.nat_gateways_per_az:
                raise ve.NatGatewayLimitExceeded("The maximum number of NAT gateways has been reached.")
            nat_id = new_id("nat")
            interface = self._new_interface(subnet, InterfaceType.NAT_GATEWAY, f"Interface for NAT Gateway {nat_id}", ())
            nat = NatGateway(nat_id, account_id, subnet.vpc_id, subnet_id, connectivity, interface.interface_id,
                             interface.address, tags, self._clock())
            self._write([Write("insert", "network_interfaces", rows.interface_row(interface)),
                              Write("insert", "nat_gateways", rows.nat_row(nat))])
            self._interfaces[interface.interface_id] = interface
            self._nats[nat_id] = nat
            self._remember(key, arguments, nat_id)
        self._notify([VpcChange(ChangeKind.NAT_CREATED, account_id, nat.vpc_id, nat_id)])
        return nat

    def delete_nat_gateway(self, account_id: str, nat_id: str) -> NatGateway:
        with self._lock:
            nat = self.nat_gateway(account_id, nat_id)
            self._write([Write("delete", "nat_gateways", {"nat_gateway_id": nat_id}),
                              Write("delete", "network_interfaces", {"interface_id": nat.interface_id})])
            del self._nats[nat_id]
            self._interfaces.pop(nat.interface_id, None)
        self._notify([VpcChange(ChangeKind.NAT_DELETED, account_id, nat.vpc_id, nat_id)])
        return nat

    # -- VPC endpoints ---------------------------------------------------------------------------
    def endpoint_service_names(self) -> list[str]:
        return [f"com.amazonaws.{self.region}.{name}" for name in ENDPOINT_SERVICES]

    def create_vpc_endpoint(self, account_id: str, vpc_id: str, service_name: str, *,
                            endpoint_type: str = "Interface", subnet_ids: Sequence[str] = (),
                            group_ids: Sequence[str] = (), private_dns: bool = False, policy: str = "",
                            tags: Tags = (), client_token: str = "") -> VpcEndpoint:
        if service_name not in self.endpoint_service_names():
            raise ve.InvalidServiceName(f"The Vpc Endpoint Service '{echo(service_name, 255)}' does not exist")
        if endpoint_type != "Interface":
            raise ve.InvalidValue(f"Invalid value '{echo(endpoint_type, 32)}' for VpcEndpointType: lambent's API is "
                                  "served by Interface endpoints.")
        check_text(policy, "PolicyDocument", 20480)
        key = (account_id, "CreateVpcEndpoint", client_token) if client_token else None
        arguments = (vpc_id, service_name, endpoint_type, tuple(subnet_ids), tuple(group_ids), private_dns, policy, tags)
        with self._lock:
            earlier = self._replay(key, arguments)
            if earlier is not None and earlier in self._endpoints:
                return self._endpoints[earlier]
            self.vpc(account_id, vpc_id)
            subnets = [self.subnet(account_id, s) for s in dict.fromkeys(subnet_ids)]
            zones = [s.availability_zone for s in subnets]
            if len(set(zones)) != len(zones):
                raise ve.ParameterCombination("Found another VPC endpoint subnet in the availability zone.")
            if any(s.vpc_id != vpc_id for s in subnets):
                raise ve.ParameterCombination("The subnets of a VPC endpoint must belong to its VPC.")
            groups = [self.group(account_id, g) for g in dict.fromkeys(group_ids)] or [self.default_group(vpc_id)]
            if any(g.vpc_id != vpc_id for g in groups):
                raise ve.ParameterCombination("The security groups of a VPC endpoint must belong to its VPC.")
            if sum(1 for x in self._endpoints.values() if x.vpc_id == vpc_id) >= self.quotas.endpoints_per_vpc:
                raise ve.VpcEndpointLimitExceeded("The maximum number of VPC endpoints has been reached.")
            endpoint_id = new_id("vpce")
            gids = tuple(g.group_id for g in groups)
            interfaces: list[NetworkInterface] = []
            for subnet in subnets:
                interface = self._new_interface(subnet, InterfaceType.VPC_ENDPOINT,
                                                f"VPC Endpoint Interface {endpoint_id}", gids)
                interfaces.append(interface)
            endpoint = VpcEndpoint(endpoint_id, account_id, vpc_id, service_name, endpoint_type,
                                   tuple(s.subnet_id for s in subnets), gids,
                                   tuple(i.interface_id for i in interfaces), private_dns, policy, tags, self._clock())
            self._write([*(Write("insert", "network_interfaces", rows.interface_row(i)) for i in interfaces),
                              Write("insert", "vpc_endpoints", rows.endpoint_row(endpoint))])
            self._interfaces.update((i.interface_id, i) for i in interfaces)
            self._endpoints[endpoint_id] = endpoint
            self._remember(key, arguments, endpoint_id)
        self._notify([VpcChange(ChangeKind.ENDPOINT_CREATED, account_id, vpc_id, endpoint_id)])
        return endpoint

    def delete_vpc_endpoint(self, account_id: str, endpoint_id: str) -> VpcEndpoint:
        with self._lock:
            endpoint = self.vpc_endpoint(account_id, endpoint_id)
            self._write([Write("delete", "vpc_endpoints", {"endpoint_id": endpoint_id}),
                              *(Write("delete", "network_interfaces", {"interface_id": i})
                                for i in endpoint.interface_ids)])
            del self._endpoints[endpoint_id]
            for interface_id in endpoint.interface_ids:
                self._interfaces.pop(interface_id, None)
        self._notify([VpcChange(ChangeKind.ENDPOINT_DELETED, account_id, endpoint.vpc_id, endpoint_id)])
        return endpoint
