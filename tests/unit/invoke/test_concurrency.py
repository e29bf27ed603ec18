from __future__ import annotations

import pytest

from lambent.errors import TooManyRequests
from lambent.arns import FunctionKey, function_key
from lambent.invoke.concurrency import ConcurrencyLimiter


def k(name: str, account: str = "000000000000") -> FunctionKey:
    return function_key(account, name)


def test_reserved_function_is_throttled_at_its_reservation() -> None:
    lim = ConcurrencyLimiter(10, lambda _account: 2)
    a = lim.acquire(k("f"), reserved=2)
    lim.acquire(k("f"), reserved=2)
    with pytest.raises(TooManyRequests) as exc:
        lim.acquire(k("f"), reserved=2)
    assert exc.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lim.release(a)
    lim.acquire(k("f"), reserved=2)


def test_unreserved_pool_is_account_minus_reservations() -> None:
    lim = ConcurrencyLimiter(5, lambda _account: 3)
    lim.acquire(k("a"), None)
    lim.acquire(k("b"), None)
    with pytest.raises(TooManyRequests) as exc:
        lim.acquire(k("c"), None)
    assert exc.value.reason == "ConcurrentInvocationLimitExceeded"


def test_zero_reservation_throttles_everything() -> None:
    lim = ConcurrencyLimiter(5, lambda _account: 0)
    with pytest.raises(TooManyRequests):
        lim.acquire(k("f"), reserved=0)


def test_release_after_reservation_change_keeps_counts_right() -> None:
    lim = ConcurrencyLimiter(3, lambda _account: 0)
    lease = lim.acquire(k("f"), None)  # taken from the unreserved pool
    lim.release(lease)  # even if f gained a reservation meanwhile
    for name in "abc":
        lim.acquire(k(name), None)
    assert lim.running() == 3


async def test_a_lease_gives_its_slot_back_however_the_block_ends() -> None:
    lim = ConcurrencyLimiter(1, lambda _account: 0)
    async with lim.lease(k("f"), None) as lease:
        assert lease.name == k("f") and lim.running(k("f")) == 1
    assert lim.running() == 0
    with pytest.raises(ValueError, match="boom"):
        with lim.lease(k("f"), None):
            raise ValueError("boom")
    assert lim.running() == 0 and lim.can_acquire(k("g"), None)


async def test_entering_a_lease_over_the_limit_throttles_and_takes_nothing() -> None:
    lim = ConcurrencyLimiter(10, lambda _account: 1)
    async with lim.lease(k("f"), 1):
        with pytest.raises(TooManyRequests) as exc:
            async with lim.lease(k("f"), 1):
                pytest.fail("the block must not run")
        assert exc.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert exc.value.message == "Rate Exceeded."
        assert lim.running(k("f")) == 1
    assert lim.running() == 0


def test_each_account_has_its_own_limit_and_reservations() -> None:
    # Given a limit of 2 per account, and account A's reservation of 1
    reserved = {"111111111111": 1}
    lim = ConcurrencyLimiter(2, lambda account: reserved.get(account, 0))
    a, b = "111111111111", "222222222222"
    # When A's unreserved pool (2 - 1) is full
    lim.acquire(k("f", a), None)
    with pytest.raises(TooManyRequests):
        lim.acquire(k("g", a), None)
    # Then B still has its whole limit, for its function of the same name too
    lim.acquire(k("f", b), None)
    lim.acquire(k("g", b), None)
    with pytest.raises(TooManyRequests):
        lim.acquire(k("h", b), None)
    assert lim.running(k("f", a)) == 1 and lim.running(k("f", b)) == 1
    assert lim.snapshot() == {f"{a}:function:f": 1, f"{b}:function:f": 1, f"{b}:function:g": 1}  # A's g was refused
    assert lim.unreserved_running_in(a) == 1 and lim.unreserved_running_in(b) == 2
