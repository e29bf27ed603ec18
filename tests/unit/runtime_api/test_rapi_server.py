"""RuntimeApiEndpoint with a real HTTP client over a loopback socket."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from rapi_client import WAIT_S, RawClient, Server, eventually, request_bytes, within

from lambent.runtime_api import (
    EndpointBusy,
    EndpointClosed,
    Invocation,
    InvocationResult,
    RuntimeApiEndpoint,
    RuntimeInitError,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
LIMIT = 6291556


def make_inv(request_id: str = "req-1", payload: bytes = b'{"hello": "world"}', **kw: str) -> Invocation:
    return Invocation(request_id, payload, int(time.time() * 1000) + 3000, ARN, **kw)  # type: ignore[arg-type]


async def parked(server: Server) -> tuple[RawClient, asyncio.Task[object]]:
    """A client whose /next is parked on the endpoint."""
    client = await server.connect()
    await client.send(request_bytes("GET", "/invocation/next"))
    await within(server.endpoint.wait_ready())
    await eventually(lambda: server.endpoint.idle, "runtime parked in /next")
    return client, asyncio.create_task(client.response())


async def test_next_delivers_invocation_with_aws_headers_and_response_completes_it(server: Server) -> None:
    client, next_answer = await parked(server)
    inv = make_inv(trace_id="Root=1-abc", client_context='{"custom":{"a":1}}', cognito_identity='{"cognitoIdentityId":"x"}')
    invoke = asyncio.create_task(server.endpoint.invoke(inv))
    got = await within(next_answer)
    assert got.status == 200
    assert got.body == b'{"hello": "world"}'
    assert got.headers["content-type"] == "application/json"
    assert got.headers["lambda-runtime-aws-request-id"] == "req-1"
    assert got.headers["lambda-runtime-deadline-ms"] == str(inv.deadline_ms)
    assert got.headers["lambda-runtime-invoked-function-arn"] == ARN
    assert got.headers["lambda-runtime-trace-id"] == "Root=1-abc"
    assert got.headers["lambda-runtime-client-context"] == '{"custom":{"a":1}}'
    assert got.headers["lambda-runtime-cognito-identity"] == '{"cognitoIdentityId":"x"}'
    assert not server.endpoint.idle

    reply = await client.request("POST", "/invocation/req-1/response", b'{"answer": 42}')
    assert (reply.status, reply.json()) == (202, {"status": "OK"})
    assert await within(invoke) == InvocationResult("req-1", True, b'{"answer": 42}', None)


async def test_next_is_a_long_poll_that_waits_for_an_invocation(server: Server) -> None:
    _, next_answer = await parked(server)
    await asyncio.sleep(0.3)
    assert not next_answer.done()
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    assert (await within(next_answer)).status == 200  # type: ignore[attr-defined]
    invoke.cancel()


async def test_invocation_submitted_before_next_is_delivered_when_next_arrives(server: Server) -> None:
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await asyncio.sleep(0.05)
    client = await server.connect()
    got = await client.request("GET", "/invocation/next")
    assert got.headers["lambda-runtime-aws-request-id"] == "req-1"
    await client.request("POST", "/invocation/req-1/response", b"1")
    assert (await within(invoke)).body == b"1"  # type: ignore[attr-defined]


async def test_error_post_gives_failed_result_with_error_type(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    err = b'{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}'
    reply = await client.request("POST", "/invocation/req-1/error", err)
    assert reply.status == 202
    result = await within(invoke)
    assert result == InvocationResult("req-1", False, err, "ValueError")


async def test_error_type_header_wins_over_body(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    await client.request(
        "POST",
        "/invocation/req-1/error",
        b'{"errorType": "ValueError"}',
        {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
    )
    assert (await within(invoke)).error_type == "Unhandled"  # type: ignore[attr-defined]


async def test_init_error_before_first_next_fails_wait_ready_and_later_calls(server: Server) -> None:
    waiter = asyncio.create_task(server.endpoint.wait_ready())
    client = await server.connect()
    body = b'{"errorMessage": "Unable to import module \'app\'", "errorType": "Runtime.ImportModuleError"}'
    reply = await client.request(
        "POST", "/init/error", body, {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"}
    )
    assert reply.status == 202
    with pytest.raises(RuntimeInitError) as caught:
        await within(waiter)
    assert caught.value.init_error.body == body
    assert caught.value.init_error.error_type == "Runtime.ImportModuleError"
    with pytest.raises(RuntimeInitError):
        await server.endpoint.invoke(make_inv())
    with pytest.raises(RuntimeInitError):
        await server.endpoint.wait_ready()
    refused = await client.request("GET", "/invocation/next")
    assert refused.status == 403
    assert refused.json() == {
        "errorMessage": "State transition from InitError to Ready failed for runtime. "
        "Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }


async def test_init_error_during_invocation_fails_that_invocation(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    reply = await client.request("POST", "/init/error", b'{"errorType": "Runtime.ImportModuleError"}')
    assert reply.status == 202
    with pytest.raises(RuntimeInitError) as caught:
        await within(invoke)
    assert caught.value.init_error.error_type == "Runtime.ImportModuleError"


async def test_wrong_request_id_is_400_and_invocation_stays_open(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    wrong = await client.request("POST", "/invocation/not-the-one/response", b"{}")
    assert wrong.status == 400
    assert wrong.json() == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    assert not invoke.done()
    await client.request("POST", "/invocation/req-1/response", b"ok")
    assert (await within(invoke)).body == b"ok"  # type: ignore[attr-defined]


async def test_duplicate_response_is_refused(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    assert (await client.request("POST", "/invocation/req-1/response", b"1")).status == 202
    dup = await client.request("POST", "/invocation/req-1/response", b"2")
    assert dup.status == 403
    assert dup.json()["errorType"] == "InvalidStateTransition"  # type: ignore[index]
    assert (await within(invoke)).body == b"1"  # type: ignore[attr-defined]


async def test_oversize_response_is_413_and_an_error_result_and_connection_survives(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    reply = await client.request("POST", "/invocation/req-1/response", b"x" * (LIMIT + 1))
    assert reply.status == 413
    assert reply.json() == {
        "errorMessage": f"Exceeded maximum allowed payload size ({LIMIT} bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    result = await within(invoke)
    assert result.ok is False and result.error_type == "Function.ResponseSizeTooLarge"  # type: ignore[attr-defined]
    assert b"Response payload size exceeded maximum allowed payload size (6291556 bytes)." in result.body  # type: ignore[attr-defined]
    # the same keep-alive connection goes on serving
    invoke2 = asyncio.create_task(server.endpoint.invoke(make_inv("req-2")))
    got = await client.request("GET", "/invocation/next")
    assert got.headers["lambda-runtime-aws-request-id"] == "req-2"
    invoke2.cancel()


async def test_response_of_exactly_the_limit_is_accepted(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    reply = await client.request("POST", "/invocation/req-1/response", b"y" * LIMIT)
    assert reply.status == 202
    assert len((await within(invoke)).body) == LIMIT  # type: ignore[attr-defined]


async def test_chunked_oversize_response_is_413(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    chunk = b"z" * (1024 * 1024)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(7)) + b"0\r\n\r\n"
    reply = await client.request(
        "POST", "/invocation/req-1/response", body, {"Transfer-Encoding": "chunked"}
    )
    assert reply.status == 413
    assert (await within(invoke)).error_type == "Function.ResponseSizeTooLarge"  # type: ignore[attr-defined]


async def test_chunked_request_body_is_reassembled(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    body = b'5\r\n{"a":\r\n3\r\n 12\r\n1\r\n}\r\n0\r\n\r\n'
    reply = await client.request("POST", "/invocation/req-1/response", body, {"Transfer-Encoding": "chunked"})
    assert reply.status == 202
    assert (await within(invoke)).body == b'{"a": 12}'  # type: ignore[attr-defined]


async def test_keep_alive_serves_many_invocations_on_one_connection(server: Server) -> None:
    client = await server.connect()
    for i in range(5):
        invoke = asyncio.create_task(server.endpoint.invoke(make_inv(f"r{i}", b"%d" % i)))
        got = await client.request("GET", "/invocation/next")
        assert got.body == b"%d" % i
        await client.request("POST", f"/invocation/r{i}/response", got.body + b"!")
        assert (await within(invoke)).body == b"%d!" % i  # type: ignore[attr-defined]
    assert len(server.endpoint._connections) == 1


async def test_connection_close_request_is_answered_then_closed(server: Server) -> None:
    client = await server.connect()
    await client.send(request_bytes("GET", "/nope", headers={"Connection": "close"}))
    reply = await client.response()
    assert reply.status == 404 and reply.headers["connection"] == "close"
    assert await client.closed_by_server()


async def test_pipelined_response_and_next_are_served_in_order(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    await client.send(
        request_bytes("POST", "/invocation/req-1/response", b"done") + request_bytes("GET", "/invocation/next")
    )
    assert (await client.response()).status == 202
    assert (await within(invoke)).body == b"done"  # type: ignore[attr-defined]
    await eventually(lambda: server.endpoint.idle, "second /next parked")
    invoke2 = asyncio.create_task(server.endpoint.invoke(make_inv("req-2")))
    assert (await client.response()).headers["lambda-runtime-aws-request-id"] == "req-2"
    invoke2.cancel()


async def test_idle_tracks_the_parked_next(server: Server) -> None:
    assert not server.endpoint.idle
    client, next_answer = await parked(server)
    assert server.endpoint.idle
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    assert not server.endpoint.idle
    await client.request("POST", "/invocation/req-1/response", b"1")
    await within(invoke)
    assert not server.endpoint.idle
    await client.send(request_bytes("GET", "/invocation/next"))
    await eventually(lambda: server.endpoint.idle, "parked again")


async def test_parked_client_disconnect_is_noticed_and_invocation_waits_for_new_next(server: Server) -> None:
    client, next_answer = await parked(server)
    next_answer.cancel()
    await client.close()
    await eventually(lambda: not server.endpoint.idle, "disconnect noticed")
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    other = await server.connect()
    got = await other.request("GET", "/invocation/next")
    assert got.headers["lambda-runtime-aws-request-id"] == "req-1"
    invoke.cancel()


async def test_newer_next_supersedes_a_parked_one(server: Server) -> None:
    first, first_answer = await parked(server)
    second = await server.connect()
    await second.send(request_bytes("GET", "/invocation/next"))
    await eventually(lambda: len(server.endpoint._connections) == 1, "first connection dropped")
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await within(first_answer)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    assert (await second.response()).headers["lambda-runtime-aws-request-id"] == "req-1"
    invoke.cancel()


async def test_next_while_running_redelivers_current_invocation(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    again = await client.request("GET", "/invocation/next")
    assert again.headers["lambda-runtime-aws-request-id"] == "req-1"
    await client.request("POST", "/invocation/req-1/response", b"1")
    assert (await within(invoke)).ok  # type: ignore[attr-defined]


async def test_abort_fails_waiters_and_every_later_call(server: Server) -> None:
    waiter = asyncio.create_task(server.endpoint.wait_ready())
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await asyncio.sleep(0.01)
    died = EndpointClosed("sandbox exited with status 137")
    server.endpoint.abort(died)
    for task in (waiter, invoke):
        with pytest.raises(EndpointClosed) as caught:
            await within(task)
        assert caught.value is died
    with pytest.raises(EndpointClosed):
        await server.endpoint.invoke(make_inv("req-2"))
    with pytest.raises(EndpointClosed):
        await server.endpoint.wait_ready()


async def test_abort_of_a_running_invocation(server: Server) -> None:
    _, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    server.endpoint.abort(TimeoutError("Task timed out after 3.00 seconds"))
    with pytest.raises(TimeoutError):
        await within(invoke)
    assert not server.endpoint.idle


async def test_timed_out_queued_invocation_is_withdrawn(server: Server) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(server.endpoint.invoke(make_inv("stale")), 0.05)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv("fresh")))
    client = await server.connect()
    got = await client.request("GET", "/invocation/next")
    assert got.headers["lambda-runtime-aws-request-id"] == "fresh"
    invoke.cancel()


async def test_second_concurrent_invoke_is_busy(server: Server) -> None:
    first = asyncio.create_task(server.endpoint.invoke(make_inv("a")))
    await asyncio.sleep(0)
    with pytest.raises(EndpointBusy):
        await server.endpoint.invoke(make_inv("b"))
    first.cancel()


async def test_close_is_idempotent_and_fails_waiters_with_endpoint_closed(server: Server) -> None:
    client, _ = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await asyncio.sleep(0.01)
    await server.endpoint.close()
    await server.endpoint.close()
    with pytest.raises(EndpointClosed):
        await within(invoke)
    with pytest.raises(EndpointClosed):
        await server.endpoint.wait_ready()
    assert not server.endpoint.idle
    with pytest.raises(ConnectionError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_close_before_start_closes_the_socket() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    endpoint = RuntimeApiEndpoint(sock)
    await endpoint.close()
    assert sock.fileno() == -1
    with pytest.raises(EndpointClosed):
        await endpoint.start()


async def test_unknown_paths_and_methods(server: Server) -> None:
    client = await server.connect()
    missing = await client.request("GET", "/invocation/abc/nothing")
    assert (missing.status, missing.body) == (404, b"404 page not found\n")
    assert (await client.request("POST", "/invocation/next")).status == 405
    assert (await client.request("GET", "/invocation/abc/response")).status == 405


async def test_garbage_is_a_400_and_closes(server: Server) -> None:
    client = await server.connect()
    await client.send(b"NOT HTTP AT ALL\r\n\r\n")
    assert (await client.response()).status == 400
    assert await client.closed_by_server()


async def test_oversized_headers_are_refused(server: Server) -> None:
    client = await server.connect()
    await client.send(request_bytes("GET", "/invocation/next", headers={"X-Big": "a" * 70000}))
    assert (await client.response()).status == 431
    assert await client.closed_by_server()


async def test_url_encoded_request_id_is_accepted(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv("a-b_c")))
    await within(next_answer)
    assert (await client.request("POST", "/invocation/a%2Db_c/response", b"1")).status == 202
    assert (await within(invoke)).ok  # type: ignore[attr-defined]


async def test_accepted_sockets_have_tcp_nodelay(server: Server) -> None:
    await parked(server)
    (conn,) = server.endpoint._connections
    sock = conn._transport.get_extra_info("socket")  # type: ignore[union-attr]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_large_payload_is_delivered_intact(server: Server) -> None:
    _, next_answer = await parked(server)
    payload = bytes(range(256)) * 20000
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv(payload=payload)))
    got = await asyncio.wait_for(next_answer, WAIT_S)
    assert got.body == payload  # type: ignore[attr-defined]
    invoke.cancel()
