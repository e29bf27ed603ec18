"""The Python runtime client moves a 6 MB event or response with one copy, not many.

A 128 MB function runs at 128/1769 of a vCPU: every superfluous pass over 6 MB (and every fresh
page it touches) costs it tens of milliseconds of wall time, and the old client's ``buf += chunk``
reading made a 6 MB event time out at 3 s. These tests drive ``_RuntimeApiClient`` over a fake
socket and bound the memory it allocates (tracemalloc's peak) to about one body.
"""

from __future__ import annotations

import importlib.util
import tracemalloc
from types import ModuleType
from typing import Any

from runtime_harness import PYTHON_BOOTSTRAP

SIX_MB = 6 * 1024 * 1024


def load_bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lambent_python_bootstrap_under_test", PYTHON_BOOTSTRAP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeSocket:
    """Serves ``incoming`` in reads of at most 64 KB (as a loopback socket does) and records sends."""

    def __init__(self, incoming: bytes) -> None:
        self._incoming = memoryview(incoming)
        self._pos = 0
        self.sent: list[bytes] = []

    def recv(self, n: int) -> bytes:
        n = min(n, 65536)
        chunk = bytes(self._incoming[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk

    def recv_into(self, buf: Any) -> int:
        n = min(len(buf), 65536, len(self._incoming) - self._pos)
        buf[:n] = self._incoming[self._pos : self._pos + n]
        self._pos += n
        return n

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self) -> None:
        pass


def client_with(module: ModuleType, incoming: bytes) -> tuple[Any, FakeSocket]:
    client = module._RuntimeApiClient("127.0.0.1:9001")
    sock = FakeSocket(incoming)
    client._sock = sock
    return client, sock


def test_a_6_mb_event_is_read_into_one_buffer() -> None:
    # Given a /next answer carrying a 6 MB body, arriving in 64 KB reads
    module = load_bootstrap()
    body = b'{"body": "' + b"x" * (SIX_MB - 12) + b'"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    client, _ = client_with(module, head + body)
    # When the client reads it
    tracemalloc.start()
    try:
        status, headers, got = client.receive()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the body is intact, and at most one body's worth (plus a read) was ever allocated
    assert status == 200 and headers["content-length"] == str(len(body))
    assert got == body
    assert peak < len(body) + 512 * 1024, f"peak {peak} bytes for a {len(body)}-byte body"


def test_a_6_mb_response_is_sent_without_copying_it() -> None:
    # Given a 6 MB response body
    module = load_bootstrap()
    body = b"y" * SIX_MB
    client, sock = client_with(module, b"")
    # When the client posts it
    tracemalloc.start()
    try:
        client.send("POST", "invocation/abc/response", body, {"Content-Type": "application/json"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the head and the body went out, and the body was not copied behind the head
    assert b"".join(sock.sent) == (
        b"POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % SIX_MB
    ) + body
    assert sock.sent[-1] is body
    assert peak < 64 * 1024, f"peak {peak} bytes to send a {SIX_MB}-byte body"


def test_a_small_request_is_still_one_segment() -> None:
    # Given a small body: with TCP_NODELAY, head and body in one write are one segment
    module = load_bootstrap()
    client, sock = client_with(module, b"")
    client.send("POST", "invocation/abc/response", b'{"ok":1}')
    assert len(sock.sent) == 1 and sock.sent[0].endswith(b'\r\n\r\n{"ok":1}')
