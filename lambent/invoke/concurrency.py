"""Concurrency accounting: the account limit, reserved concurrency, and throttling.

A function with reserved concurrency N may run N at once, drawn from its own reservation; every
other function of its account shares what is left of the account limit. Each account has its own
limit (the settings' account concurrency), as on AWS: one account's load never throttles another's.
Functions are named by their key (``ACCOUNT:function:NAME``, lambent.arns.FunctionKey). Over the limit the invoke is throttled
with 429 TooManyRequestsException and AWS's Reason, as documented at
https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from lambent.arns import FunctionKey, key_account
from lambent.errors import TooManyRequests


class Lease:
    """One running invocation's slot; remembers which pool it came from. Also the context manager
    of :meth:`ConcurrencyLimiter.lease`: leaving the block gives the slot back (once).

    A slotted class, not a frozen dataclass: one is made per invocation, and a frozen dataclass's
    ``__init__`` (``object.__setattr__`` per field) costs several times as much."""

    __slots__ = ("name", "unreserved", "_limiter")

    def __init__(self, name: FunctionKey, unreserved: bool, limiter: ConcurrencyLimiter | None = None) -> None:
        self.name = name
        self.unreserved = unreserved
        self._limiter = limiter

    def __repr__(self) -> str:
        return f"Lease(name={self.name!r}, unreserved={self.unreserved})"

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter.release(self)

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


class ConcurrencyLimiter:
    """Counts running invocations. Scope: one per server; event-loop only (no locking needed)."""

    def __init__(self, account_limit: int, total_reserved: Callable[[str], int]) -> None:
        """``total_reserved(account)``: the concurrency the functions of that account reserve."""
        self.account_limit = account_limit
        self._total_reserved = total_reserved
        self._running: dict[FunctionKey, int] = {}
        #: Running invocations without a reservation, per account.
        self._unreserved: dict[str, int] = {}
        self._accounts_seen: set[str] = set()

    def snapshot(self) -> dict[str, int]:
        """Running invocations per function key (a copy: the ConcurrentExecutions sampler's and
        Prometheus's, which file each in its account)."""
        return {key: n for key, n in self._running.items()}

    @property
    def unreserved_running(self) -> int:
        """Over every account (the host's figure)."""
        return sum(self._unreserved.values())

    def unreserved_running_in(self, account_id: str) -> int:
        return self._unreserved.get(account_id, 0)

    def total_reserved(self) -> int:
        """Over every account that has invoked since start (the host's figure, for the sampler)."""
        return sum(self._total_reserved(a) for a in self._accounts_seen)

    def running(self, name: FunctionKey | None = None) -> int:
        return sum(self._running.values()) if name is None else self._running.get(name, 0)

    def can_acquire(self, name: FunctionKey, reserved: int | None) -> bool:
        """Whether :meth:`acquire` would succeed now."""
        if reserved is not None:
            return self._running.get(name, 0) < reserved
        account = key_account(name)
        return self._unreserved.get(account, 0) < self.account_limit - self._total_reserved(account)

    def acquire(self, name: FunctionKey, reserved: int | None) -> Lease:
        """Take one slot for ``name`` or raise TooManyRequests. Pair with :meth:`release`."""
        current = self._running.get(name, 0)
        if reserved is not None:
            if current >= reserved:
                raise TooManyRequests(
                    "Rate Exceeded.", reason="ReservedFunctionConcurrentInvocationLimitExceeded", function=name
                )
            self._accounts_seen.add(key_account(name))
        else:
            account = key_account(name)
            running = self._unreserved.get(account, 0)
            if running >= self.account_limit - self._total_reserved(account):
                raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded", function=name)
            self._unreserved[account] = running + 1
            self._accounts_seen.add(account)
        self._running[name] = current + 1
        return Lease(name, reserved is None)

    def lease(self, name: FunctionKey, reserved: int | None) -> Lease:
        """``with limiter.lease(name, reserved) as lease`` (or ``async with``): one slot for the
        block, given back however it ends. Takes the slot at once (raising TooManyRequests when
        over the limit), so use it only as the expression of a ``with``."""
        lease = self.acquire(name, reserved)
        lease._limiter = self
        return lease

    def release(self, lease: Lease) -> None:
        current = self._running.get(lease.name, 0)
        if current <= 1:
            self._running.pop(lease.name, None)
        else:
            self._running[lease.name] = current - 1
        if lease.unreserved:
            account = key_account(lease.name)
            left = self._unreserved.get(account, 0) - 1
            if left > 0:
                self._unreserved[account] = left
            else:
                self._unreserved.pop(account, None)

