"""``DefaultNetwork``: one server's bridge, its nftables tables, its DNS forwarder, and a veth per
environment.

Everything it creates is named after the server's data dir (``lmb<id>`` for the bridge,
``lmb<id>v<n>`` for the host ends of veths, ``lambent_<id>`` for the nftables tables), so a
server removes its own leftovers at start (after a crash) and never touches another server's.

Per environment (``attach``, while the sandbox's init is blocked before the function's code
runs), over rtnetlink (``_netlink``, no process per step: ~3 ms in all on a loaded host): the veth
pair is created with its inner end directly in the sandbox's network namespace, named ``eth0``,
and the host end up on the bridge as an isolated port; then, from a thread inside the namespace,
``eth0`` gets its address, goes up and gets a default route via the gateway. ``detach`` deletes the host end (the pair goes with it, if the
namespace has not already taken it) and gives the address back.

Privileged steps, in order (the server runs as root): delete leftover links; under the host-wide
flock of ``settings.lock_path``, pick the subnet and ``ip link add`` the bridge (with a fixed MAC:
a bridge without one takes its lowest port's, which changed under the sandboxes' ARP caches), its
address, up; ``net.ipv4.ip_forward=1`` (needed for NAT; left on at shutdown, other
software may rely on it); IPv6 off on the bridge; ``nft -f`` the tables; bind UDP gateway:53.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from lambent.settings import NetworkSettings

from . import _netlink
from ._commands import run, run_sync
from ._host import base36, delete_links, links_with_prefix, write_sysctl
from .addresses import AddressPool, parse_cidrs, pick_subnet
from .dns import DnsForwarder, parse_upstream
from .errors import NetworkSetupFailed
from .ruleset import Ruleset, delete_text

__all__ = ["Attachment", "DefaultNetwork", "names_for"]

log = logging.getLogger(__name__)

_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat",
                "anycast"}


def names_for(data_dir: Path) -> tuple[str, str]:
    """(link prefix, nftables table) of the server of ``data_dir``."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:6]
    return f"lmb{digest}", f"lambent_{digest}"


@dataclass(frozen=True)
class Attachment:
    """One environment's place on the default network."""

    env_id: str
    address: IPv4Address
    gateway: IPv4Address
    host_link: str


def _routes(text: str) -> list[IPv4Network]:
    out: list[IPv4Network] = []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in _ROUTE_TYPES:
            parts = parts[1:]
        if not parts or parts[0] == "default":
            continue
        try:
            out.append(IPv4Network(parts[0], strict=False))
        except ValueError:
            continue
    return out


