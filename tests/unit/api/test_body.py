"""api/body.py: bodies are hashed as they arrive, spooled past the threshold, capped, gated."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lambent.api.body import ClientDisconnected, LargeBodyGate, read_body
from lambent.errors import RequestEntityTooLarge, TooManyRequests


def receiver(chunks: list[bytes], disconnect: bool = False) -> Callable[[], Awaitable[dict[str, Any]]]:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1 or disconnect} for i, c in enumerate(chunks)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return messages.pop(0)

    return receive


TOO_BIG = RequestEntityTooLarge("too big")


def test_a_small_body_stays_in_memory_with_its_hash(tmp_path: Path) -> None:
    async def main() -> None:
        body = await read_body(receiver([b"ab", b"cd"]), 100, TOO_BIG, 10, tmp_path, LargeBodyGate(1, 0))
        assert (body.size, body.sha256, body.spooled) == (4, hashlib.sha256(b"abcd").hexdigest(), False)
        assert await body.load() == b"abcd"

    asyncio.run(main())


def test_a_large_body_is_spooled_to_an_unlinked_file(tmp_path: Path) -> None:
    chunks = [bytes([i]) * 1000 for i in range(20)]

    async def main() -> None:
        gate = LargeBodyGate(1, 0.01)
        body = await read_body(receiver(chunks), 100_000, TOO_BIG, 4096, tmp_path / "spool", gate)
        assert body.spooled and body.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
        assert list((tmp_path / "spool").iterdir()) == []  # O_TMPFILE: nothing to leave behind
        with pytest.raises(TooManyRequests):  # the slot is held until close
            await gate.acquire()
        assert await body.load() == b"".join(chunks)
        body.close()
        body.close()  # idempotent
        await gate.acquire()

    asyncio.run(main())


def test_a_body_over_the_cap_is_refused_when_it_crosses_it(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(RequestEntityTooLarge):
            await read_body(receiver([b"x" * 60, b"x" * 60]), 100, TOO_BIG, 10, tmp_path, LargeBodyGate(1, 0))

    asyncio.run(main())


def test_a_client_that_goes_away_mid_body_gives_back_its_slot(tmp_path: Path) -> None:
    async def main() -> None:
        gate = LargeBodyGate(1, 0.01)
        with pytest.raises(ClientDisconnected):
            await read_body(receiver([b"x" * 50, b"x" * 50], disconnect=True), 1000, TOO_BIG, 10, tmp_path, gate)
        await gate.acquire()  # released

    asyncio.run(main())


def test_no_slot_within_the_wait_is_aws_throttle(tmp_path: Path) -> None:
    async def main() -> None:
        gate = LargeBodyGate(1, 0.01)
        await gate.acquire()
        with pytest.raises(TooManyRequests) as exc:
            await read_body(receiver([b"x" * 50]), 1000, TOO_BIG, 10, tmp_path, gate)
        assert (exc.value.message, exc.value.reason) == ("Rate exceeded", "CallerRateLimitExceeded")

    asyncio.run(main())
