"""Concurrency accounting: the account limit, reserved concurrency, and throttling.

A function with reserved concurrency N may run N at once, drawn from its own reservation; every
other function shares what is left of the account limit. Over the limit the invoke is throttled
with 429 TooManyRequestsException and AWS's Reason, as documented at
https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from lambent.errors import TooManyRequests


@dataclass(frozen=True)
class Lease:
    """One running invocation's slot; remembers which pool it came from."""

    name: str
    unreserved: bool


class ConcurrencyLimiter:
    """Counts running invocations. Scope: one per server; event-loop only (no locking needed)."""

    def __init__(self, account_limit: int, total_reserved: Callable[[], int]) -> None:
        self.account_limit = account_limit
        self._total_reserved = total_reserved
        self._running: dict[str, int] = {}
        self._unreserved_running = 0

    def running(self, name: str | None = None) -> int:
        return sum(self._running.values()) if name is None else self._running.get(name, 0)

    def can_acquire(self, name: str, reserved: int | None) -> bool:
        """Whether :meth:`acquire` would succeed now."""
        if reserved is not None:
            return self._running.get(name, 0) < reserved
        return self._unreserved_running < self.account_limit - self._total_reserved()

    def acquire(self, name: str, reserved: int | None) -> Lease:
        """Take one slot for ``name`` or raise TooManyRequests. Pair with :meth:`release`."""
        current = self._running.get(name, 0)
        if reserved is not None:
            if current >= reserved:
                raise TooManyRequests(
                    "Rate Exceeded.", reason="ReservedFunctionConcurrentInvocationLimitExceeded", function=name
                )
        else:
            unreserved_limit = self.account_limit - self._total_reserved()
            if self._unreserved_running >= unreserved_limit:
                raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded", function=name)
            self._unreserved_running += 1
        self._running[name] = current + 1
        return Lease(name, reserved is None)

    def lease(self, name: str, reserved: int | None) -> LeaseScope:
        """``with limiter.lease(name, reserved) as lease`` (or ``async with``): one slot for the
        block, given back however it ends; entering raises TooManyRequests when over the limit."""
        return LeaseScope(self, name, reserved)

    def release(self, lease: Lease) -> None:
        current = self._running.get(lease.name, 0)
        if current <= 1:
            self._running.pop(lease.name, None)
        else:
            self._running[lease.name] = current - 1
        if lease.unreserved and self._unreserved_running > 0:
            self._unreserved_running -= 1


class LeaseScope:
    """One invocation's hold on a concurrency slot, from entering the block to leaving it.
    A plain class (not @contextmanager): it runs for every invoke."""

    __slots__ = ("_limiter", "_name", "_reserved", "_lease")

    def __init__(self, limiter: ConcurrencyLimiter, name: str, reserved: int | None) -> None:
        self._limiter = limiter
        self._name = name
        self._reserved = reserved
        self._lease: Lease | None = None

    def __enter__(self) -> Lease:
        lease = self._lease = self._limiter.acquire(self._name, self._reserved)
        return lease

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            self._limiter.release(lease)

    async def __aenter__(self) -> Lease:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)
