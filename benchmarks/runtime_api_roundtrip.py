"""Round trip through one RuntimeApiEndpoint versus a raw asyncio echo, measured in the same run.

One round trip = ``invoke()`` -> the parked /next is answered -> the runtime POSTs /response ->
``invoke()`` returns (the runtime then parks its next /next). The "runtime" is a tiny blocking
keep-alive client in a separate process, so the server-side figure (CPU time of the server
process divided by round trips) does not include the client's work.

The baselines are the least any asyncio server can do: write a message to a connected client,
wait for its reply in ``data_received``, resolve a future; once (x1), and twice in a row (x2,
the same number of messages as one Runtime API round trip).

Usage: python benchmarks/runtime_api_roundtrip.py [--rounds N] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

from lambent.runtime_api import Invocation, RuntimeApiEndpoint

_RUNTIME_CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
def read_response():
    global buf
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(0)
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    length = 0
    rid = b""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"lambda-runtime-aws-request-id":
            rid = value.strip()
    while len(buf) < length:
        buf += s.recv(65536)
    body, buf = buf[:length], buf[length:]
    return rid, body
NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapi\r\n\r\n"
s.sendall(NEXT)
while True:
    try:
        rid, body = read_response()
    except ConnectionError:
        sys.exit(0)
    s.sendall(b"POST /2018-06-01/runtime/invocation/" + rid + b"/response HTTP/1.1\r\nHost: rapi\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    read_response()
    s.sendall(NEXT)
"""

_ECHO_CLIENT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    data = s.recv(65536)
    if not data:
        break
    s.sendall(data)
"""

PAYLOAD = b'{"hello": "world"}'


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _summary(name: str, latencies_s: list[float], cpu_s: float) -> dict[str, float]:
    lat = sorted(latencies_s)
    p50 = statistics.median(lat) * 1e6
    p99 = lat[int(len(lat) * 0.99) - 1] * 1e6
    cpu = cpu_s / len(lat) * 1e6
    print(f"{name:<28} p50 {p50:8.1f} us   p99 {p99:8.1f} us   server CPU {cpu:7.1f} us/round trip")
    return {"p50": p50, "p99": p99, "cpu": cpu}


async def _bench_endpoint(rounds: int, warmup: int) -> dict[str, float]:
    sock = _listener()
    port = sock.getsockname()[1]
    endpoint = RuntimeApiEndpoint(sock)
    await endpoint.start()
    client = subprocess.Popen([sys.executable, "-c", _RUNTIME_CLIENT, str(port)])
    try:
        await asyncio.wait_for(endpoint.wait_ready(), 10)
        deadline = int(time.time() * 1000) + 60_000
        arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        invocations = [
            Invocation(f"req-{i}", PAYLOAD, deadline, arn) for i in range(rounds + warmup)
        ]
        for inv in invocations[:warmup]:
            await endpoint.invoke(inv)
        latencies = []
        cpu0 = time.process_time()
        for inv in invocations[warmup:]:
            t0 = time.perf_counter()
            await endpoint.invoke(inv)
            latencies.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu0
        return _summary("RuntimeApiEndpoint.invoke", latencies, cpu)
    finally:
        await endpoint.close()
        await asyncio.to_thread(client.wait, 10)


class _Echo(asyncio.Protocol):
    def __init__(self, connected: asyncio.Future[_Echo]) -> None:
        self.connected = connected
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport  # type: ignore[assignment]
        self.connected.set_result(self)

    def data_received(self, data: bytes) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(data)


async def _bench_echo(rounds: int, warmup: int, exchanges: int = 1) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sock = _listener()
    connected: asyncio.Future[_Echo] = loop.create_future()
    server = await loop.create_server(lambda: _Echo(connected), sock=sock)
    client = subprocess.Popen([sys.executable, "-c", _ECHO_CLIENT, str(sock.getsockname()[1])])
    proto: _Echo | None = None
    try:
        proto = await asyncio.wait_for(connected, 10)
        assert proto.transport is not None
        latencies = []
        cpu0 = 0.0
        for i in range(rounds + warmup):
            if i == warmup:
                cpu0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(exchanges):
                proto.waiter = loop.create_future()
                proto.transport.write(PAYLOAD)
                await proto.waiter
            if i >= warmup:
                latencies.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu0
        return _summary(f"raw asyncio echo x{exchanges}", latencies, cpu)
    finally:
        server.close()
        if proto is not None and proto.transport is not None:
            proto.transport.close()
        await server.wait_closed()
        await asyncio.to_thread(client.wait, 10)


async def _main(rounds: int) -> None:
    warmup = max(rounds // 10, 100)
    base = await _bench_echo(rounds, warmup)
    # A round trip is two exchanges with the runtime (/response -> 202, then /next parked and
    # answered), so two echoes are the I/O floor of the same work.
    floor = await _bench_echo(rounds, warmup, exchanges=2)
    ours = await _bench_endpoint(rounds, warmup)
    print(
        f"endpoint / echo x1: p50 x{ours['p50'] / base['p50']:.2f}, "
        f"server CPU x{ours['cpu'] / base['cpu']:.2f}; "
        f"endpoint - echo x2: {ours['cpu'] - floor['cpu']:+.1f} us server CPU per round trip"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--uvloop", action="store_true", help="run the server on uvloop")
    args = parser.parse_args()
    print(f"{args.rounds} round trips, loop: {'uvloop' if args.uvloop else 'asyncio'}")
    if args.uvloop:
        import uvloop

        uvloop.run(_main(args.rounds))
    else:
        asyncio.run(_main(args.rounds))


if __name__ == "__main__":
    main()
