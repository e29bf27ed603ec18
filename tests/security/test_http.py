"""The HTTP front door under attack by clients without the secret (issue 8, breaks 2, 3, 6 and 9).

Each test sends what an adversary sent — raw bytes over loopback, from several 127.0.0.x source
addresses where a per-address bound is in play — and asserts the exact refusal. Given a real
server, when the attack runs, then the server answers AWS's error (or closes the connection in
time) and keeps serving /health and signed calls.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import ACCESS_KEY, SECRET_KEY, Server, create_function, require_prerequisites

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVOKE = "/2015-03-31/functions/{}/invocations"
#: The tuned server's bounds (short, so that the tests stay short).
TUNED = {
    "LAMBENT_HTTP_HEAD_TIMEOUT_S": "4",
    "LAMBENT_HTTP_BODY_GRACE_S": "1",
    "LAMBENT_HTTP_BODY_MIN_RATE_BYTES_PER_S": "65536",
    "LAMBENT_HTTP_MAX_CONNECTIONS": "300",
    "LAMBENT_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "40",
    "LAMBENT_HTTP_MAX_LARGE_BODIES": "2",
    "LAMBENT_HTTP_LARGE_BODY_WAIT_S": "0.5",
}


# -- helpers --------------------------------------------------------------------------------------
def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def signed_head(server: Server, method: str, path: str, body: bytes = b"", *, service: str = "lambda",
                region: str = "us-east-1", secret: str = SECRET_KEY, headers: dict[str, str] | None = None,
                content_length: int | None = None) -> bytes:
    """The head of a request signed over ``body`` (SigV4, botocore's client signer)."""
    req = AWSRequest(method=method, url=f"{server.url}{path}", data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(ACCESS_KEY, secret), service, region).add_auth(req)
    out = {"Host": f"127.0.0.1:{server.port}", **{k: str(v) for k, v in req.headers.items()}}
    out["Content-Length"] = str(len(body) if content_length is None else content_length)
    return _head(method, path, out)


def connect(server: Server, source: str = "127.0.0.1", timeout_s: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s, source_address=(source, 0))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    body = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def aws_error(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str, str]:
    assert "x-amzn-errortype" in headers, f"not an AWS error: {status} {body[:200]!r}"
    doc = json.loads(body)
    return status, headers["x-amzn-errortype"], doc.get("message", doc.get("Message"))


def closed_within(sock: socket.socket, timeout_s: float) -> bool:
    """True once the server closed the connection (EOF or reset), False if still open after timeout_s."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def rss_kb(server: Server) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_sockets(server: Server) -> int:
    assert server.proc is not None
    n = 0
    for fd in Path(f"/proc/{server.proc.pid}/fd").iterdir():
        try:
            n += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return n


def health(server: Server, source: str = "127.0.0.1") -> int:
    with connect(server, source, timeout_s=5) as s:
        s.sendall(_head("GET", "/health", {"Host": "x"}))
        return read_response(s)[0]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_prerequisites()
    srv = Server(tmp_path_factory.mktemp("http-tuned") / "data", env_extra=dict(TUNED)).start()
    yield srv
    srv.stop()
    srv.cleanup()


@pytest.fixture(scope="module")
def echo(lam: Any) -> str:
    return create_function(lam, {"app.py": "def handler(event, context):\n    return event\n"})


# -- break 2: nothing of a body is read before the headers pass ----------------------------------
@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("garbage", ("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and "
                                                     "'SignedHeaders' parameters. Authorization=garbage")),
        (f"AWS4-HMAC-SHA256 Credential=AKIANOTKNOWN/{{date}}/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
         f"Signature={'0' * 64}", ("UnrecognizedClientException", "The security token included in the request is invalid.")),
        (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{{date}}/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
         f"Signature={'0' * 64}", ("InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'. ")),
    ],
    ids=["garbage", "unknown-key", "other-region"],
)
def test_a_refusal_the_headers_decide_comes_before_a_byte_of_the_body(server: Server, auth: str,
                                                                       expected: tuple[str, str]) -> None:
    # Given a 70 MB declared body, none of which is sent
    now = dt.datetime.now(dt.timezone.utc)
    head = _head("POST", "/2015-03-31/functions", {
        "Host": "x", "Authorization": auth.replace("{date}", now.strftime("%Y%m%d")),
        "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"), "Content-Length": "70000000",
    })
    with connect(server, timeout_s=5) as s:
        # When only the head is sent
        s.sendall(head)
        # Then the 403 comes at once (the old server waited for the 70 MB), and the connection closes
        assert aws_error(*read_response(s)) == (403, *expected)
        assert closed_within(s, 5)


def test_large_bodies_are_spooled_to_disk_not_held_in_memory(tmp_path: Path) -> None:
    require_prerequisites()
    srv = Server(tmp_path / "data", env_extra={"LAMBENT_HTTP_MAX_LARGE_BODIES": "8"}).start()
    socks: list[socket.socket] = []
    try:
        before = rss_kb(srv)
        body = os.urandom(1 << 20) * 30  # 30 MB, a known key and a fresh date, the wrong secret
        head = signed_head(srv, "POST", "/2015-03-31/functions", body[:100], secret="wrong", content_length=len(body) + 1)
        # When 8 connections each send 30 MB of a body they hold back the last byte of
        for _ in range(8):
            socks.append(connect(srv))
            socks[-1].sendall(head + body)
        time.sleep(1.0)
        held = rss_kb(srv)
        # Then the server's memory grew by far less than the 240 MB held (the old server held it all)
        assert held - before < 60_000, f"RSS grew by {(held - before) // 1024} MB while 240 MB of bodies were held"
        # and once the bodies are complete each gets its 403
        for s in socks:
            s.sendall(b"x")
            assert aws_error(*read_response(s)) == (403, "InvalidSignatureException", MISMATCH)
        assert not list((tmp_path / "data" / "http-spool").iterdir())  # unlinked spool files
    finally:
        for s in socks:
            s.close()
        srv.stop()
        srv.cleanup()


def test_large_bodies_beyond_the_slots_are_throttled(tuned: Server) -> None:
    # Given the two large-body slots taken by bodies still arriving
    body = b"x" * (2 << 20)
    head = signed_head(tuned, "POST", "/2015-03-31/functions", body, secret="wrong", content_length=len(body) + 1)
    holders = [connect(tuned, f"127.0.0.{30 + i}") for i in range(2)]
    try:
        for s in holders:
            s.sendall(head + body)
        time.sleep(0.3)
        # When a third large body comes
        with connect(tuned, "127.0.0.33") as s:
            s.sendall(head + body)
            # Then it waits at most LARGE_BODY_WAIT_S for a slot and is throttled as AWS throttles
            t0 = time.monotonic()
            status, headers, raw = read_response(s)
            assert time.monotonic() - t0 < 3
        assert aws_error(status, headers, raw) == (429, "TooManyRequestsException", "Rate exceeded")
        assert json.loads(raw)["Reason"] == "CallerRateLimitExceeded"
    finally:
        for s in holders:
            s.close()


def test_a_body_that_arrives_too_slowly_is_cut_off(tuned: Server) -> None:
    # Given a 128 KB body allowed 1 s + 2 s (64 KB/s)
    body = b"{" + b" " * (128 * 1024 - 1)
    with connect(tuned, "127.0.0.40") as s:
        s.sendall(signed_head(tuned, "POST", "/2015-03-31/functions", body))
        t0 = time.monotonic()
        # When it trickles in at 2 KB/s
        sender_done = threading.Event()

        def trickle() -> None:
            try:
                for i in range(0, 20 * 1024, 1024):
                    if sender_done.is_set():
                        return
                    s.sendall(body[i : i + 1024])
                    time.sleep(0.5)
            except OSError:
                return

        t = threading.Thread(target=trickle)
        t.start()
        try:
            # Then the server answers 408 RequestTimeoutException after its deadline and closes
            status, headers, raw = read_response(s)
        finally:
            sender_done.set()
            t.join()
        elapsed = time.monotonic() - t0
        assert (status, headers["x-amzn-errortype"]) == (408, "RequestTimeoutException")
        assert 2.5 < elapsed < 6, elapsed
        assert closed_within(s, 3)


# -- break 3: slowloris ----------------------------------------------------------------------------
def test_a_trickling_head_is_closed_at_its_deadline_however_slowly_it_comes(tuned: Server) -> None:
    with connect(tuned, "127.0.0.41") as s:
        t0 = time.monotonic()
        s.sendall(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n")
        # When one byte of a header comes every 0.3 s (each well inside any per-byte idle timeout)
        closed = False
        while time.monotonic() - t0 < 10:
            try:
                s.sendall(b"X")
            except OSError:
                closed = True
                break
            if closed_within(s, 0.3):
                closed = True
                break
        # Then the server closes it once the head deadline (4 s) is over, not before
        elapsed = time.monotonic() - t0
        assert closed, "the trickling connection was never closed"
        assert 3.5 < elapsed < 6.5, elapsed


def test_health_and_signed_calls_answer_while_hundreds_of_slow_connections_are_held(tuned: Server) -> None:
    # Given one address at its cap of 40 connections, which all hold a half-sent head
    slow: list[socket.socket] = []
    partial = b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-Slow: "
    try:
        for _ in range(40):
            slow.append(connect(tuned, "127.0.0.50"))
            slow[-1].sendall(partial)
        # When it opens one more, then it is refused with AWS's throttle
        with connect(tuned, "127.0.0.50") as s:
            assert aws_error(*read_response(s))[:2] == (429, "TooManyRequestsException")
        baseline = open_sockets(tuned)
        # When 600 more slow connections come from 15 other addresses (40 each)
        for i in range(600):
            try:
                slow.append(connect(tuned, f"127.0.1.{1 + i // 40}", timeout_s=5))
                slow[-1].sendall(partial)
            except OSError:
                pass  # evicted or refused before it could send: that is the point
        time.sleep(0.3)
        # Then the server holds no more than its total cap of 300 (the oldest slow heads make room)
        assert open_sockets(tuned) <= 300 + 40, open_sockets(tuned)
        assert open_sockets(tuned) - baseline < 300
        # and /health and a signed call still answer
        assert health(tuned) == 200
        lam = tuned.client()
        assert lam.list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        for s in slow:
            s.close()


def test_the_server_raises_its_descriptor_limit_to_the_hard_limit(tmp_path: Path) -> None:
    require_prerequisites()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(1024, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))  # inherited by the server
    try:
        srv = Server(tmp_path / "data").start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert srv.proc is not None
        limits = Path(f"/proc/{srv.proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)], line
        # and the API's connection cap is what that budget leaves after the 4096 reserve
        assert f"RLIMIT_NOFILE {hard}: at most {max(16, hard - min(4096, hard // 2))} API connections" in srv.log()
    finally:
        srv.stop()
        srv.cleanup()


# -- break 6: the signature binds the body ---------------------------------------------------------
def test_a_body_swapped_under_a_signed_content_sha256_is_refused(server: Server, echo: str) -> None:
    signed_over = b'{"amount": 1}'
    swapped = b'{"amount": 9}'
    head = signed_head(server, "POST", INVOKE.format(echo), signed_over,
                       headers={"X-Amz-Content-SHA256": __import__("hashlib").sha256(signed_over).hexdigest()})
    with connect(server) as s:
        s.sendall(head + swapped)
        assert aws_error(*read_response(s)) == (403, "InvalidSignatureException", MISMATCH)
    # while the same request with the body it was signed over runs the function
    with connect(server) as s:
        s.sendall(head + signed_over)
        status, _, raw = read_response(s)
        assert (status, json.loads(raw)) == (200, {"amount": 1})


def test_unsigned_payload_is_refused_as_lambda_refuses_it(server: Server, echo: str) -> None:
    body = b'{"amount": 9}'
    head = signed_head(server, "POST", INVOKE.format(echo), body, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with connect(server) as s:
        s.sendall(head + body)
        assert aws_error(*read_response(s)) == (403, "InvalidSignatureException", MISMATCH)


# -- break 9: scope, JSON depth, header limits ------------------------------------------------------
def test_a_request_signed_for_another_region_is_refused(server: Server) -> None:
    with connect(server) as s:
        s.sendall(signed_head(server, "GET", "/2015-03-31/functions", region="eu-west-1", content_length=0))
        assert aws_error(*read_response(s)) == (
            403, "InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'. ")


def test_a_request_signed_for_a_service_not_served_is_refused(server: Server) -> None:
    with connect(server) as s:
        s.sendall(signed_head(server, "GET", "/2015-03-31/functions", service="s3", content_length=0))
        assert aws_error(*read_response(s)) == (
            403, "InvalidSignatureException", "Credential should be scoped to correct service: 'lambda'. ")


DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.mark.parametrize(
    ("method", "path", "body", "service", "expected"),
    [
        ("POST", "/2015-03-31/functions", DEEP_OBJECT, "lambda", (400, "InvalidRequestContentException")),
        ("POST", INVOKE.format("{fn}"), DEEP, "lambda", (400, "InvalidRequestContentException")),
        ("POST", "/2014-11-13/functions/{fn}/invoke-async/", DEEP, "lambda", (400, "InvalidRequestContentException")),
        ("PUT", "/2019-09-25/functions/{fn}/event-invoke-config", DEEP_OBJECT, "lambda", (400, "InvalidRequestContentException")),
        ("POST", "/lambent/2026-11-27/deployments", DEEP_OBJECT, "lambent", (400, "InvalidRequestContentException")),
        ("POST", "/schedules/deep", DEEP_OBJECT, "scheduler", (400, "ValidationException")),
    ],
    ids=["create-function", "invoke", "invoke-async", "event-invoke-config", "lambent-deployments", "scheduler"],
)
def test_a_100000_deep_json_body_is_a_client_error(server: Server, echo: str, method: str, path: str, body: bytes,
                                                   service: str, expected: tuple[int, str]) -> None:
    path = path.replace("{fn}", echo)
    with connect(server) as s:
        s.sendall(signed_head(server, method, path, body, service=service) + body)
        status, headers, raw = read_response(s)
    assert (status, headers["x-amzn-errortype"]) == expected, raw[:300]
    assert "Could not parse request body into json" in aws_error(status, headers, raw)[2]


def test_deep_json_in_a_client_context_or_schedule_input_is_a_client_error(server: Server, echo: str) -> None:
    context = base64.b64encode(b"[" * 1300 + b"]" * 1300).decode()  # 3468 bytes, under the 3583 cap
    with connect(server) as s:
        s.sendall(signed_head(server, "POST", INVOKE.format(echo), b"{}", headers={"X-Amz-Client-Context": context}) + b"{}")
        assert aws_error(*read_response(s)) == (
            400, "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object.")
    target = {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:deep-fn", "RoleArn": "arn:aws:iam::000000000000:role/r",
              "Input": "[" * 100_000 + "]" * 100_000}
    body = json.dumps({"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": target}).encode()
    with connect(server) as s:
        s.sendall(signed_head(server, "POST", "/schedules/deep-input", body, service="scheduler") + body)
        assert aws_error(*read_response(s)) == (
            400, "ValidationException", "Target Input must be well-formed JSON for a Lambda target.")


HEADERS_TOO_LARGE = (
    "Request Header Fields Too Large: at most 100 headers, each at most 16384 bytes, 65536 bytes in all."
)


@pytest.mark.parametrize(
    "extra",
    [{"X-Big": "a" * (1 << 20)}, {f"X-H{i}": "v" for i in range(10_000)}, {f"X-H{i}": "v" for i in range(100)},
     {"X-Line": "a" * 16_400}, {f"X-H{i}": "a" * 16_000 for i in range(5)}],
    ids=["1MB-header", "10000-headers", "101-headers", "16KB-line", "80KB-head"],
)
@pytest.mark.parametrize("path", ["/2015-03-31/functions", "/health", "/code/x.zip"])
def test_too_many_or_too_large_headers_get_431_before_the_app_runs(server: Server, extra: dict[str, str], path: str) -> None:
    with connect(server) as s:
        try:
            s.sendall(_head("GET", path, {"Host": "x", **extra}))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the rest was sent: the answer is still there to read
        assert aws_error(*read_response(s)) == (431, "RequestHeaderFieldsTooLargeException", HEADERS_TOO_LARGE)


def test_a_head_at_the_limits_is_served(server: Server) -> None:
    extra = {f"X-H{i}": "v" for i in range(98)}  # + Host + X-Line = 100 headers
    extra["X-Line"] = "a" * (16_384 - len("X-Line"))
    with connect(server) as s:
        s.sendall(_head("GET", "/health", {"Host": "x", **extra}))
        assert read_response(s)[0] == 200


def test_the_code_download_path_is_bounded_like_the_api(tuned: Server) -> None:
    with connect(tuned, "127.0.0.42") as s:
        t0 = time.monotonic()
        s.sendall(b"GET /code/" + b"a" * 64 + b".zip?Expires=1 HTTP/1.1\r\nHost: x\r\n")
        assert closed_within(s, 8)
        assert 3.5 < time.monotonic() - t0 < 6.5
