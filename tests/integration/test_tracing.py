"""X-Ray tracing end to end: trace headers through Invoke and the runtimes, the segments Lambda
records for Active functions, the X-Ray SDK (from PyPI, bundled in the function) sending through
the sandbox's daemon, PutTraceSegments, the daemon's bounds, OTLP export to a loopback receiver."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness import Server, create_function, invoke_json, send_signed

ROOT = "1-5759e988-bd862e3fe1be46a994272793"

ECHO = """import os
def handler(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID"), "daemon": os.environ.get("AWS_XRAY_DAEMON_ADDRESS"),
            "host": os.environ.get("_AWS_XRAY_DAEMON_ADDRESS"), "port": os.environ.get("_AWS_XRAY_DAEMON_PORT"),
            "missing": os.environ.get("AWS_XRAY_CONTEXT_MISSING")}
"""

ECHO_NODE = """exports.handler = async () => ({ trace: process.env._X_AMZN_TRACE_ID });
"""

XRAY_SDK_FUNCTION = """import os
from aws_xray_sdk.core import xray_recorder

def handler(event, context):
    with xray_recorder.in_subsegment("lambent-work") as sub:
        sub.put_annotation("tenant", "t1")
        sub.put_metadata("n", 42)
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
"""

FLOOD_FUNCTION = """import json, os, socket, time
def handler(event, context):
    t0 = time.monotonic()
    host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    trace = [f.split("=", 1)[1] for f in os.environ["_X_AMZN_TRACE_ID"].split(";") if f.startswith("Root=")][0]
    sent = 0
    for i in range(event["n"]):
        if i % 3 == 0:
            data = b"not the daemon protocol"
        elif i % 3 == 1:
            data = b'{"format": "json", "version": 1}\\n{"id": "bad"}'
        else:
            doc = {"id": "%016x" % i, "trace_id": trace, "name": "flood", "start_time": 1.0, "end_time": 2.0}
            data = b'{"format": "json", "version": 1}\\n' + json.dumps(doc).encode()
        try:
            s.sendto(data, (host, int(port)))
            sent += 1
        except OSError:
            pass
    elapsed = time.monotonic() - t0
    try:  # a datagram over 64 KB cannot even be sent
        s.sendto(b"x" * 70000, (host, int(port)))
        big = "sent"
    except OSError as exc:
        big = type(exc).__name__
    # the daemon's port is lambent's: the function cannot take it
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", 2000))
        bound = True
    except OSError:
        bound = False
    return {"sent": sent, "big": big, "bound": bound, "trace": trace, "elapsed": elapsed}
