"""A hostile function against the server through its own Runtime API (issue 8, breaks 4 and 5),
and the 6 MB event a default 128 MB / 3 s function must be able to take (as on Lambda).

The Runtime API endpoint of each environment lives in the server process, outside the
function's cgroup: whatever a function makes it hold — descriptors, buffered bytes — is the
server's. These tests measure the server process itself (/proc/<pid>/fd, VmRSS)."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness import Server, create_function, invoke_json

MB = 1024 * 1024

# Tries `attempts` connections to its Runtime API within `seconds` (non-blocking connects, so a
# full listen queue does not slow it down), keeps them (closing the oldest when out of
# descriptors), holds them `hold` seconds, then lets them go.
FLOOD_CONNECTIONS = """
import errno, os, socket, time, resource
def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    address = (host, int(port))
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    socks, attempts = [], 0
    deadline = time.monotonic() + event["seconds"]
    while attempts < event["attempts"] and time.monotonic() < deadline:
        try:
            s = socket.socket()
        except OSError:  # out of descriptors: let the oldest go
            for old in socks[:100]:
                old.close()
            del socks[:100]
            continue
        s.setblocking(False)
        attempts += 1
        if s.connect_ex(address) in (0, errno.EINPROGRESS):
            socks.append(s)
        else:
            s.close()
    time.sleep(event["hold"])
    for s in socks:
        s.close()
    return {"attempts": attempts}
"""

# Starts `count` 6 MB /response posts for its own invocation on as many connections, sending all
# but the last byte of each (as far as the server reads), and keeps the connections open for
# ever (a module global), so only the server can let go of what it buffered.
HALF_SENT_RESPONSES = """
import os, socket, time
HELD = []
def handler(event, context):
    if event.get("answer_mb"):  # a legitimate large answer first
        return "x" * (event["answer_mb"] * 1024 * 1024)
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    limit = 6 * 1024 * 1024 + 100
    head = ("POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\\r\\nHost: %s\\r\\n"
            "Content-Length: %d\\r\\n\\r\\n" % (context.aws_request_id, host, limit)).encode()
    body = memoryview(b"x" * (limit - 1))
    opened, sent_total = 0, 0
    deadline = time.monotonic() + event["seconds"]
    for _ in range(event["count"]):
        if time.monotonic() > deadline:
            break
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect((host, int(port)))
            s.sendall(head)
            sent = 0
            while sent < len(body):
                sent += s.send(body[sent:sent + 262144])
        except OSError:  # timeout: the server reads no more of it; reset: refused
            pass
        else:
            sent_total += sent
        opened += 1
        HELD.append(s)
    time.sleep(event["hold"])
    return {"opened": opened, "sent": sent_total}
"""

# Sends its Runtime API a request whose one header never ends: up to `mb` MB of it, 1 MB at a
# time, and reports how far it got before the server closed the connection.
ENDLESS_HEADER = """
import os, socket
def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nX-Endless: ")
    chunk, sent, closed = b"a" * (1024 * 1024), 0, False
    for _ in range(event["mb"]):
        try:
            s.sendall(chunk)
        except OSError:
            closed = True
            break
        sent += 1
    reply = b""
    if not closed:
        try:
            reply = s.recv(4096)
        except OSError:
            pass
    s.close()
    return {"sent_mb": sent, "closed": closed, "reply": reply[:40].decode("latin-1")}
"""

SIX_MB_HANDLERS = """
def length(event, context):
    return {"length": len(event["body"]), "isBase64Encoded": event["isBase64Encoded"]}

def echo(event, context):
    return event["body"]
