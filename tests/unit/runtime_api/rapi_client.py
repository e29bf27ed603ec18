"""A raw HTTP/1.1 client for talking to a RuntimeApiEndpoint over loopback, byte by byte."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lambent.runtime_api import RuntimeApiEndpoint

WAIT_S = 5.0
API = "/2018-06-01/runtime"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


class RawClient:
    """One TCP connection speaking HTTP/1.1 by hand, so tests control every byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        await self.send(request_bytes(method, path, body, headers))
        return await self.response()

    async def response(self) -> Response:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await asyncio.wait_for(
            self.reader.readexactly(int(headers.get("content-length", "0"))), WAIT_S
        )
        return Response(status, headers, body)

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), WAIT_S) == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    head = f"{method} {API}{path} HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    if method == "POST" and "Transfer-Encoding" not in (headers or {}):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


@dataclass
class Server:
    endpoint: RuntimeApiEndpoint
    port: int
    clients: list[RawClient]

    async def connect(self) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        client = RawClient(reader, writer)
        self.clients.append(client)
        return client



async def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll a condition that another task will make true soon."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for: {what}")


def within(aw: Awaitable[object]) -> Awaitable[object]:
    return asyncio.wait_for(aw, WAIT_S)
