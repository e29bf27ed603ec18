from __future__ import annotations

import pytest

from lambent.errors import TooManyRequests
from lambent.invoke.concurrency import ConcurrencyLimiter


def test_reserved_function_is_throttled_at_its_reservation() -> None:
    lim = ConcurrencyLimiter(10, lambda: 2)
    a = lim.acquire("f", reserved=2)
    lim.acquire("f", reserved=2)
    with pytest.raises(TooManyRequests) as exc:
        lim.acquire("f", reserved=2)
    assert exc.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lim.release(a)
    lim.acquire("f", reserved=2)


def test_unreserved_pool_is_account_minus_reservations() -> None:
    lim = ConcurrencyLimiter(5, lambda: 3)
    lim.acquire("a", None)
    lim.acquire("b", None)
    with pytest.raises(TooManyRequests) as exc:
        lim.acquire("c", None)
    assert exc.value.reason == "ConcurrentInvocationLimitExceeded"


def test_zero_reservation_throttles_everything() -> None:
    lim = ConcurrencyLimiter(5, lambda: 0)
    with pytest.raises(TooManyRequests):
        lim.acquire("f", reserved=0)


def test_release_after_reservation_change_keeps_counts_right() -> None:
    lim = ConcurrencyLimiter(3, lambda: 0)
    lease = lim.acquire("f", None)  # taken from the unreserved pool
    lim.release(lease)  # even if f gained a reservation meanwhile
    for name in "abc":
        lim.acquire(name, None)
    assert lim.running() == 3


async def test_a_lease_gives_its_slot_back_however_the_block_ends() -> None:
    lim = ConcurrencyLimiter(1, lambda: 0)
    async with lim.lease("f", None) as lease:
        assert lease.name == "f" and lim.running("f") == 1
    assert lim.running() == 0
    with pytest.raises(ValueError, match="boom"):
        with lim.lease("f", None):
            raise ValueError("boom")
    assert lim.running() == 0 and lim.can_acquire("g", None)


async def test_entering_a_lease_over_the_limit_throttles_and_takes_nothing() -> None:
    lim = ConcurrencyLimiter(10, lambda: 1)
    async with lim.lease("f", 1):
        with pytest.raises(TooManyRequests) as exc:
            async with lim.lease("f", 1):
                pytest.fail("the block must not run")
        assert exc.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert exc.value.message == "Rate Exceeded."
        assert lim.running("f") == 1
    assert lim.running() == 0