"""


def _with_trace_header(client: Any, header: str) -> None:
    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    client.meta.events.register("before-sign.lambda.Invoke", add)


def _returned(resp: dict[str, Any]) -> str:
    return str(resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-trace-id", ""))


def _fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";") if "=" in part)


def _wait_trace(xray: Any, trace_id: str, want: int, timeout_s: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    segments: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        segments = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        if len(segments) >= want and all(_complete(s) for s in segments):
            return segments
        time.sleep(0.2)
    return segments


def _complete(seg: dict[str, Any]) -> bool:
    return not seg.get("in_progress")


def _walk(seg: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield seg
    for sub in seg.get("subsegments") or []:
        yield from _walk(sub)


def test_an_incoming_header_is_honoured_and_returned(server: Server) -> None:
    lam = server.client()
    name = create_function(lam, {"app.py": ECHO})
    _with_trace_header(lam, f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")
    resp, body = invoke_json(lam, name)
    # PassThrough: the caller's trace and decision travel on unchanged, into the function and back
    assert body["trace"] == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
    assert _returned(resp) == body["trace"]
    assert body["daemon"] == "127.0.0.1:2000" and (body["host"], body["port"]) == ("127.0.0.1", "2000")
    assert body["missing"] == "LOG_ERROR"


def test_a_trace_is_created_when_none_comes_and_each_invocation_gets_its_own(lam: Any) -> None:
    name = create_function(lam, {"app.py": ECHO})
    first, body1 = invoke_json(lam, name)
    second, body2 = invoke_json(lam, name)  # warm: the runtime sets _X_AMZN_TRACE_ID per invocation
    f1, f2 = _fields(body1["trace"]), _fields(body2["trace"])
    assert f1["Root"] != f2["Root"] and f1["Root"].startswith("1-") and len(f1["Root"]) == 35
    assert f1["Sampled"] == "0"  # PassThrough with no decision from upstream
    assert _returned(first) == body1["trace"] and _returned(second) == body2["trace"]


def test_node_runtime_sees_the_trace_header(lam: Any) -> None:
    name = create_function(lam, {"index.js": ECHO_NODE}, runtime="nodejs20.x", handler="index.handler")
    resp, body = invoke_json(lam, name)
    assert body["trace"] == _returned(resp) and _fields(body["trace"])["Root"].startswith("1-")


def test_active_function_records_lambdas_segments(server: Server, lam: Any) -> None:
    xray = server.client("xray")
    name = create_function(lam, {"app.py": ECHO}, TracingConfig={"Mode": "Active"})
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    resp, body = invoke_json(lam, name)  # no header: the reservoir samples the first each second
    fields = _fields(body["trace"])
    assert fields["Sampled"] == "1" and _returned(resp) == body["trace"]
    segments = _wait_trace(xray, fields["Root"], 2)
    by_origin = {s["origin"]: s for s in segments}
    assert set(by_origin) == {"AWS::Lambda", "AWS::Lambda::Function"}, segments
    service, fn = by_origin["AWS::Lambda"], by_origin["AWS::Lambda::Function"]
    assert service["name"] == fn["name"] == name
    assert fn["parent_id"] == service["id"] and fn["id"] == fields["Parent"]
    assert [s["name"] for s in fn["subsegments"]] == ["Initialization", "Invocation", "Overhead"]  # a cold start
    assert fn["resource_arn"].endswith(f":function:{name}")
    # a warm invocation (sampled by its caller) has no Initialization
    warm_client = server.client()
    warm_root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    _with_trace_header(warm_client, f"Root={warm_root};Sampled=1")
    _, warm = invoke_json(warm_client, name)
    assert _fields(warm["trace"])["Root"] == warm_root
    again = _wait_trace(xray, warm_root, 2)
    fn2 = next(s for s in again if s["origin"] == "AWS::Lambda::Function")
    assert [s["name"] for s in fn2["subsegments"]] == ["Invocation", "Overhead"]
    summaries = xray.get_trace_summaries(StartTime=started, EndTime=datetime.now(timezone.utc) + timedelta(seconds=5),
                                         FilterExpression=f'service("{name}")')["TraceSummaries"]
    ids = [s["Id"] for s in summaries]
    assert fields["Root"] in ids
    mine = next(s for s in summaries if s["Id"] == fields["Root"])
    assert mine["EntryPoint"]["Name"] == name and mine["EntryPoint"]["Type"] == "AWS::Lambda"
    assert not mine["HasError"] and mine["Duration"] >= 0
    none = xray.get_trace_summaries(StartTime=started, EndTime=datetime.now(timezone.utc), FilterExpression="fault")
    assert fields["Root"] not in [s["Id"] for s in none["TraceSummaries"]]


def test_active_function_error_is_marked(server: Server, lam: Any) -> None:
    xray = server.client("xray")
    name = create_function(lam, {"app.py": "def handler(e, c):\n    raise ValueError('no')\n"},
                           TracingConfig={"Mode": "Active"})
    _with_trace_header(lam, f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Sampled=1")
    resp, _ = invoke_json(lam, name)
    root = _fields(_returned(resp))["Root"]
    fn = next(s for s in _wait_trace(xray, root, 2) if s["origin"] == "AWS::Lambda::Function")
    assert fn["error"] is True and any(s["name"] == "Invocation" and s.get("error") for s in fn["subsegments"])


def _xray_sdk_files(*extra: Any) -> dict[str, str | bytes]:
    """The X-Ray SDK (and ``extra`` packages or modules) from this environment's site-packages, as
    a function's zip would carry them (nothing is downloaded at run time)."""
    import aws_xray_sdk
    import wrapt

    files: dict[str, str | bytes] = {}
    for package in (aws_xray_sdk, wrapt, *extra):
        origin = Path(package.__file__)
        if origin.name != "__init__.py":  # a single-file module
            files[origin.name] = origin.read_bytes()
            continue
        base = origin.parent
        for path in base.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{base.name}/{path.relative_to(base)}"] = path.read_bytes()
    return files


