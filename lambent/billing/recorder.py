"""The invoke path's hook: one usage record per invocation, handed to the store without waiting.

``UsageRecorder.observe`` is an :class:`~lambent.invoke.service.InvokeService` observer: it runs
after every invocation, synchronous and asynchronous alike (the async dispatcher invokes through
the same service), on the event loop — so it only builds a record and offers it to the store's
bounded queue (:meth:`~lambent.store.usage.UsageStore.offer`); it never raises into the invoke path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from lambent.billing.rounding import billed_duration_ms
from lambent.control.model import FunctionConfig
from lambent.store.usage import UsageRecord, UsageStore

log = logging.getLogger(__name__)

_new_record = tuple.__new__


class Outcome(Protocol):
    """What the recorder reads of :class:`lambent.worker.environment.InvokeOutcome` (a protocol,
    so that the worker may import :mod:`lambent.billing.rounding` for its REPORT line without a
    cycle)."""

    @property
    def duration_ms(self) -> float: ...

    @property
    def init_duration_ms(self) -> float | None: ...


class UsageRecorder:
    """Scope: one per server, around its :class:`UsageStore`."""

    def __init__(self, store: UsageStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    def record_of(self, config: FunctionConfig, outcome: Outcome, request_id: str) -> UsageRecord:
        duration, init = outcome.duration_ms, outcome.init_duration_ms
        arch = config.architectures
        # Built as the tuple it is (the named tuple's keyword constructor costs twice as much);
        # the billed duration is the REPORT line's, from the same function and the same floats.
        return _new_record(UsageRecord, (
            request_id, config.name, config.version, self._clock(), duration, init, billed_duration_ms(duration, init),
            config.memory_mb, config.ephemeral_storage_mb, arch[0] if arch else "x86_64", 1, config.account_id,
        ))

    def observe(self, config: FunctionConfig, outcome: Outcome, request_id: str = "") -> None:
        """Record one invocation (best effort: a record that cannot be queued is counted as dropped)."""
        try:
            self.store.offer(self.record_of(config, outcome, request_id))
        except Exception:  # noqa: BLE001 - usage must never fail an invocation
            log.exception("usage record of %s:%s not made", config.name, config.version)
