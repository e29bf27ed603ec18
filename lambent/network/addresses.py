"""Addresses of the default network: the server's subnet, its gateway and one address per environment.

Pure (no I/O): ``pick_subnet`` is given the host's routes, ``AddressPool`` hands out and takes
back host addresses of one subnet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from .errors import NetworkSetupFailed

__all__ = ["AddressPool", "parse_cidrs", "pick_subnet"]


def parse_cidrs(text: str) -> tuple[IPv4Network, ...]:
    """``"10.0.0.0/8, 1.2.3.4"`` -> networks; ValueError names a bad entry."""
    out: list[IPv4Network] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(IPv4Network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network: {item!r}") from exc
    return tuple(out)


def pick_subnet(pool: IPv4Network, prefix: int, seed: str, taken: Iterable[IPv4Network]) -> IPv4Network:
    """The server's subnet: the ``prefix``-sized block of ``pool`` that ``seed`` (the data dir)
    points at, or the next one that overlaps nothing in ``taken`` (the host's routes)."""
    if prefix < pool.prefixlen:
        raise NetworkSetupFailed(f"network.subnet_prefix /{prefix} is larger than network.pool {pool}")
    count = 1 << (prefix - pool.prefixlen)
    size = 1 << (32 - prefix)
    start = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % count
    used = [n for n in taken if n.prefixlen > 0]  # the default route overlaps everything
    for i in range(count):
        index = (start + i) % count
        candidate = IPv4Network((int(pool.network_address) + index * size, prefix))
        if not any(candidate.overlaps(n) for n in used):
            return candidate
    raise NetworkSetupFailed(f"every /{prefix} of network.pool {pool} is already routed on this host")


class AddressPool:
    """Host addresses of ``subnet``: the first is the gateway (the bridge), the rest are leased."""

    def __init__(self, subnet: IPv4Network) -> None:
        if subnet.num_addresses < 4:
            raise ValueError(f"subnet too small: {subnet}")
        self.subnet = subnet
        hosts = subnet.hosts()
        self.gateway: IPv4Address = next(hosts)
        self._free: list[IPv4Address] = list(hosts)
        self._free.reverse()  # pop() hands out the lowest first
        self._leased: set[IPv4Address] = set()

    @property
    def available(self) -> int:
        return len(self._free)

    def lease(self) -> IPv4Address:
        if not self._free:
            raise NetworkSetupFailed(f"no free address left in the default network {self.subnet}")
        address = self._free.pop()
        self._leased.add(address)
        return address

    def release(self, address: IPv4Address) -> None:
        """Give ``address`` back; unknown or already released addresses are ignored."""
        if address in self._leased:
            self._leased.remove(address)
            # Reused last (front of the stack's far end): a just-freed address is not handed to
            # the next environment while stale conntrack entries of the old one may linger.
            self._free.insert(0, address)
