"""api/dispatch.py: one request path for every service: route, parse, refuse, handle, serialise,
and every failure in the envelope of the service the request was for."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import MutableMapping
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.datastructures import Headers

from lambent.api.app import LambentApp
from lambent.api.dispatch import Call, Dispatcher, Service
from lambent.api.protocols import Wire, build_handler
from lambent.api.protocols.registry import Operations
from lambent.api.protocols.rest_json import RestJsonHandler
from lambent.errors import LambentError, ResourceNotFound
from lambent.iam.model import Principal, PrincipalKind

Sent = list[dict[str, Any]]
ROOT = Principal(kind=PrincipalKind.ROOT, account_id="000000000000", arn="arn:aws:iam::000000000000:root",
                 user_id="000000000000", name="", access_key_id="AKIDEXAMPLE", secret_access_key="secret")


class MarkedEnvelope(RestJsonHandler):
    """A protocol whose errors are recognisable: which envelope answered is what a test asserts."""

    def __init__(self, service: str) -> None:
        super().__init__(build_handler(service).model)

    def serialise_error(self, exc: LambentError | None = None, **kw: Any) -> Wire:
        name = type(exc).__name__ if exc is not None else "none"
        message = exc.message if exc is not None else ""
        return 418, {"x-envelope": self.service, "x-error": name}, json.dumps({"m": message}).encode()


def scope_of(method: str, path: str, query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "headers": raw}


def run(dispatcher: Dispatcher, service: Service, scope: dict[str, Any], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    sent: Sent = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    asyncio.run(dispatcher.dispatch(scope, receive, send, service, Headers(scope=scope), body, ROOT))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert int(headers["content-length"]) == len(sent[1]["body"])
    return sent[0]["status"], headers, sent[1]["body"]


def lambda_service(ops: Operations, protocol: RestJsonHandler | None = None) -> Service:
    return Service("lambda", ops, protocol or RestJsonHandler(build_handler("lambda").model, ops.skips()))


PLATFORM: Any = SimpleNamespace(name="the platform", settings=SimpleNamespace(account_id="000000000000"))


def test_a_registered_handler_gets_typed_params_and_its_output_is_serialised() -> None:
    ops = Operations("lambda")
    seen: list[Call] = []

    @ops.register("GetFunctionConcurrency")
    async def get(call: Call) -> dict[str, Any]:
        seen.append(call)
        return {"ReservedConcurrentExecutions": 7}

    status, headers, body = run(Dispatcher(PLATFORM, {}), lambda_service(ops),
                                scope_of("GET", "/2019-09-30/functions/f%2Dx/concurrency", "a=1"))
    assert (status, json.loads(body)) == (200, {"ReservedConcurrentExecutions": 7})
    assert headers["content-type"] == "application/json"
    call = seen[0]
    assert (call.platform, call.service, call.operation, call.params, call.query) == (
        PLATFORM, "lambda", "GetFunctionConcurrency", {"FunctionName": "f-x"}, "a=1")
    assert headers["x-amzn-requestid"] == call.request_id


def test_a_modelled_operation_nobody_registered_is_unknown_operation_naming_it() -> None:
    status, headers, body = run(Dispatcher(PLATFORM, {}), lambda_service(Operations("lambda")),
                                scope_of("GET", "/2015-03-31/functions/f/policy"))
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    assert json.loads(body)["message"] == (
        "The lambda operation GetPolicy is not implemented by this lambent server yet (docs/parity.md lists what is).")


def test_a_request_no_operation_matches_is_named_by_method_and_path() -> None:
    status, headers, body = run(Dispatcher(PLATFORM, {}), lambda_service(Operations("lambda")),
                                scope_of("PATCH", "/2015-03-31/nothing"))
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    assert json.loads(body)["message"] == "No lambda operation matches PATCH /2015-03-31/nothing."


def test_a_member_the_handler_does_not_act_on_is_refused_by_name_before_it_runs() -> None:
    ops = Operations("lambda")
    ran: list[str] = []

    @ops.register("Invoke", handled={"FunctionName": None, "Payload": None})
    async def invoke(call: Call) -> dict[str, Any]:
        ran.append("yes")
        return {"StatusCode": 200}

    status, headers, body = run(Dispatcher(PLATFORM, {}), lambda_service(ops), scope_of(
        "POST", "/2015-03-31/functions/f/invocations", headers={"X-Amz-Log-Type": "Tail"}), b"{}")
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidParameterValueException")
    assert json.loads(body)["message"] == "LogType is not supported by this lambent server yet (Invoke); remove it from the request."
    assert ran == []
    # an unhandled member is not checked against the model first: the refusal is the answer
    status, headers, body = run(Dispatcher(PLATFORM, {}), lambda_service(ops), scope_of(
        "POST", "/2015-03-31/functions/f/invocations", headers={"X-Amz-Log-Type": "NotAnEnumValue"}), b"{}")
    assert "LogType is not supported" in json.loads(body)["message"]
    # empty means none
    status, _, _ = run(Dispatcher(PLATFORM, {}), lambda_service(ops), scope_of(
        "POST", "/2015-03-31/functions/f/invocations", headers={"X-Amz-Log-Type": ""}), b"{}")
    assert status == 200 and ran == ["yes"]


def test_model_constraints_are_checked_before_the_handler_except_the_skipped_ones() -> None:
    ops = Operations("lambda")
    got: list[dict[str, Any]] = []

    @ops.register("PutFunctionConcurrency", skip=frozenset({"functionName"}))
    async def put(call: Call) -> dict[str, Any]:
        got.append(call.params)
        return {"ReservedConcurrentExecutions": call.params["ReservedConcurrentExecutions"]}

    service = lambda_service(ops)
    status, headers, body = run(Dispatcher(PLATFORM, {}), service, scope_of(
        "PUT", "/2017-10-31/functions/f/concurrency"), b'{"ReservedConcurrentExecutions": -1}')
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert "at 'reservedConcurrentExecutions'" in json.loads(body)["message"]
    # the name breaks the model's pattern, but the domain checks it (skip): the handler runs
    status, _, body = run(Dispatcher(PLATFORM, {}), service, scope_of(
        "PUT", "/2017-10-31/functions/bad!name/concurrency"), b'{"ReservedConcurrentExecutions": 2}')
    assert (status, got[-1]["FunctionName"]) == (200, "bad!name")


def test_errors_answer_in_the_envelope_of_the_service() -> None:
    for service_name, operation, method, path in [
        ("lambda", "GetFunction", "GET", "/2015-03-31/functions/f"),
        ("scheduler", "GetSchedule", "GET", "/schedules/s"),
    ]:
        ops = Operations(service_name)

        @ops.register(operation)
        async def missing(call: Call) -> None:
            raise ResourceNotFound("nothing here")

        service = Service(service_name, ops, MarkedEnvelope(service_name))
        status, headers, body = run(Dispatcher(PLATFORM, {}), service, scope_of(method, path))
        assert (status, headers["x-envelope"], headers["x-error"]) == (418, service_name, "ResourceNotFound")
        assert json.loads(body) == {"m": "nothing here"}


def test_an_unexpected_exception_is_logged_once_and_answers_500_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for service_name, operation, method, path in [
        ("lambda", "GetFunction", "GET", "/2015-03-31/functions/f"),
        ("scheduler", "GetSchedule", "GET", "/schedules/s"),
    ]:
        ops = Operations(service_name)

        @ops.register(operation)
        async def broken(call: Call) -> None:
            raise KeyError("secret internal detail")

        caplog.clear()
        protocol = RestJsonHandler(build_handler(service_name).model)
        with caplog.at_level(logging.ERROR, logger="lambent.api"):
            status, headers, body = run(Dispatcher(PLATFORM, {}), Service(service_name, ops, protocol), scope_of(method, path))
        assert status == 500
        assert (status, headers, body)[1]["x-amzn-errortype"] == protocol.serialise_error(
            LambentError("x"))[1]["x-amzn-ErrorType"]
        assert b"secret internal detail" not in body and b"Traceback" not in body
        assert b"Internal error: KeyError" in body
        assert len([r for r in caplog.records if r.exc_info]) == 1


def test_a_serialisation_failure_is_a_500_too() -> None:
    ops = Operations("lambda")

    @ops.register("ListTags")
    async def bad_output(call: Call) -> dict[str, Any]:
        return {"Tags": object()}  # not a map: the serialiser fails

    status, headers, body = run(Dispatcher(PLATFORM, {}), lambda_service(ops), scope_of(
        "GET", "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:f"))
    assert status == 500 and headers["x-amzn-errortype"] == "ServiceException"


def _app(services: dict[str, Service]) -> LambentApp:
    settings = SimpleNamespace(region="us-east-1", data_dir="/nonexistent", account_id="000000000000",
                               http=SimpleNamespace(body_spool_bytes=1 << 20, max_large_bodies=1, large_body_wait_s=0.1,
                                                    console_enabled=False))
    root = dataclasses.replace(ROOT, access_key_id="AK", secret_access_key="SK")
    platform: Any = SimpleNamespace(iam=SimpleNamespace(lookup=lambda key: root if key == "AK" else None),
                                    settings=settings, ready=asyncio.Event())
    app = LambentApp(platform)
    app.services = services
    app.dispatcher = Dispatcher(platform, services)
    return app


def _call_app(app: LambentApp, scope: dict[str, Any]) -> tuple[int, dict[str, str]]:
    sent: Sent = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}


def test_errors_before_routing_answer_in_the_envelope_of_the_scoped_service() -> None:
    services = {name: Service(name, Operations(name), MarkedEnvelope(name)) for name in ("lambda", "scheduler")}
    app = _app(services)
    bad_signature = ("AWS4-HMAC-SHA256 Credential=AK/20261202/us-east-1/{}/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    for service_name in ("lambda", "scheduler"):
        scope = scope_of("GET", "/schedules", headers={
            "Authorization": bad_signature.format(service_name), "X-Amz-Date": "20261202T000000Z", "Host": "h"})
        status, headers = _call_app(app, scope)
        assert (status, headers["x-envelope"]) == (418, service_name), headers
    # no credential scope at all: Lambda's envelope (the endpoint's default service)
    status, headers = _call_app(app, scope_of("GET", "/schedules"))
    assert (headers["x-envelope"], headers["x-error"]) == ("lambda", "MissingAuthenticationToken")


def test_a_failure_while_routing_is_a_500_in_the_envelope_too(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenRouter(RestJsonHandler):
        def route(self, *args: Any) -> tuple[str, Any] | None:
            raise IndexError("router bug")

    protocol = BrokenRouter(build_handler("lambda").model)
    with caplog.at_level(logging.ERROR, logger="lambent.api"):
        status, headers, body = run(Dispatcher(PLATFORM, {}), Service("lambda", Operations("lambda"), protocol),
                                    scope_of("GET", "/2015-03-31/functions/f"))
    assert (status, headers["x-amzn-errortype"]) == (500, "ServiceException")
    assert b"router bug" not in body and len([r for r in caplog.records if r.exc_info]) == 1


def test_a_request_refused_from_its_headers_closes_its_connection() -> None:
    """Its body was never read: the answer says Connection: close, so a client does not pool the
    connection and send its next request into one the server is closing."""
    services = {"lambda": Service("lambda", Operations("lambda"), MarkedEnvelope("lambda"))}
    app = _app(services)
    scope = scope_of("POST", "/2014-11-13/functions/f/invoke-async/", headers={
        "Content-Length": str(300_000), "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20261202/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "X-Amz-Date": "20261202T000000Z", "Host": "h"})
    status, headers = _call_app(app, scope)
    assert (headers["x-error"], headers["connection"]) == ("RequestEntityTooLarge", "close")
    # so does a request without a signature, refused from its headers too
    status, headers = _call_app(app, scope_of("GET", "/schedules"))
    assert headers["x-error"] == "MissingAuthenticationToken" and headers["connection"] == "close"