POWERTOOLS_FUNCTION = """from aws_lambda_powertools import Tracer

tracer = Tracer(service="orders")

@tracer.capture_method
def work():
    tracer.put_annotation("order", "o-1")
    return 7

@tracer.capture_lambda_handler
def handler(event, context):
    return {"n": work()}
"""


def test_powertools_tracer_works_unmodified(server: Server, lam: Any) -> None:
    import aws_lambda_powertools
    import jmespath
    import typing_extensions

    xray = server.client("xray")
    files = _xray_sdk_files(aws_lambda_powertools, jmespath, typing_extensions)
    name = create_function(lam, {**files, "app.py": POWERTOOLS_FUNCTION}, TracingConfig={"Mode": "Active"},
                           Timeout=60, MemorySize=512)
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    client = server.client()
    _with_trace_header(client, f"Root={root};Sampled=1")
    resp, body = invoke_json(client, name)
    assert "FunctionError" not in resp and body == {"n": 7}, body
    segments = _wait_trace(xray, root, 2)
    fn = next(s for s in segments if s.get("origin") == "AWS::Lambda::Function")
    names = {e.get("name") for e in _walk(fn)}
    assert {"## handler", "## app.work"} <= names, names
    handler = next(e for e in _walk(fn) if e.get("name") == "## handler")
    work = next(e for e in _walk(fn) if e.get("name") == "## app.work")
    assert handler["annotations"]["ColdStart"] is True and handler["annotations"]["Service"] == "orders"
    assert work["annotations"]["order"] == "o-1" and work["metadata"]["orders"]["app.work response"] == 7


def test_the_xray_sdk_sends_a_subsegment_through_the_daemon(server: Server, lam: Any) -> None:
    xray = server.client("xray")
    name = create_function(lam, {**_xray_sdk_files(), "app.py": XRAY_SDK_FUNCTION}, TracingConfig={"Mode": "Active"},
                           Timeout=30, MemorySize=256)
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    _with_trace_header(lam, f"Root={root};Sampled=1")
    resp, body = invoke_json(lam, name)
    assert "FunctionError" not in resp, body
    segments = _wait_trace(xray, root, 2)
    fn = next(s for s in segments if s.get("origin") == "AWS::Lambda::Function")
    work = [e for s in segments for e in _walk(s) if e.get("name") == "lambent-work"]
    assert work, json.dumps(segments)[:3000]
    assert work[0]["annotations"] == {"tenant": "t1"} and work[0]["metadata"]["default"]["n"] == 42
    # it hangs under the function segment Lambda recorded (the SDK's facade has its id)
    assert any(e.get("name") == "lambent-work" for e in _walk(fn))


def test_put_trace_segments_and_bad_documents(server: Server) -> None:
    xray = server.client("xray")
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    now = time.time()
    good = {"id": os.urandom(8).hex(), "trace_id": root, "name": "my-app", "start_time": now - 1, "end_time": now,
            "fault": True}
    sub = {"id": os.urandom(8).hex(), "trace_id": root, "type": "subsegment", "parent_id": good["id"],
           "name": "db", "start_time": now - 0.5, "end_time": now - 0.2}
    out = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(good), json.dumps(sub), "{bad", json.dumps({"id": 1})])
    codes = sorted(u["ErrorCode"] for u in out["UnprocessedTraceSegments"])
    assert codes == ["InvalidJson", "MissingId"]
    segments = _wait_trace(xray, root, 1)
    assert len(segments) == 1 and segments[0]["subsegments"][0]["name"] == "db"
    summaries = xray.get_trace_summaries(StartTime=datetime.fromtimestamp(now - 60, timezone.utc),
                                         EndTime=datetime.fromtimestamp(now + 60, timezone.utc),
                                         FilterExpression=f'id("{root}") AND fault')["TraceSummaries"]
    assert [s["Id"] for s in summaries] == [root] and summaries[0]["HasFault"]
    assert xray.batch_get_traces(TraceIds=["1-00000000-000000000000000000000000"])["UnprocessedTraceIds"] == [
        "1-00000000-000000000000000000000000"]
    with pytest.raises(xray.exceptions.InvalidRequestException):
        xray.get_trace_summaries(StartTime=datetime.fromtimestamp(now - 60, timezone.utc),
                                 EndTime=datetime.fromtimestamp(now, timezone.utc), FilterExpression="annotation.x = 1")
    with pytest.raises(xray.exceptions.InvalidRequestException):
        xray.get_trace_summaries(StartTime=datetime.fromtimestamp(now - 3 * 86400, timezone.utc),
                                 EndTime=datetime.fromtimestamp(now, timezone.utc))


