"""The default network end to end: a real server (network on), real sandboxes, real packets
between namespaces of this machine. A function reaches a public host by address and by name
(lambent's DNS forwarder), and lambent's API; it reaches neither the host's own services, nor
link-local, nor a denied private range, nor another sandbox; nothing connects into it."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from typing import Any

from hosts import PRIVATE, PUBLIC, NsHost, namespace_host, sh
from harness import Server, create_function, invoke_json
from probe import PROBE

from lambent.network import names_for


def _probe(lam: Any, **kwargs: Any) -> str:
    return create_function(lam, {"app.py": PROBE}, Timeout=30, **kwargs)


def _run(lam: Any, name: str, *steps: dict[str, Any]) -> list[str]:
    _, out = invoke_json(lam, name, {"steps": list(steps)})
    assert all(str(i) in out for i in range(len(steps))), out
    return [out[str(i)] for i in range(len(steps))]


def _host_address() -> str:
    """An address of this host that is not lambent's or a test host's (its main interface)."""
    for line in sh("ip", "-4", "-o", "addr", "show", "scope", "global").splitlines():
        dev, addr = line.split()[1], line.split()[3].split("/")[0]
        if not dev.startswith("lmb"):
            return addr
    raise AssertionError("no global IPv4 address on this host")


def _gateway(server: Server) -> str:
    prefix, _ = names_for(server.data_dir)
    line = sh("ip", "-4", "-o", "addr", "show", "dev", prefix)
    return line.split()[3].split("/")[0]


def test_a_function_reaches_the_public_host_by_address_and_by_name(net_server: Server, net_lam: Any,
                                                                   public: NsHost, dns: Any) -> None:
    name = _probe(net_lam)
    by_ip, resolved, by_name, resolv = _run(
        net_lam, name,
        {"do": "connect", "host": PUBLIC, "port": public.port},
        {"do": "resolve", "name": "public.test"},
        {"do": "connect", "host": "public.test", "port": public.port},
        {"do": "resolv.conf"},
    )
    assert by_ip == f"ok:{public.body.decode()}"
    assert resolved == f"ok:{PUBLIC}"
    assert by_name == f"ok:{public.body.decode()}"
    assert resolv.splitlines()[0] == f"nameserver {_gateway(net_server)}"
    # The queries reached the test's resolver through lambent's forwarder on the host.
    assert dns[2] and set(dns[2]) == {"127.0.0.1"}


def test_boto3_inside_still_reaches_lambent(net_lam: Any) -> None:
    name = _probe(net_lam)
    (identity,) = _run(net_lam, name, {"do": "boto3"})
    # Its role's session, served by lambent at AWS_ENDPOINT_URL (127.0.0.1:9002, unchanged).
    assert identity.startswith("ok:arn:aws:sts::") and f"/{name}" in identity, identity


def test_denied_destinations_are_unreachable(net_server: Server, net_lam: Any, public: NsHost,
                                             private: NsHost, host_service: int) -> None:
    # Controls: each target answers when asked from the host itself.
    for host, port in (("127.0.0.1", host_service), (_host_address(), host_service), (PRIVATE, private.port)):
        with socket.create_connection((host, port), timeout=2):
            pass
    name = _probe(net_lam)
    results = _run(
        net_lam, name,
        {"do": "connect", "host": _gateway(net_server), "port": host_service},
        {"do": "connect", "host": _host_address(), "port": host_service},
        {"do": "connect", "host": public.host_side, "port": host_service},
        {"do": "connect", "host": "127.0.0.1", "port": host_service},
        {"do": "connect", "host": "169.254.169.254", "port": 80},
        {"do": "connect", "host": PRIVATE, "port": private.port},
        {"do": "connect", "host": PUBLIC, "port": public.port},
    )
    assert [r.startswith("error:") for r in results[:-1]] == [True] * 6, results
    assert results[-1] == f"ok:{public.body.decode()}"  # the same invocation could reach out


def test_sandboxes_are_apart_and_nothing_connects_in(net_server: Server, net_lam: Any, public: NsHost) -> None:
    listener, other = _probe(net_lam), _probe(net_lam)
    served, address = _run(net_lam, listener, {"do": "listen", "port": 7070}, {"do": "address"})
    assert served == "ok" and address.startswith("ok:")
    sandbox_ip = address[3:]
    assert ipaddress.IPv4Address(sandbox_ip)
    # Control: the listener serves (from inside its own sandbox).
    assert _run(net_lam, listener, {"do": "connect", "host": sandbox_ip, "port": 7070}) == ["ok:sandbox"]
    # Another sandbox cannot reach it.
    assert _run(net_lam, other, {"do": "connect", "host": sandbox_ip, "port": 7070})[0].startswith("error:")
    # Nor can the host.
    try:
        socket.create_connection((sandbox_ip, 7070), timeout=1.5).close()
        reached = True
    except OSError:
        reached = False
    assert not reached
    # Nor the public host, whose traffic the host routes.
    probe = (f"import socket\ntry:\n socket.create_connection(('{sandbox_ip}', 7070), timeout=1.5); print('reached')\n"
             "except OSError as e:\n print('refused', type(e).__name__)")
    done = subprocess.run(["ip", "netns", "exec", public.netns, sys.executable, "-c", probe],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("refused"), done.stdout


def test_operators_allow_and_deny_ranges_in_settings(net_fresh: Any, public: NsHost, private: NsHost) -> None:
    # Deny the public test range, allow one private /24 although 10.0.0.0/8 stays denied, and
    # try to allow link-local: a host at 169.254.77.1 (routed by this host) stays unreachable.
    with namespace_host("169.254.77.1", "169.254.77.254") as link_local:
        with socket.create_connection((link_local.address, link_local.port), timeout=2):
            pass  # control: the host reaches it
        srv = net_fresh(LAMBENT_NETWORK_DENY=f"10.0.0.0/8,{PUBLIC}/32",
                        LAMBENT_NETWORK_ALLOW="10.213.7.0/24,169.254.0.0/16")
        lam = srv.client()
        name = _probe(lam)
        to_private, to_public, to_link_local = _run(
            lam, name,
            {"do": "connect", "host": PRIVATE, "port": private.port},
            {"do": "connect", "host": PUBLIC, "port": public.port},
            {"do": "connect", "host": link_local.address, "port": link_local.port},
        )
    assert to_private == f"ok:{private.body.decode()}"
    assert to_public.startswith("error:") and to_link_local.startswith("error:")
