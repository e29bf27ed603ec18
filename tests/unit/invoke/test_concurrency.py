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