def test_xray_is_authorised_with_its_iam_actions(server: Server) -> None:
    # the X-Ray API answers on the same endpoint, under the SigV4 scope xray (the root: allowed)
    status, _, body = send_signed(server, "POST", "/TraceSegments", b'{"TraceSegmentDocuments": []}', service="xray")
    assert (status, json.loads(body)) == (200, {"UnprocessedTraceSegments": []})
    iam = server.client("iam")
    user = f"xray-{os.urandom(4).hex()}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    import boto3
    from botocore.config import Config

    client = boto3.client("xray", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                          config=Config(retries={"max_attempts": 0}))
    deadline = time.monotonic() + 5
    while True:
        try:
            client.batch_get_traces(TraceIds=[ROOT])
        except client.exceptions.ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "AccessDeniedException":
                break
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        else:
            pytest.fail("a user without xray:BatchGetTraces read traces")
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "xray:BatchGetTraces", "Resource": "*"}]}))
    assert client.batch_get_traces(TraceIds=[ROOT])["UnprocessedTraceIds"] == [ROOT]


def test_bad_datagrams_and_floods_are_bounded(server: Server, lam: Any) -> None:
    xray = server.client("xray")
    name = create_function(lam, {"app.py": FLOOD_FUNCTION}, TracingConfig={"Mode": "Active"}, Timeout=30)
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    _with_trace_header(lam, f"Root={root};Sampled=1")
    resp, body = invoke_json(lam, name, {"n": 3000})
    assert "FunctionError" not in resp, body
    assert body["bound"] is False  # lambent holds the daemon's port in the sandbox
    assert body["big"] != "sent"
    # the server is fine and answers at once
    _, again = invoke_json(server.client(), name, {"n": 3})
    assert again["sent"] == 3
    segments = _wait_trace(xray, root, 3)
    floods = [s for s in segments if s.get("name") == "flood"]
    # 1000 valid documents among 3000 datagrams: the bucket (a burst of 400 datagrams, 200/s) took
    # the first 400 and what it refilled while they came, a third of them valid; the rest were
    # dropped unread
    allowed = (400 + 200 * (body["elapsed"] + 0.5)) / 3 + 2
    assert 100 <= len(floods) <= min(allowed, 999), (len(floods), body["elapsed"])


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        self.bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_otlp_export_to_a_loopback_receiver(fresh_server: Any) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.bodies = []
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        srv = fresh_server(LAMBENT_TRACING_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces")
        lam = srv.client()
        name = create_function(lam, {"app.py": "def handler(e, c):\n    if e.get('fail'):\n        raise KeyError('k')\n"
                                                "    return 1\n"}, MemorySize=192)
        ok, _ = invoke_json(lam, name)
        bad, _ = invoke_json(lam, name, {"fail": True})
        spans: list[Any] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(spans) < 2:
            spans = []
            for raw in list(_Receiver.bodies):
                req = ExportTraceServiceRequest()
                req.ParseFromString(raw)
                spans += [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
            time.sleep(0.2)
        assert len(spans) == 2, spans

        def attrs(span: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for kv in span.attributes:
                v = kv.value
                out[kv.key] = v.string_value or v.int_value or v.bool_value
            return out

        first, second = sorted(spans, key=lambda s: s.start_time_unix_nano)
        a1, a2 = attrs(first), attrs(second)
        assert first.name == name and a1["faas.name"] == name and a1["faas.version"] == "$LATEST"
        assert a1["faas.invocation_id"] == ok["ResponseMetadata"]["RequestId"]
        assert a1["faas.coldstart"] is True and "faas.coldstart" not in a2 or a2["faas.coldstart"] is False
        assert a1["faas.max_memory"] == 192 * 1024 * 1024 and "error.type" not in a1
        assert a2["error.type"] == "KeyError" and a2["faas.invocation_id"] == bad["ResponseMetadata"]["RequestId"]
        root = _fields(_returned(ok))["Root"]
        assert first.trace_id.hex() == root[2:10] + root[11:]
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_an_event_runs_in_the_trace_it_was_accepted_with(server: Server, lam: Any) -> None:
    xray = server.client("xray")
    name = create_function(lam, {"app.py": ECHO}, TracingConfig={"Mode": "Active"})
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    client = server.client()
    _with_trace_header(client, f"Root={root};Sampled=1")
    resp = client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert resp["StatusCode"] == 202 and _fields(_returned(resp))["Root"] == root
    segments = _wait_trace(xray, root, 2, timeout_s=30)
    service = next(s for s in segments if s.get("origin") == "AWS::Lambda")
    assert service["aws"]["request_id"] == resp["ResponseMetadata"]["RequestId"]
    names = [s["name"] for s in service["subsegments"]]
    assert names == ["Dwell Time", "Attempt #1"]
    # an event accepted without a header gets a trace at once, and the 202 names it
    plain = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert _fields(_returned(plain))["Root"].startswith("1-")


def test_a_queued_event_keeps_its_trace_across_a_restart(fresh_server: Any) -> None:
    # Given an event accepted with a trace header for a function that cannot run it yet
    srv = fresh_server()
    lam = srv.client()
    name = create_function(lam, {"app.py": ECHO}, TracingConfig={"Mode": "Active"})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    client = srv.client()
    _with_trace_header(client, f"Root={root};Sampled=1")
    assert client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    # When the server restarts before the event runs
    srv.stop()
    srv.start()
    lam = srv.client()
    lam.delete_function_concurrency(FunctionName=name)
    # Then the event still runs in the trace it was accepted with (async-queue.db keeps it)
    segments = _wait_trace(srv.client("xray"), root, 2, timeout_s=60)
    assert any(s.get("origin") == "AWS::Lambda" for s in segments), segments


def test_tracing_off_keeps_headers_and_gives_no_daemon(fresh_server: Any) -> None:
    srv = fresh_server(LAMBENT_TRACING_ENABLED="0")
    lam = srv.client()
    name = create_function(lam, {"app.py": ECHO}, TracingConfig={"Mode": "Active"})
    resp, body = invoke_json(lam, name)
    assert body["daemon"] is None and _fields(body["trace"])["Sampled"] == "1" and _returned(resp) == body["trace"]
    time.sleep(1.5)  # longer than the store's commit interval
    assert srv.client("xray").batch_get_traces(TraceIds=[_fields(body["trace"])["Root"]])["Traces"] == []


def test_trace_summaries_page_with_next_token(server: Server) -> None:
    xray = server.client("xray")
    now = time.time()
    service = f"pages-{os.urandom(4).hex()}"
    roots = {f"1-{int(now):08x}-{os.urandom(12).hex()}" for _ in range(150)}
    docs = [json.dumps({"id": os.urandom(8).hex(), "trace_id": r, "name": service, "start_time": now - 1, "end_time": now})
            for r in roots]
    assert xray.put_trace_segments(TraceSegmentDocuments=docs)["UnprocessedTraceSegments"] == []
    start = datetime.fromtimestamp(now - 60, timezone.utc)
    end = datetime.fromtimestamp(now + 60, timezone.utc)
    deadline = time.monotonic() + 15
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen, token, pages = [], None, 0
        while True:
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            page = xray.get_trace_summaries(StartTime=start, EndTime=end, FilterExpression=f'service("{service}")',
                                            **kwargs)
            seen += [s["Id"] for s in page["TraceSummaries"]]
            pages += 1
            token = page.get("NextToken")
            if not token or pages > 20:
                break
        if len(seen) >= 150:
            break
        time.sleep(0.3)
    assert sorted(seen) == sorted(roots) and pages >= 2  # every trace once, over more than one page
    paginator = xray.get_paginator("get_trace_summaries")
    ids = [s["Id"] for p in paginator.paginate(StartTime=start, EndTime=end, FilterExpression=f'service("{service}")')
           for s in p["TraceSummaries"]]
    assert sorted(ids) == sorted(roots)
