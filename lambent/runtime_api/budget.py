"""The one large request body an environment may have the server buffer at a time.

Everything a runtime sends is buffered in the server process, outside the function's memory
cgroup, so what one environment can make the server hold must be bounded by the server: a
runtime needs to send one large body at a time (its response, or an error, at most the 6 MB
response limit), never two. :class:`LargeBodySlot` is that single place. A connection whose
body grows past the small-body allowance claims it; while another connection holds it, the
connection stops reading (its bytes stay in the kernel's socket buffer, bounded by TCP's
window) and is queued until the holder is done. When the invocation the bodies could answer
ends, every partial large body is dropped (:meth:`LargeBodySlot.drop_all`): a post that started
before its invocation ended is refused on its request line alone (403/400), so its body is
never needed.

Pure bookkeeping, no I/O: connections are driven through the :class:`BodyReader` protocol.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol


class BodyReader(Protocol):
    """What the slot needs of a connection."""

    @property
    def closed(self) -> bool: ...

    def slot_granted(self) -> None:
        """The slot is now this connection's: resume reading its body."""

    def drop_body(self) -> int:
        """Stop keeping the current body (keep counting it); return the bytes released."""


class LargeBodySlot:
    """Scope: one Runtime API endpoint (one environment); lives as long as it does."""

    __slots__ = ("_holder", "_waiters")

    def __init__(self) -> None:
        self._holder: BodyReader | None = None
        self._waiters: deque[BodyReader] = deque()

    @property
    def active(self) -> bool:
        """A connection holds the slot or waits for it."""
        return self._holder is not None or bool(self._waiters)

    @property
    def holder(self) -> BodyReader | None:
        return self._holder

    def claim(self, reader: BodyReader) -> bool:
        """Take the slot if it is free (or already ``reader``'s); else queue ``reader``."""
        holder = self._holder
        if holder is None or holder is reader:
            self._holder = reader
            return True
        if reader not in self._waiters:
            self._waiters.append(reader)
        return False

    def release(self, reader: BodyReader) -> None:
        """``reader`` is done with its body (complete, discarded, or its connection closed)."""
        if self._holder is reader:
            self._holder = None
            while self._waiters:
                nxt = self._waiters.popleft()
                if not nxt.closed:
                    self._holder = nxt
                    nxt.slot_granted()
                    break
        else:
            try:
                self._waiters.remove(reader)
            except ValueError:
                pass

    def drop_all(self) -> int:
        """Drop every partial large body (holder's and waiters'); return the bytes released."""
        readers = ([self._holder] if self._holder is not None else []) + list(self._waiters)
        released = 0
        for reader in readers:
            released += reader.drop_body()  # each calls release(), emptying the slot
        return released
