"""The Linux side of VPCs (see the package docstring; contract: docs/network.md "VPCs").

Names: every link starts with ``lmv<id>`` (``<id>``: the six hex digits of
:func:`lambent.network.manager.names_for`, from the data dir), bridges ``lmv<id>b<n>``, veths'
host ends ``lmv<id>e<n>``; the nftables tables (``inet`` and ``bridge``) are ``lambent_vpc_<id>``.
The default network's links start with ``lmb<id>``: neither server part ever deletes the other's.

Privileged steps (the server runs as root), per subnet: ``ip link add`` the bridge, the gateway
(network + 1) on it, up; ``proxy_arp`` + ``proxy_arp_pvlan`` (the host answers ARP for the whole
subnet, so neighbours' traffic is routed, and filtered, by the host), no IPv6, no redirects; a DNS
forwarder on the gateway (clients: the VPC's block). Then, after any change of the model, one
load of the whole ruleset (:mod:`.ruleset`): atomic, so a security-group change applies in one step,
within milliseconds of the API's answer.

An environment's interface is cheaper (it is on the cold start's path, docs/network.md "Cost"):
its lease is taken in memory and reaches vpc.db in a group commit ``_FLUSH_DELAY_S`` later
(:meth:`VpcService.flush`); its nftables part is one small transaction of set and map elements
(:func:`.ruleset.interface_text`) over chains that exist already (per list of groups, made ahead
of need when a function's VpcConfig is placed: :meth:`VpcNetwork.for_function`), run while the
veth is created; a failed element-wise step falls back to the whole ruleset. Until both are done
the interface passes nothing (no map element: dropped; no port binding: dropped on the bridge).

Abuse cases (docs/security.md): another account's subnet is "not found" (every look-up is
account-scoped); a subnet overlapping a host route lambent does not own, or another VPC's built
subnet, is refused at CreateSubnet (InvalidSubnet.Conflict): it could capture the host's LAN; a
rule flood is bounded by the model's 60 rules per group and direction; an interface spoofing a
neighbour's address is dropped on its bridge port.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from lambent.network import _netlink
from lambent.network._commands import run_sync
from lambent.network._host import base36, delete_links, links_with_prefix, write_sysctl
from lambent.network.addresses import parse_cidrs
from lambent.network.dns import DnsForwarder, parse_upstream
from lambent.network.errors import NetworkSetupFailed
from lambent.network.manager import names_for
from lambent.settings import NetworkSettings
from lambent.vpc import errors as ve
from lambent.vpc.model import ChangeKind, InterfaceType, NetworkInterface, Rule, Subnet, VpcChange
from lambent.vpc.service import Snapshot, VpcService

from . import _nft
from .ruleset import Loaded, NetInterface, NetSubnet, NetVpc, VpcRuleset, delete_text, interface_text

__all__ = ["FunctionVpcNetwork", "VpcAttachment", "VpcNetwork", "vpc_names"]

log = logging.getLogger(__name__)

_NETNS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
#: at most this many nameservers in a resolv.conf (glibc reads three)
_MAX_NAMESERVERS = 3
#: environments' lease writes are committed to vpc.db this long after the first one left behind
_FLUSH_DELAY_S = 0.2
#: at most this many lists of groups prepared ahead of need (oldest forgotten first)
_MAX_PREPARED = 256


def vpc_names(data_dir: Path) -> tuple[str, str]:
    """(link prefix, nftables table) of the VPCs of the server of ``data_dir``."""
    prefix, _ = names_for(data_dir)
    digest = prefix[3:]
    return f"lmv{digest}", f"lambent_vpc_{digest}"


@dataclass(frozen=True)
class VpcAttachment:
    env_id: str
    account_id: str
    vpc_id: str
    subnet_id: str
    #: the ENI DescribeNetworkInterfaces shows (VpcService.lease_address)
    interface_id: str
    address: IPv4Address
    gateway: IPv4Address
    host_link: str


@dataclass
class _Live:
    """An interface of this run on Linux: a veth (``port``) or a host address (``port`` None)."""

    interface: NetworkInterface
    port: str | None
    netns: str | None = None
    env_id: str | None = None


@dataclass
class _Bridge:
    name: str
    subnet: Subnet
    dns: DnsForwarder | None = None


def _host_routes(text: str, own_prefix: str) -> list[IPv4Network]:
    """The routes of ``ip -4 -o route show table all`` not on a link of ours."""
    out: list[IPv4Network] = []
    for line in text.splitlines():
        parts = line.split()
        if "dev" in parts and parts.index("dev") + 1 < len(parts) and parts[parts.index("dev") + 1].startswith(own_prefix):
            continue
        if parts and parts[0] in ("unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit",
                                  "blackhole", "nat", "anycast"):
            parts = parts[1:]
        if not parts or parts[0] == "default":
            continue
        try:
            net = IPv4Network(parts[0], strict=False)
        except ValueError:
            continue
        if net.prefixlen > 0:
            out.append(net)
    return out


class VpcNetwork:
    """One per server: the Linux side of every VPC of every account (bridges per subnet, routes,
    security groups in nftables, NAT gateways, endpoints). Listens to VpcService changes.

    Scope: from ``start`` to ``close``, on the server's event loop (changes told from another
    thread are handed to it)."""

    def __init__(self, settings: NetworkSettings, vpcs: VpcService, *, data_dir: Path, files_dir: Path) -> None:
        self.settings = settings
        self.vpcs = vpcs
        self.prefix, self.table = vpc_names(data_dir)
        self.files_dir = files_dir
        self._bridges: dict[str, _Bridge] = {}
        self._live: dict[str, _Live] = {}
        self._next = 0
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.Task[None] | None = None
        self._dirty = False
        self._unsubscribe: list[object] = []
        self._deny: tuple[IPv4Network, ...] = ()
        self._allow: tuple[IPv4Network, ...] = ()
        self._never: tuple[IPv4Network, ...] = ()
        self._upstream: tuple[str, int] | None = None
        self._started = False
        #: subnets of the model this host cannot route (logged once)
        self._unbuilt: set[str] = set()
        #: what the last whole ruleset created (None: none loaded, e.g. a server without subnets)
        self._loaded: Loaded | None = None
        #: lists of groups of placed VpcConfigs: their chains are in every whole ruleset (insertion order)
        self._prepared: dict[tuple[str, ...], None] = {}
        self._flush_task: asyncio.Task[None] | None = None

    def _ip(self, *args: str) -> list[str]:
        return [self.settings.ip_path, *args]

    # -- server lifetime ------------------------------------------------------------------------
    async def start(self) -> None:
        """Remove leftovers, rebuild what vpc.db says should exist (bridges, DNS, rules, NAT).
        Interfaces of a dead run are gone with its links: their leases (environments and
        attachments) are released. NetworkSetupFailed (everything removed) if Linux refuses."""
        s = self.settings
        try:
            self._deny, self._allow = parse_cidrs(s.deny), parse_cidrs(s.allow)
            self._never = (IPv4Network(s.pool, strict=False),)
        except ValueError as exc:
            raise NetworkSetupFailed(f"invalid network settings: {exc}") from exc
        try:
            self._upstream = parse_upstream(s.dns_upstream)
        except ValueError as exc:
            log.warning("VPC interfaces get no DNS: %s", exc)
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.cleanup_leftovers)
        for kind in (InterfaceType.LAMBDA, InterfaceType.ATTACHMENT):
            gone = self.vpcs.release_all(kind)
            if gone:
                log.warning("released %d VPC addresses (%s) of a previous run", gone, kind.value)
        try:
            self._started = True
            await self.sync()
        except BaseException:
            await self.close()
            raise
        self.vpcs.subnet_guard = self._guard
        self._unsubscribe.append(self.vpcs.subscribe(self._changed))

    def cleanup_leftovers(self) -> None:
        """Delete this server's VPC links and tables (idempotent)."""
        # in-process: a server without VPCs pays no ``ip`` run
        delete_links(
            links_with_prefix(self.prefix),
            lambda name, _exc: run_sync(self._ip("link", "del", name), what=f"delete {name}", check=False),
        )
        if any(_nft.has_table(family, self.table) for family in ("inet", "bridge")):
            _nft.load(delete_text(self.table), nft_path=self.settings.nft_path, what="delete tables", check=False)

    async def close(self) -> None:
        """Remove everything lambent created (links, addresses, tables, DNS); attachments' leases
        are given back (environments' are, by their own detach). Idempotent."""
        for unsubscribe in self._unsubscribe:
            if callable(unsubscribe):
                unsubscribe()
        self._unsubscribe.clear()
        if self.vpcs.subnet_guard == self._guard:
            self.vpcs.subnet_guard = None
        self._started = False
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._flush_task is not None:
            self._flush_task.cancel()
            self._flush_task = None
        async with self._lock:
            for bridge in self._bridges.values():
                if bridge.dns is not None:
                    bridge.dns.close()
            self._bridges.clear()
            for live in list(self._live.values()):
                if live.interface.interface_type is InterfaceType.ATTACHMENT:
                    self.vpcs.release_address(live.interface.interface_id)
            self._live.clear()
            self._loaded = None
            await asyncio.to_thread(self.cleanup_leftovers)
        await self._flush()

    # -- changes ---------------------------------------------------------------------------------
    def _changed(self, change: VpcChange) -> None:
        # A lease or release comes from this class's own attach / detach, which load the ruleset
        # themselves (with the new members); every other kind changes Linux: a subnet a bridge, a
        # NAT gateway or endpoint the route chain, a group's rules its chains.
        if change.kind in (ChangeKind.ADDRESS_LEASED, ChangeKind.ADDRESS_RELEASED):
            return
        loop = self._loop
        if loop is None or not self._started:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._schedule()
        else:
            loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._dirty and self._started:
            self._dirty = False
            try:
                await self.sync()
            except NetworkSetupFailed as exc:
                log.error("cannot apply a VPC change: %s (%s)", exc.message, exc.context)

    def _guard(self, subnet: Subnet) -> None:
        """Refuse a subnet this host cannot route: it overlaps a route lambent does not own (the
        host's LAN, the default network, a container bridge) or another VPC's subnet."""
        for other in self.vpcs.snapshot().subnets:
            if other.vpc_id != subnet.vpc_id and other.cidr.overlaps(subnet.cidr):
                raise ve.SubnetConflict(f"The CIDR '{subnet.cidr}' conflicts with a subnet already served by this "
                                        "lambent server (VPC blocks must not overlap across accounts here).")
        text = run_sync(self._ip("-4", "-o", "route", "show", "table", "all"), what="list routes", check=False)
        for route in _host_routes(text, self.prefix):
            if route.overlaps(subnet.cidr):
                raise ve.SubnetConflict(f"The CIDR '{subnet.cidr}' conflicts with a route of the host "
                                        f"({route}); choose a block this host does not use.")

    # -- the Linux side of the model ------------------------------------------------------------
    async def sync(self) -> None:
        """Make Linux match the model: bridges of new subnets, none of deleted ones, the ruleset."""
        async with self._lock:
            if not self._started:
                return
            snap = self.vpcs.snapshot()
            wanted = {s.subnet_id: s for s in snap.subnets}
            for subnet_id in [b for b in self._bridges if b not in wanted]:
                await self._remove_bridge(self._bridges.pop(subnet_id))
            missing = [s for sid, s in wanted.items() if sid not in self._bridges]
            routes: list[IPv4Network] = []
            if missing:
                text = await _run(self._ip("-4", "-o", "route", "show", "table", "all"), what="list routes")
                routes = _host_routes(text, self.prefix)
            for subnet in missing:
                clash = next((r for r in routes if r.overlaps(subnet.cidr)), None)
                if clash is not None:
                    # accepted before this host had the route (a restart on another LAN): not built
                    if subnet.subnet_id not in self._unbuilt:
                        log.error("subnet %s (%s) overlaps the host route %s: not built", subnet.subnet_id,
                                  subnet.cidr, clash)
                        self._unbuilt.add(subnet.subnet_id)
                    continue
                try:
                    self._bridges[subnet.subnet_id] = await self._add_bridge(subnet)
                except NetworkSetupFailed as exc:
                    log.error("cannot build subnet %s: %s (%s)", subnet.subnet_id, exc.message, exc.context)
            await self._apply(snap)

    def _name(self, kind: str) -> str:
        self._next = (self._next + 1) % (36**5)
        return f"{self.prefix}{kind}{base36(self._next)}"

    async def _add_bridge(self, subnet: Subnet) -> _Bridge:
        write_sysctl("net/ipv4/ip_forward", "1")  # with the first subnet: a server without VPCs changes nothing
        bridge = _Bridge(self._name("b"), subnet)
        gateway = self.vpcs.gateway(subnet.subnet_id)
        # A fixed address: a bridge otherwise takes its lowest port's, changing as ports come and
        # go, and the neighbours' ARP entries for the gateway (proxy ARP answers) go stale.
        mac = "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))
        await _run(self._ip("-batch", "-"), (
            f"link add {bridge.name} address {mac} type bridge\n"
            f"addr add {gateway}/{subnet.cidr.prefixlen} dev {bridge.name}\n"), what=f"create bridge {bridge.name}")
        try:
            for key, value in (("disable_ipv6", "1"),):
                write_sysctl(f"net/ipv6/conf/{bridge.name}/{key}", value)
            for key, value in (("proxy_arp", "1"), ("proxy_arp_pvlan", "1"), ("send_redirects", "0")):
                write_sysctl(f"net/ipv4/conf/{bridge.name}/{key}", value)
            # proxy ARP answers at once (the default delays each answer up to 0.8 s at random)
            write_sysctl(f"net/ipv4/neigh/{bridge.name}/proxy_delay", "0")
            await _run(self._ip("link", "set", bridge.name, "up"), what=f"bring {bridge.name} up")
            if self._upstream is not None:
                vpc_cidr = next((v.cidr for v in self.vpcs.snapshot().vpcs if v.vpc_id == subnet.vpc_id), subnet.cidr)
                s = self.settings
                dns = DnsForwarder(gateway, vpc_cidr, self._upstream, rate_per_s=s.dns_rate_per_s,
                                   max_in_flight=s.dns_max_in_flight, timeout_s=s.dns_timeout_s)
                try:
                    await dns.start()
                except OSError as exc:
                    log.warning("no DNS on %s (%s): %s", bridge.name, gateway, exc)
                else:
                    bridge.dns = dns
        except BaseException:
            await self._remove_bridge(bridge)
            raise
        return bridge

    async def _remove_bridge(self, bridge: _Bridge) -> None:
        if bridge.dns is not None:
            bridge.dns.close()
            bridge.dns = None
        try:
            await asyncio.to_thread(_netlink.delete_link, bridge.name)
        except OSError as exc:
            log.warning("cannot delete bridge %s: %s", bridge.name, exc)

    def ruleset(self, snap: Snapshot) -> VpcRuleset:
        """The nftables ruleset for ``snap`` and the interfaces of this run."""
        nat_vpcs = {n.vpc_id for n in snap.nats}
        vpcs = tuple(NetVpc(v.vpc_id, v.cidr, v.vpc_id in nat_vpcs) for v in snap.vpcs)
        subnets = tuple(NetSubnet(s.subnet_id, s.vpc_id, b.name, s.cidr, self.vpcs.gateway(s.subnet_id))
                        for s in snap.subnets if (b := self._bridges.get(s.subnet_id)) is not None)
        leased = {i.interface_id: i for i in snap.interfaces}
        interfaces = tuple(NetInterface(live.interface.address, live.interface.vpc_id,
                                        leased.get(iid, live.interface).group_ids, live.port)
                           for iid, live in self._live.items())
        existing = {g.group_id for g in snap.groups}
        prepared = tuple(groups for groups in self._prepared if set(groups) <= existing)
        wanted = {g for i in interfaces for g in i.group_ids} | {g for groups in prepared for g in groups}
        rules: dict[str, list[Rule]] = {}
        for rule in snap.rules:
            if rule.group_id in wanted:
                rules.setdefault(rule.group_id, []).append(rule)
        members: dict[str, list[IPv4Address]] = {}
        for interface in snap.interfaces:
            for group_id in interface.group_ids:
                members.setdefault(group_id, []).append(interface.address)
        return VpcRuleset(table=self.table, link_prefix=self.prefix, vpcs=vpcs, subnets=subnets,
                          interfaces=interfaces, rules={g: tuple(r) for g, r in rules.items()},
                          members={g: tuple(a) for g, a in members.items()}, deny=self._deny, allow=self._allow,
                          never=self._never, prepared=prepared)

    async def _apply(self, snap: Snapshot | None = None) -> None:
        """Load the whole ruleset (under ``_lock``). Nothing while there is nothing to filter: a
        server without subnets pays no table (cleanup_leftovers removed any of a previous run)."""
        ruleset = self.ruleset(snap or self.vpcs.snapshot())
        if self._loaded is None and not ruleset.subnets and not ruleset.interfaces:
            return
        self._loaded = None  # unknown while the load runs (a failed load may have changed nothing)
        await asyncio.to_thread(_nft.load, ruleset.text(), nft_path=self.settings.nft_path,
                                what="load the VPC ruleset")
        self._loaded = ruleset.loaded()

    async def _apply_interface(self, live: _Live, *, add: bool) -> None:
        """The ruleset with ``live`` added or removed (under ``_lock``): element-wise when the
        chains it needs are loaded, else (or if that step is refused) the whole ruleset."""
        loaded = self._loaded
        if loaded is not None and live.port is not None:
            net = NetInterface(live.interface.address, live.interface.vpc_id, self._groups_of(live), live.port)
            text = interface_text(loaded, net, add=add)
            if text is not None:
                try:
                    await asyncio.to_thread(_nft.load, text, nft_path=self.settings.nft_path,
                                            what="update the VPC ruleset")
                except NetworkSetupFailed as exc:
                    log.info("element-wise VPC ruleset update refused (%s): loading the whole ruleset",
                             exc.context.get("error", exc.message))
                else:
                    if add and self._loaded is loaded and net.group_ids not in loaded.group_sets:
                        self._loaded = Loaded(loaded.table, loaded.groups, loaded.group_sets | {net.group_ids},
                                              loaded.peer_sets)
                    return
        await self._apply()

    def _groups_of(self, live: _Live) -> tuple[str, ...]:
        """The interface's groups as the model has them now (what a whole ruleset would use)."""
        try:
            return self.vpcs.interface(live.interface.account_id, live.interface.interface_id).group_ids
        except ve.NetworkInterfaceNotFound:  # released already (a detach)
            return live.interface.group_ids

    def _prepare(self, groups: tuple[str, ...]) -> None:
        """Chains for ``groups`` ahead of the first environment that holds them (a whole ruleset
        load, in the background, when they are not loaded yet)."""
        if groups in self._prepared:
            return
        self._prepared[groups] = None
        while len(self._prepared) > _MAX_PREPARED:
            del self._prepared[next(iter(self._prepared))]
        loaded = self._loaded
        if loaded is None or groups not in loaded.group_sets:
            self._schedule()

    def _flush_soon(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.ensure_future(self._flush(_FLUSH_DELAY_S))

    async def _flush(self, delay_s: float = 0.0) -> None:
        """Commit the environments' lease writes left behind (VpcService.flush), after ``delay_s``."""
        if delay_s:
            await asyncio.sleep(delay_s)
        try:
            await asyncio.to_thread(self.vpcs.flush)
        except Exception as exc:  # noqa: BLE001 - they stay behind; the next lease schedules another flush
            log.warning("cannot write VPC leases to vpc.db yet: %s", exc)

    # -- questions -------------------------------------------------------------------------------
    def for_function(self, account_id: str, subnet_ids: Sequence[str],
                     security_group_ids: Sequence[str]) -> FunctionVpcNetwork:
        """The network of one function's ``VpcConfig`` (SubnetNotFound / GroupNotFound /
        ParameterCombination as :meth:`VpcService.vpc_of_config`)."""
        vpc_id = self.vpcs.vpc_of_config(account_id, subnet_ids, security_group_ids)
        if self._started and self._loop is not None:
            groups = tuple(security_group_ids) or (self.vpcs.default_group(vpc_id).group_id,)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                self._prepare(groups)
            else:
                self._loop.call_soon_threadsafe(self._prepare, groups)
        return FunctionVpcNetwork(self, account_id, vpc_id, tuple(subnet_ids), tuple(security_group_ids))

    def api_reachable(self, account_id: str, vpc_id: str) -> bool:
        """True while the VPC has a VPC endpoint for lambda (lambent's API) or a NAT gateway.

        No Linux route is involved: lambent's API reaches a VPC function through the listener
        inside its sandbox, which the worker opens only while this answers True."""
        snap = self.vpcs.snapshot()
        lambda_service = f"com.amazonaws.{self.vpcs.region}.lambda"
        return any(n.account_id == account_id and n.vpc_id == vpc_id for n in snap.nats) or any(
            x.account_id == account_id and x.vpc_id == vpc_id and x.service_name == lambda_service
            for x in snap.endpoints)

    def gateways(self, subnet_ids: Sequence[str]) -> list[IPv4Address]:
        """The subnets' gateways (network + 1, from the model: also before their bridges exist)."""
        out = []
        for subnet_id in subnet_ids:
            try:
                out.append(self.vpcs.gateway(subnet_id))
            except KeyError:  # deleted since the function was configured
                continue
        return out

    def _bridge_of(self, account_id: str, subnet_id: str) -> _Bridge:
        self.vpcs.subnet(account_id, subnet_id)  # SubnetNotFound for another account's subnet
        bridge = self._bridges.get(subnet_id)
        if bridge is None:
            raise NetworkSetupFailed(f"subnet {subnet_id} has no bridge on this host", subnet=subnet_id)
        return bridge

    # -- interfaces ------------------------------------------------------------------------------
    async def _lease(self, account_id: str, subnet_id: str, kind: InterfaceType, description: str,
                     group_ids: Sequence[str]) -> tuple[_Bridge, NetworkInterface]:
        if not self._started:
            raise NetworkSetupFailed("the VPC network is not started")
        subnet = self.vpcs.subnet(account_id, subnet_id)
        if subnet_id not in self._bridges:
            await self.sync()
        bridge = self._bridge_of(account_id, subnet_id)
        groups = tuple(group_ids) or (self.vpcs.default_group(subnet.vpc_id).group_id,)
        for group_id in groups:
            self.vpcs.group(account_id, group_id)
        if kind is InterfaceType.LAMBDA:  # in memory now, in vpc.db at the next flush
            interface = self.vpcs.lease_address(subnet_id, interface_type=kind, description=description,
                                                group_ids=groups, later=True)
            self._flush_soon()
        else:
            interface = await asyncio.to_thread(self.vpcs.lease_address, subnet_id, interface_type=kind,
                                                description=description, group_ids=groups)
        return bridge, interface

    async def _commit(self, live: _Live) -> None:
        """The ruleset with ``live`` added. Without waiting for ``_lock`` (a detach holds it for
        one element removal, 10-30 ms on a loaded host) when only elements are needed: ``live``
        is in ``_live`` before ``_loaded`` is read, so a whole load either includes it or had
        not finished (``_loaded`` None: the locked path); a map entry that exists (a stale
        holder of the address whose removal has not committed) refuses the transaction whole,
        and the locked path then loads everything after that removal."""
        self._live[live.interface.interface_id] = live
        loaded = self._loaded
        if loaded is not None and live.port is not None:
            net = NetInterface(live.interface.address, live.interface.vpc_id, self._groups_of(live), live.port)
            text = interface_text(loaded, net, add=True) if net.group_ids in loaded.group_sets else None
            if text is not None:
                try:
                    await asyncio.to_thread(_nft.load, text, nft_path=self.settings.nft_path,
                                            what="update the VPC ruleset")
                    return
                except NetworkSetupFailed as exc:
                    log.info("element-wise VPC ruleset update refused (%s): loading the whole ruleset",
                             exc.context.get("error", exc.message))
                    async with self._lock:
                        await self._apply()
                    return
        async with self._lock:
            await self._apply_interface(live, add=True)

    async def _forget(self, interface_id: str) -> None:
        live = self._live.get(interface_id)
        if live is None:
            return
        if live.port is not None:
            try:
                await asyncio.to_thread(_netlink.delete_link, live.port)
            except OSError as exc:
                log.warning("cannot delete %s: %s", live.port, exc)
        else:
            bridge = self._bridges.get(live.interface.subnet_id)
            if bridge is not None:
                argv = self._ip("addr", "del", f"{live.interface.address}/32", "dev", bridge.name)
                await asyncio.to_thread(run_sync, argv, what="remove a host address", check=False)
        # Under the lock, so that no whole load and no attach of the address's next holder comes
        # between the release and the removal of the elements.
        async with self._lock:
            held = self._live.pop(interface_id, None) is not None
            if live.interface.interface_type is InterfaceType.LAMBDA:
                self.vpcs.release_address(interface_id)  # in memory now, in vpc.db at the next flush
                if self._started:
                    self._flush_soon()
            else:
                await asyncio.to_thread(self.vpcs.release_address, interface_id)
            if held and self._started:
                await self._apply_interface(live, add=False)

    async def attach_env(self, account_id: str, subnet_id: str, group_ids: Sequence[str], env_id: str,
                         pid: int) -> VpcAttachment:
        started = time.perf_counter()
        bridge, interface = await self._lease(account_id, subnet_id, InterfaceType.LAMBDA,
                                              f"AWS Lambda VPC ENI-{env_id}", group_ids)
        port = self._name("e")
        gateway = self.vpcs.gateway(subnet_id)
        live = _Live(interface, port, env_id=env_id)
        att = VpcAttachment(env_id, account_id, interface.vpc_id, subnet_id, interface.interface_id,
                            interface.address, gateway, port)
        leased = time.perf_counter()
        try:
            self._live[interface.interface_id] = live
            # the rules and the link at once: the interface passes nothing until both are done
            results = await asyncio.gather(self._commit(live), asyncio.to_thread(
                _link_env, port, bridge.name, pid, interface.address, bridge.subnet.cidr.prefixlen, gateway),
                return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            log.debug("VPC interface of %s: lease %.2f ms, link and rules %.2f ms", env_id,
                      (leased - started) * 1e3, (time.perf_counter() - leased) * 1e3)
        except OSError as exc:
            await self._forget(interface.interface_id)
            raise NetworkSetupFailed(f"cannot set up the VPC network of environment {env_id}", environment=env_id,
                                     link=port, error=str(exc)) from exc
        except BaseException:
            await self._forget(interface.interface_id)
            raise
        return att

    async def detach_env(self, att: VpcAttachment) -> None:
        live = self._live.get(att.interface_id)
        if live is None or live.env_id != att.env_id:
            return
        await self._forget(att.interface_id)

    async def attach_namespace(self, account_id: str, subnet_id: str, netns: str, *,
                               group_ids: Sequence[str] = ()) -> tuple[IPv4Address, IPv4Address]:
        """An interface of ``subnet_id`` in the existing network namespace ``netns`` (``ip netns``
        name): a veth named ``v<8 hex of the subnet id>`` inside, its address, the default route via
        the gateway. Returns (address, gateway). The groups: ``group_ids`` or the VPC's default."""
        if not _NETNS.match(netns) or not await asyncio.to_thread(Path("/run/netns", netns).exists):
            raise ve.InvalidValue(f"Invalid value for NetworkNamespace: no network namespace '{netns[:64]}'.")
        if any(live.netns == netns and live.interface.subnet_id == subnet_id for live in self._live.values()):
            raise ve.InvalidValue(f"The network namespace '{netns}' is already attached to {subnet_id}.")
        bridge, interface = await self._lease(account_id, subnet_id, InterfaceType.ATTACHMENT,
                                              f"lambent vpc attach --netns {netns}", group_ids)
        port = self._name("e")
        inner = f"v{subnet_id.removeprefix('subnet-')[:8]}"
        gateway = self.vpcs.gateway(subnet_id)
        live = _Live(interface, port, netns=netns)
        try:
            self._live[interface.interface_id] = live
            await _run(self._ip("link", "add", port, "type", "veth", "peer", "name", inner, "netns", netns),
                      what=f"create {port}")
            await _run(self._ip("link", "set", port, "master", bridge.name, "up"), what=f"plug {port}")
            await _run(self._ip("link", "set", port, "type", "bridge_slave", "isolated", "on", "learning", "off"),
                      what=f"isolate {port}")
            await self._commit(live)
            await _run(self._ip("-n", netns, "-batch", "-"), (
                f"addr add {interface.address}/{bridge.subnet.cidr.prefixlen} dev {inner}\n"
                f"link set {inner} up\n"
                f"route replace default via {gateway} dev {inner}\n"), what=f"configure {inner} in {netns}")
        except BaseException:
            await self._forget(interface.interface_id)
            raise
        return interface.address, gateway

    async def detach_namespace(self, account_id: str, subnet_id: str, netns: str) -> None:
        """Remove the interface ``attach_namespace`` gave ``netns`` in ``subnet_id`` (idempotent)."""
        self.vpcs.subnet(account_id, subnet_id)
        for interface_id, live in list(self._live.items()):
            if live.netns == netns and live.interface.subnet_id == subnet_id \
                    and live.interface.account_id == account_id:
                await self._forget(interface_id)

    async def attach_host(self, account_id: str, subnet_id: str, *,
                          group_ids: Sequence[str] = ()) -> tuple[IPv4Address, IPv4Address]:
        """An address of ``subnet_id`` for the host itself (on the subnet's bridge, /32: bind to it
        to be reached or to reach from it). Returns (address, gateway)."""
        if any(live.port is None and live.interface.subnet_id == subnet_id for live in self._live.values()):
            raise ve.InvalidValue(f"The host is already attached to {subnet_id}.")
        bridge, interface = await self._lease(account_id, subnet_id, InterfaceType.ATTACHMENT,
                                              "lambent vpc attach --host", group_ids)
        live = _Live(interface, None)
        try:
            self._live[interface.interface_id] = live
            await _run(self._ip("addr", "add", f"{interface.address}/32", "dev", bridge.name),
                      what="add a host address")
            await self._commit(live)
        except BaseException:
            await self._forget(interface.interface_id)
            raise
        return interface.address, self.vpcs.gateway(subnet_id)

    async def detach_host(self, account_id: str, subnet_id: str) -> None:
        """Remove the host's address on ``subnet_id`` (idempotent)."""
        self.vpcs.subnet(account_id, subnet_id)
        for interface_id, live in list(self._live.items()):
            if live.port is None and live.interface.subnet_id == subnet_id \
                    and live.interface.account_id == account_id:
                await self._forget(interface_id)

    @property
    def live_interfaces(self) -> list[NetworkInterface]:
        return [live.interface for live in self._live.values()]


@dataclass
class FunctionVpcNetwork:
    """Satisfies lambent.worker.environment.EnvironmentNetwork for one function's VpcConfig."""

    network: VpcNetwork
    account_id: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    _resolv: Path | None = field(default=None, repr=False)

    @property
    def resolv_conf(self) -> Path:
        """A resolv.conf naming the gateways of (up to three of) the function's subnets: each
        runs a DNS forwarder for the whole VPC, so any of them answers whichever subnet the
        environment landed in."""
        if self._resolv is None:
            gateways = self.network.gateways(self.subnet_ids)[:_MAX_NAMESERVERS]
            key = "-".join(sorted(self.subnet_ids))
            path = self.network.files_dir / f"resolv-vpc-{hashlib.sha256(key.encode()).hexdigest()[:12]}.conf"
            path.write_text("".join(f"nameserver {g}\n" for g in gateways) + "options timeout:2 attempts:2\n")
            path.chmod(0o644)
            self._resolv = path
        return self._resolv

    async def attach(self, env_id: str, pid: int) -> VpcAttachment:
        """Leases an address (VpcService.lease_address, InterfaceType.LAMBDA, the function's groups)
        in the function's subnet with the most free addresses; when every subnet is full raises
        lambent.vpc.errors.InsufficientFreeAddresses (its subnet_id detail names one subnet);
        NetworkSetupFailed (lambent.network.errors) when Linux refuses; nothing left behind."""
        vpcs = self.network.vpcs
        free: list[tuple[int, str]] = []
        for subnet_id in self.subnet_ids:
            try:
                free.append((vpcs.available_addresses(subnet_id), subnet_id))
            except KeyError:  # deleted since the function was configured
                continue
        if not free:
            raise ve.SubnetNotFound(f"The subnet ID '{self.subnet_ids[0] if self.subnet_ids else ''}' does not exist")
        free.sort(key=lambda x: -x[0])
        if free[0][0] <= 0:
            subnet_id = free[0][1]
            raise ve.InsufficientFreeAddresses(
                f"There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested "
                "number of instances.", subnet_id=subnet_id)
        return await self.network.attach_env(self.account_id, free[0][1], self.group_ids, env_id, pid)

    async def detach(self, att: object, /) -> None:
        """Idempotent, gives the address back (anything but a VpcAttachment is ignored)."""
        if isinstance(att, VpcAttachment):
            await self.network.detach_env(att)


async def _run(argv: list[str], stdin: str = "", *, what: str) -> str:
    """``run_sync`` on a worker thread: the event loop's subprocess pipes (uvloop's) refuse to
    write an empty stdin to a process that already exited."""
    return await asyncio.to_thread(run_sync, argv, stdin, what=what)


def _link_env(port: str, bridge: str, pid: int, address: IPv4Address, prefix: int, gateway: IPv4Address) -> None:
    """An environment's veth on ``bridge`` and its inside configured (one worker-thread hop)."""
    _netlink.add_veth(port, bridge, pid)
    _netlink.configure_inner(pid, address, prefix, gateway)