"""


def server_pid(server: Server) -> int:
    assert server.proc is not None
    return server.proc.pid


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def health(server: Server) -> int:
    with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
        return int(r.status)


class Sampler:
    """Samples a value of the server process every `interval_s` in a thread, keeping the max."""

    def __init__(self, probe: Any, interval_s: float = 0.05) -> None:
        self.probe, self.interval_s = probe, interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.probe())
            except OSError:
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def six_mb_event() -> bytes:
    # An API Gateway-style event carrying a 4.4 MB upload (base64): 5.9 MB of JSON.
    event = {
        "resource": "/upload", "path": "/upload", "httpMethod": "POST",
        "headers": {"content-type": "application/octet-stream"}, "isBase64Encoded": True,
        "body": base64.b64encode(os.urandom(4_400_000)).decode(),
    }
    payload = json.dumps(event).encode()
    assert 5.5 * MB < len(payload) < 6_291_456
    return payload


def test_connection_flood_from_four_environments_costs_the_server_few_descriptors(lam: Any, server: Server) -> None:
    # Given a function that floods its Runtime API with connections, and an innocent one
    flood = create_function(lam, {"app.py": FLOOD_CONNECTIONS}, Timeout=60, MemorySize=256)
    other = create_function(lam, {"app.py": "def handler(e, c):\n    return {'ok': e}\n"})
    assert invoke_json(lam, other, 1)[1] == {"ok": 1}
    pid = server_pid(server)
    before = fd_count(pid)
    # When 4 environments of it each try 3,000 connections at once and hold what they got
    event = {"attempts": 3000, "seconds": 8, "hold": 3}
    with Sampler(lambda: fd_count(pid)) as fds, ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(invoke_json, lam, flood, event) for _ in range(4)]
        time.sleep(4)
        # Then, meanwhile, other functions still run and the API answers
        assert invoke_json(lam, other, 2)[1] == {"ok": 2}
        assert health(server) == 200
        results = [r.result(timeout=90) for r in runs]
    for resp, body in results:
        assert "FunctionError" not in resp, body
        assert body["attempts"] == 3000, body  # the flood did happen
    # and the server grew by a few descriptors per environment (cap 16, backlog 8), not thousands
    grown = fds.peak - before
    assert grown < 400, f"server descriptors grew by {grown} (from {before})"
    # and the flooding function itself still works afterwards
    resp, body = invoke_json(lam, flood, {"attempts": 0, "seconds": 1, "hold": 0})
    assert "FunctionError" not in resp and body == {"attempts": 0}
    assert invoke_json(lam, other, 3)[1] == {"ok": 3}


def test_half_sent_6_mb_responses_do_not_grow_the_server(lam: Any, server: Server) -> None:
    # Given a 128 MB function that half-sends 150 responses of 6 MB and keeps the connections,
    # after a legitimate 5 MB answer (which raises glibc's mmap threshold: later reads come
    # from the heap, whose freed pages glibc keeps unless trimmed)
    name = create_function(lam, {"app.py": HALF_SENT_RESPONSES}, Timeout=30, MemorySize=128)
    resp, body = invoke_json(lam, name, {"answer_mb": 5})
    assert "FunctionError" not in resp and len(body) == 5 * MB
    pid = server_pid(server)
    time.sleep(0.5)
    before = rss_bytes(pid)
    # When it runs
    with Sampler(lambda: rss_bytes(pid)) as rss:
        resp, body = invoke_json(lam, name, {"count": 150, "seconds": 12, "hold": 1})
    ended = time.monotonic()
    assert "FunctionError" not in resp, body
    assert body["opened"] >= 16, body
    # Then the server grew by well under the function's own 128 MB
    grown = rss.peak - before
    assert grown < 64 * MB, f"server RSS grew by {grown / MB:.0f} MB"
    # and within 30 s of the invocation's end it is back (the connections are still open)
    while True:
        back = rss_bytes(pid) - before
        if back < 4 * MB or time.monotonic() - ended > 30:
            break
        time.sleep(0.5)
    assert back < 4 * MB, f"server RSS still {back / MB:.1f} MB above where it was"
    # and the function's environment goes on serving
    resp, body = invoke_json(lam, name, {"count": 0, "seconds": 1, "hold": 0})
    assert "FunctionError" not in resp and body == {"opened": 0, "sent": 0}


def test_a_header_that_never_ends_is_cut_off(lam: Any, server: Server) -> None:
    # Given a function that sends its Runtime API a header of up to 48 MB that never ends
    name = create_function(lam, {"app.py": ENDLESS_HEADER}, Timeout=30, MemorySize=256)
    pid = server_pid(server)
    before = rss_bytes(pid)
    # When it runs
    with Sampler(lambda: rss_bytes(pid)) as rss:
        resp, body = invoke_json(lam, name, {"mb": 48})
    # Then the server answered 431 and closed the connection after its 64 KiB head limit
    # (the function gets at most the socket buffers' worth further), holding next to nothing
    assert "FunctionError" not in resp, body
    assert body["sent_mb"] < 16, body
    assert body["closed"] or body["reply"].startswith("HTTP/1.1 431"), body
    grown = rss.peak - before
    assert grown < 16 * MB, f"server RSS grew by {grown / MB:.0f} MB"


def test_a_6_mb_event_reaches_a_default_128_mb_python_function(lam: Any) -> None:
    # Given a Python function with the defaults (128 MB, 3 s) and a 5.9 MB event
    name = create_function(lam, {"app.py": SIX_MB_HANDLERS}, handler="app.length")
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["MemorySize"], cfg["Timeout"]) == (128, 3)
    payload = six_mb_event()
    length = len(json.loads(payload)["body"])
    # When it is invoked with it, cold and then warm
    for _ in range(2):
        resp = lam.invoke(FunctionName=name, Payload=payload)
        body = json.loads(resp["Payload"].read())
        # Then it is delivered and answered, well inside the 3 s
        assert "FunctionError" not in resp, body
        assert body == {"length": length, "isBase64Encoded": True}


def test_a_6_mb_response_from_a_default_128_mb_python_function(lam: Any) -> None:
    # Given a default Python function that answers with the 5.9 MB body it was sent
    name = create_function(lam, {"app.py": SIX_MB_HANDLERS}, handler="app.echo")
    payload = six_mb_event()
    expected = json.loads(payload)["body"]
    for _ in range(2):
        # When it is invoked
        resp = lam.invoke(FunctionName=name, Payload=payload)
        raw = resp["Payload"].read()
        # Then the ~6 MB response arrives whole
        assert "FunctionError" not in resp, raw[:300]
        assert json.loads(raw) == expected


def test_a_6_mb_event_reaches_a_default_128_mb_nodejs_function(lam: Any) -> None:
    name = create_function(
        lam,
        {"app.mjs": "export const handler = async (e) => ({length: e.body.length});\n"},
        runtime="nodejs20.x",
    )
    payload = six_mb_event()
    length = len(json.loads(payload)["body"])
    for _ in range(2):
        resp = lam.invoke(FunctionName=name, Payload=payload)
        body = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, body
        assert body == {"length": length}


# Opens `n` connections to its Runtime API and reports how many the server kept open: a connection
# the server closed at accept reads EOF at once; a kept one has nothing to read (timeout).
COUNT_KEPT = """
import os, socket
def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    socks = [socket.create_connection((host, int(port)), timeout=2) for _ in range(event["n"])]
    kept = 0
    for s in socks:
        s.settimeout(0.3)
        try:
            kept += s.recv(1) != b""
        except socket.timeout:
            kept += 1
    for s in socks:
        s.close()
    return {"kept": kept}
"""


def test_the_connection_cap_is_the_runtime_api_setting(fresh_server: Any) -> None:
    # Given a server whose environments may hold 4 Runtime API connections
    # (the runtime client holds 1 of them while the handler runs)
    srv = fresh_server(LAMBENT_RUNTIME_API_MAX_CONNECTIONS="4")
    lam = srv.client()
    name = create_function(lam, {"app.py": COUNT_KEPT}, Timeout=30)
    # When the function opens 10 more
    resp, body = invoke_json(lam, name, {"n": 10})
    # Then the server kept 3 of them and closed the rest at accept
    assert "FunctionError" not in resp, body
    assert body == {"kept": 3}
