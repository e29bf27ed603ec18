"""A hostile function on the default network: it cannot reconfigure its interface, open raw or
packet sockets (no spoofing), nor flood the server's DNS forwarder past its bounds, and while it
floods another function still resolves."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "network"))

import pytest  # noqa: E402
from harness import Server, create_function, invoke_json, require_prerequisites  # noqa: E402
from hosts import PUBLIC, dns_responder, network_env, sweep_server_network  # noqa: E402

HOSTILE = r'''
import socket, subprocess, time

def handler(event, context):
    out = {}
    if event.get("flood"):
        with open("/etc/resolv.conf") as f:
            gateway = f.read().split()[1]
        # From many source ports at once (each a flow of its own), as fast as it can.
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(32)]
        for s in socks:
            s.setblocking(False)
        q = bytes.fromhex("abcd01000001000000000000") + b"\x06public\x04test\x00\x00\x01\x00\x01"
        sent = 0
        end = time.monotonic() + event["flood"]
        while time.monotonic() < end:
            for s in socks:
                try:
                    s.sendto(q, (gateway, 53))
                    sent += 1
                except OSError:
                    pass
        out["sent"] = sent
        return out
    if event.get("lookups"):
        times = []
        for _ in range(event["lookups"]):
            t0 = time.monotonic()
            try:
                socket.gethostbyname("public.test")
                times.append(time.monotonic() - t0)
            except OSError as exc:
                times.append("error:" + type(exc).__name__)
            time.sleep(0.05)
        out["times"] = times
        return out
    for name, argv in (("addr", ["ip", "addr", "add", "198.18.0.77/24", "dev", "eth0"]),
                       ("route", ["ip", "route", "replace", "default", "dev", "eth0"]),
                       ("down", ["ip", "link", "set", "eth0", "down"])):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            out[name] = "rc=%d %s" % (done.returncode, done.stderr.strip())
        except OSError as exc:
            out[name] = "error:" + type(exc).__name__
    for name, args in (("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)),
                       ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0))):
        try:
            socket.socket(*args).close()
            out[name] = "opened"
        except OSError as exc:
            out[name] = "error:" + type(exc).__name__
    try:
        out["resolve"] = socket.gethostbyname("public.test")
    except OSError as exc:
        out["resolve"] = "error:" + type(exc).__name__
    return out
'''


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[str, int, list[str]]]:
    with dns_responder({"public.test": PUBLIC}) as d:
        yield d


@pytest.fixture(scope="module")
def net_server(tmp_path_factory: pytest.TempPathFactory, dns: tuple[str, int, list[str]]) -> Iterator[Server]:
    require_prerequisites()
    srv = Server(tmp_path_factory.mktemp("nethostile") / "data",
                 env_extra=network_env(dns[:2], LAMBENT_NETWORK_DNS_RATE_PER_S="20")).start()
    try:
        yield srv
    finally:
        srv.stop()
        srv.cleanup()
        sweep_server_network(srv.data_dir)


def test_a_function_cannot_reconfigure_its_interface_or_open_raw_sockets(net_server: Server) -> None:
    lam: Any = net_server.client()
    name = create_function(lam, {"app.py": HOSTILE}, Timeout=30)
    _, out = invoke_json(lam, name, {})
    assert out["resolve"] == PUBLIC  # control: its network works
    for step in ("addr", "route", "down"):
        assert out[step].startswith(("rc=2", "rc=1", "rc=255", "error:")) and "rc=0" not in out[step], out
    assert out["raw"] == "error:PermissionError" and out["packet"] == "error:PermissionError", out
    # Still the address lambent gave it: it kept working after the attempts.
    assert invoke_json(lam, name, {})[1]["resolve"] == PUBLIC


def test_a_dns_flood_is_bounded_and_others_still_resolve(net_server: Server,
                                                         dns: tuple[str, int, list[str]]) -> None:
    lam: Any = net_server.client()
    flooder = create_function(lam, {"app.py": HOSTILE}, Timeout=30, MemorySize=1769)  # a whole CPU to flood with
    other = create_function(lam, {"app.py": HOSTILE}, Timeout=30)
    _, normal = invoke_json(lam, other, {"lookups": 3})  # warm, before the flood: its normal time
    assert all(isinstance(t, float) for t in normal["times"]), normal
    before = len(dns[2])
    flooding: dict[str, Any] = {}

    def flood() -> None:
        flooding["out"] = invoke_json(net_server.client(), flooder, {"flood": 4.0})[1]

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        time.sleep(1.5)  # the flood is on (cold start included)
        _, during = invoke_json(lam, other, {"lookups": 10})
    finally:
        thread.join(60)
    relayed = len(dns[2]) - before
    out = flooding["out"]
    assert out["sent"] > 10_000, out
    # Every lookup during the flood answered, each well within the resolver's 2 s retry timeout
    # (a lost query or answer costs at least that): the flood denied it nothing.
    assert all(isinstance(t, float) and t < 1.0 for t in during["times"]), (during, normal)
    # The other's 10, and the flooder's 20 a second plus a burst of 20 (over ~4 s, and its cold
    # start's): far below what it sent.
    assert relayed <= 10 + 20 + 20 * 6, (relayed, out["sent"])
    # And after the flood too.
    _, after = invoke_json(lam, other, {"lookups": 3})
    assert all(isinstance(t, float) and t < 1.0 for t in after["times"]), after
