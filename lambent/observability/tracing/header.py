"""The X-Ray trace header (``X-Amzn-Trace-Id``) and X-Ray's identifiers. Pure; no I/O.

Format (https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader):
``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1``, fields separated by
``;`` in any order, keys case-insensitive on input; other fields (``Lineage``, ``Self``, custom
ones) are kept as they came. A trace id is ``1-<8 hex: epoch seconds>-<24 hex random>``; a
segment id 16 hex digits.

Abuse case: the header comes from unauthenticated callers and is handed to the function and
returned. :func:`parse` accepts at most :data:`MAX_HEADER_BYTES`, only printable ASCII without
``\\r``/``\\n`` (no header injection into the Runtime API's response), and a malformed Root is
replaced by a fresh trace (never an error: AWS ignores a bad header).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

__all__ = ["MAX_HEADER_BYTES", "TraceHeader", "new_segment_id", "new_trace_id", "parse", "valid_trace_id"]

#: Longer headers are ignored as a whole (X-Ray's own limit for the header is 256 bytes for the
#: known fields; custom data is bounded by the HTTP head limit, this keeps it small).
MAX_HEADER_BYTES = 1024

_TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}\Z")
_SEGMENT_ID = re.compile(r"[0-9a-f]{16}\Z")
_SAFE = re.compile(r"[\x20-\x7e]*\Z")


#: Trace and segment ids need to be unique, not secret (traces are read per account): the
#: Mersenne Twister is a third of os.urandom's cost on the invoke path.
_bits = random.getrandbits


def new_trace_id(now: float | None = None) -> str:
    seconds = int(time.time() if now is None else now)
    return f"1-{seconds & 0xFFFFFFFF:08x}-{_bits(96):024x}"


def new_segment_id() -> str:
    return f"{_bits(64):016x}"


def new_trace_and_segment_id(now: float | None = None) -> tuple[str, str]:
    """:func:`new_trace_id` and :func:`new_segment_id` from one draw (every untraced invocation)."""
    seconds = int(time.time() if now is None else now)
    bits = f"{_bits(160):040x}"
    return f"1-{seconds & 0xFFFFFFFF:08x}-{bits[:24]}", bits[24:]


def valid_trace_id(value: str) -> bool:
    return bool(_TRACE_ID.match(value))


def valid_segment_id(value: str) -> bool:
    return bool(_SEGMENT_ID.match(value))


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One parsed header. ``sampled``: True (``Sampled=1``), False (``0``) or None (absent or
    ``?``: the receiver decides)."""

    root: str
    parent: str | None = None
    sampled: bool | None = None
    #: other fields, in order, as ``key=value`` texts
    extra: tuple[str, ...] = ()

    def format(self) -> str:
        parts = [f"Root={self.root}"]
        if self.parent:
            parts.append(f"Parent={self.parent}")
        if self.sampled is not None:
            parts.append(f"Sampled={1 if self.sampled else 0}")
        parts.extend(self.extra)
        return ";".join(parts)


def parse(raw: str | None) -> TraceHeader | None:
    """The header's fields, or None if it is absent or unusable (no valid Root)."""
    if not raw or len(raw) > MAX_HEADER_BYTES or not _SAFE.match(raw):
        return None
    root: str | None = None
    parent: str | None = None
    sampled: bool | None = None
    extra: list[str] = []
    for field in raw.split(";"):
        key, sep, value = field.strip().partition("=")
        if not sep:
            continue
        lower = key.strip().lower()
        value = value.strip()
        if lower == "root":
            root = value.lower()
        elif lower == "parent":
            parent = value.lower() if valid_segment_id(value.lower()) else None
        elif lower == "sampled":
            sampled = {"1": True, "0": False}.get(value)
        elif len(extra) < 8:
            extra.append(f"{key.strip()}={value}")
    if root is None or not valid_trace_id(root):
        return None
    return TraceHeader(root, parent, sampled, tuple(extra))


def accepted_trace_header(incoming: str | None, request_id: str, now: float | None = None) -> str:
    """The trace header an asynchronous event is accepted with (and the 202 answer returns): the
    caller's, normalised, or a trace derived from the request id, as
    ``lambent.invoke.async_queue.event_trace_header`` derives it after a restart."""
    parsed = parse(incoming)
    if parsed is not None:
        return parsed.format()
    digits = "".join(c for c in request_id.lower() if c in "0123456789abcdef")
    digits = (digits + "0" * 24)[:24]
    seconds = int(time.time() if now is None else now)
    return f"Root=1-{seconds & 0xFFFFFFFF:08x}-{digits}"