class DefaultNetwork:
    """Scope: one per server, from ``start`` to ``close``; ``attach``/``detach`` per environment."""

    def __init__(self, settings: NetworkSettings, *, data_dir: Path, files_dir: Path) -> None:
        self.settings = settings
        self.prefix, self.table = names_for(data_dir)
        self.bridge = self.prefix
        self.port_prefix = f"{self.prefix}v"
        self._seed = str(data_dir.resolve())
        #: Locally administered, unicast, derived from the data dir (stable across restarts).
        self.bridge_mac = "02:" + ":".join(self.prefix[3:][i:i + 2] for i in range(0, 6, 2)) + ":00:01"
        #: Mounted as every environment's /etc/resolv.conf (its directory must be traversable
        #: by sandbox uids: the server's sandbox dir).
        self.resolv_conf = files_dir / "resolv.conf"
        self.pool: AddressPool | None = None
        self.dns: DnsForwarder | None = None
        self._next = 0
        #: How long ``start`` took (ms), for the log and the benchmarks.
        self.start_ms = 0.0
        self._attached: dict[str, Attachment] = {}

    @property
    def gateway(self) -> IPv4Address:
        if self.pool is None:
            raise NetworkSetupFailed("the default network is not started")
        return self.pool.gateway

    def _ip(self, *args: str) -> list[str]:
        return [self.settings.ip_path, *args]

    # -- server lifetime ------------------------------------------------------------------------
    async def start(self) -> None:
        """Remove leftovers of a previous run, then build the bridge, tables and DNS forwarder.
        NetworkSetupFailed (everything built so far removed) if any step fails."""
        s = self.settings
        try:
            deny, allow = parse_cidrs(s.deny), parse_cidrs(s.allow)
            pool_net = IPv4Network(s.pool, strict=False)
            upstream = parse_upstream(s.dns_upstream)
        except ValueError as exc:
            raise NetworkSetupFailed(f"invalid network settings: {exc}") from exc
        for tool in (s.ip_path, s.nft_path):
            if not os.access(tool, os.X_OK):
                raise NetworkSetupFailed(f"{tool} is missing (Debian: apt-get install iproute2 nftables)")
        began = time.monotonic()
        await asyncio.to_thread(self.cleanup_leftovers, tables=False)
        try:
            # Picking a subnet and giving the bridge its address (which adds the route the next
            # server's pick sees) is one step under a host-wide lock: two servers starting at the
            # same moment never pick the same subnet.
            subnet = await asyncio.to_thread(self._create_bridge, pool_net)
            pool = self.pool = AddressPool(subnet)
            write_sysctl("net/ipv4/ip_forward", "1")
            write_sysctl(f"net/ipv6/conf/{self.bridge}/disable_ipv6", "1")
            ruleset = Ruleset(table=self.table, bridge=self.bridge, port_prefix=self.port_prefix, subnet=subnet,
                              gateway=pool.gateway, deny=deny, allow=allow, dns_rate_per_s=s.dns_rate_per_s)
            await run([s.nft_path, "-f", "-"], ruleset.text(), what="load the nftables ruleset")
            self.dns = DnsForwarder(pool.gateway, subnet, upstream, rate_per_s=s.dns_rate_per_s,
                                    max_in_flight=s.dns_max_in_flight, timeout_s=s.dns_timeout_s)
            try:
                await self.dns.start()
            except OSError as exc:
                raise NetworkSetupFailed("cannot serve DNS on the bridge gateway", error=str(exc)) from exc
            self.resolv_conf.write_text(f"nameserver {pool.gateway}\noptions timeout:2 attempts:3\n")
            os.chmod(self.resolv_conf, 0o644)
        except BaseException:
            await self.close()
            raise
        self.start_ms = (time.monotonic() - began) * 1000
        log.info("default network %s on %s (gateway %s) in %.1f ms", self.bridge, subnet, pool.gateway, self.start_ms)

    def _create_bridge(self, pool_net: IPv4Network) -> IPv4Network:
        """Under the host-wide allocation lock: the host's routes, a subnet none covers, the
        bridge with the subnet's gateway address (so its route is on the host before the lock
        goes). Blocking."""
        lock_path = Path(self.settings.lock_path)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise NetworkSetupFailed(f"cannot open the network allocation lock {lock_path}", error=str(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            routes = _routes(run_sync(self._ip("-4", "-o", "route", "show", "table", "all"), what="list routes"))
            subnet = pick_subnet(pool_net, self.settings.subnet_prefix, self._seed, routes)
            gateway = next(subnet.hosts())
            # A fixed address: a bridge without one takes its lowest port's, so each new veth
            # could change the gateway's MAC under the sandboxes' ARP caches (their traffic then
            # went nowhere for ~30 s: the "DNS fails after a flood" bug).
            run_sync(self._ip("-batch", "-"), (
                f"link add {self.bridge} address {self.bridge_mac} type bridge\n"
                f"addr add {gateway}/{subnet.prefixlen} dev {self.bridge}\n"
                f"link set {self.bridge} up\n"), what=f"create bridge {self.bridge}")
            return subnet
        finally:
            os.close(fd)  # releases the lock

    def cleanup_leftovers(self, *, tables: bool = True) -> None:
        """Delete this server's links and tables left by a run that did not close (idempotent).
        ``tables=False`` (start: loading the ruleset replaces them atomically) keeps the links'
        part only, which needs no process."""
        delete_links(self.own_links(), lambda name, exc: log.warning("cannot delete leftover link %s: %s", name, exc))
        if tables:
            run_sync([self.settings.nft_path, "-f", "-"], delete_text(self.table), what="delete tables", check=False)

    def own_links(self) -> list[str]:
        """This server's links on the host (the bridge and every veth host end of its prefix)."""
        names = links_with_prefix(self.prefix)
        return sorted(names, key=lambda name: name != self.bridge)

    async def close(self) -> None:
        """Stop DNS, delete every veth, the bridge and the tables (idempotent)."""
        if self.dns is not None:
            self.dns.close()
            self.dns = None
        self._attached.clear()
        await asyncio.to_thread(self.cleanup_leftovers)
        self.resolv_conf.unlink(missing_ok=True)

    # -- environments ---------------------------------------------------------------------------
    async def attach(self, env_id: str, pid: int) -> Attachment:
        """Give the network namespace of ``pid`` an ``eth0`` on the bridge; NetworkSetupFailed
        (nothing left behind) if it cannot."""
        pool = self.pool
        if pool is None:
            raise NetworkSetupFailed("the default network is not started", environment=env_id)
        address = pool.lease()
        self._next = (self._next + 1) % (36**5)
        link = f"{self.port_prefix}{base36(self._next)}"
        att = Attachment(env_id, address, pool.gateway, link)
        try:
            await asyncio.to_thread(self._attach_sync, att, pid, pool.subnet.prefixlen)
        except OSError as exc:
            await self._remove(att)
            raise NetworkSetupFailed(f"cannot set up the network of environment {env_id}", environment=env_id,
                                     link=link, error=str(exc)) from exc
        except BaseException:
            await self._remove(att)
            raise
        self._attached[env_id] = att
        return att

    def _attach_sync(self, att: Attachment, pid: int, prefix: int) -> None:
        _netlink.add_veth(att.host_link, self.bridge, pid)
        _netlink.configure_inner(pid, att.address, prefix, att.gateway)

    async def detach(self, att: object, /) -> None:
        """Delete the environment's veth and give its address back (idempotent; anything but an
        attachment of this network is ignored)."""
        if not isinstance(att, Attachment) or self._attached.get(att.env_id) is not att:
            return
        del self._attached[att.env_id]
        await self._remove(att)

    async def _remove(self, att: Attachment) -> None:
        try:
            await asyncio.to_thread(_netlink.delete_link, att.host_link)  # False: gone with the namespace
        except OSError as exc:
            log.warning("cannot delete %s of environment %s: %s", att.host_link, att.env_id, exc)
        if self.pool is not None:
            self.pool.release(att.address)
        if self.dns is not None:
            self.dns.forget(att.address)

    @property
    def attached(self) -> list[Attachment]:
        return list(self._attached.values())
