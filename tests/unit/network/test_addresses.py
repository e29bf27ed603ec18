"""The default network's subnet choice and address pool (pure)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from lambent.network import AddressPool, NetworkSetupFailed, parse_cidrs, pick_subnet

POOL = IPv4Network("198.18.0.0/15")


def test_parse_cidrs_reads_a_comma_separated_list_and_names_a_bad_entry() -> None:
    assert parse_cidrs(" 10.0.0.0/8, 192.168.1.7 ,") == (IPv4Network("10.0.0.0/8"), IPv4Network("192.168.1.7/32"))
    assert parse_cidrs("") == ()
    with pytest.raises(ValueError, match="'nope'"):
        parse_cidrs("10.0.0.0/8,nope")


def test_a_data_dir_always_gets_the_same_subnet_and_others_mostly_differ() -> None:
    first = pick_subnet(POOL, 24, "/srv/a", [])
    assert first == pick_subnet(POOL, 24, "/srv/a", [])
    assert first.prefixlen == 24 and first.subnet_of(POOL)
    assert len({pick_subnet(POOL, 24, f"/srv/{i}", []) for i in range(50)}) > 40


def test_a_routed_subnet_is_skipped_and_the_default_route_ignored() -> None:
    first = pick_subnet(POOL, 24, "/srv/a", [])
    taken = [IPv4Network("0.0.0.0/0"), first]
    second = pick_subnet(POOL, 24, "/srv/a", taken)
    assert second != first and not second.overlaps(first)
    # A wider route covering the whole pool leaves nothing.
    with pytest.raises(NetworkSetupFailed, match="already routed"):
        pick_subnet(POOL, 24, "/srv/a", [IPv4Network("198.16.0.0/13")])


def test_subnet_prefix_wider_than_the_pool_is_refused() -> None:
    with pytest.raises(NetworkSetupFailed, match="larger than"):
        pick_subnet(POOL, 14, "/srv/a", [])


def test_pool_hands_out_each_host_once_and_reuses_freed_ones_last() -> None:
    pool = AddressPool(IPv4Network("198.18.5.0/29"))
    assert pool.gateway == IPv4Address("198.18.5.1")
    got = [pool.lease() for _ in range(5)]
    assert got == [IPv4Address(f"198.18.5.{i}") for i in range(2, 7)]
    assert pool.available == 0
    with pytest.raises(NetworkSetupFailed, match="no free address"):
        pool.lease()
    pool.release(got[0])
    pool.release(got[0])  # twice: harmless
    pool.release(IPv4Address("203.0.113.9"))  # never leased: ignored
    assert pool.available == 1
    assert pool.lease() == got[0]


def test_freed_addresses_queue_behind_never_used_ones() -> None:
    pool = AddressPool(IPv4Network("198.18.5.0/28"))
    first = pool.lease()
    pool.release(first)
    assert pool.lease() != first
