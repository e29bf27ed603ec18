"""Malformed requests, signed but sent raw (no SDK validation in the way): every operation that
takes a body is sent bodies of the wrong JSON type, wrong member types and broken encodings, odd
paths and query strings. None may answer 5xx, and every 4xx carries ``x-amzn-ErrorType``."""

from __future__ import annotations

import itertools

from harness import Server, create_function, send_signed

ACCOUNT = "000000000000"
LAMBDA_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
TARGET = f'"Target": {{"Arn": "{LAMBDA_ARN}x", "RoleArn": "arn:aws:iam::{ACCOUNT}:role/r"}}'

BODIES = [
    b"", b"[]", b'"x"', b"null", b"{", b'{"a":', b"\xff\xfe", b"{}", b'{"FunctionName": 5}',
    b'{"MemorySize": "x", "Timeout": [], "Environment": "x", "Code": "x", "Role": 1, "Handler": {}, "Runtime": 3, "FunctionName": "x"}',
    b'{"RoutingConfig": {"AdditionalVersionWeights": {"1": "x"}}, "FunctionVersion": 1, "Name": []}',
    b'{"DestinationConfig": "x", "MaximumRetryAttempts": "x", "MaximumEventAgeInSeconds": -1}',
    b'{"DestinationConfig": {"OnSuccess": "x"}}', b'{"DestinationConfig": {"OnSuccess": {"Destination": 5}}}',
    b'{"Tags": [1,2]}', b'{"Tags": {"a": 1}}', b'{"ReservedConcurrentExecutions": "1"}',
    b'{"ReservedConcurrentExecutions": 1.5}', b'{"Description": 5}', b'{"RevisionId": 5}', b'{"ZipFile": 5}',
    b'{"ZipFile": "!!!"}', b'{"CodeSha256": 5}', b'{"Environment": {"Variables": {"AA": 5}}}',
    b'{"Environment": {"Variables": []}}', b'{"EphemeralStorage": {"Size": "x"}}', b'{"TracingConfig": "x"}',
    b'{"LoggingConfig": "x"}', b'{"DeadLetterConfig": "x"}', b'{"DeadLetterConfig": {"TargetArn": 5}}',
    b'{"Architectures": "x86_64"}', b'{"Layers": "x"}', b'{"Publish": "yes"}',
]
SCHEDULE_BODIES = [
    b'{"ScheduleExpression": 5, "FlexibleTimeWindow": "x", "Target": "x"}',
    b'{"ScheduleExpression": "rate(1 minutes)", "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": {"Arn": 5, "RoleArn": 1}}',
    b'{"ScheduleExpression": "at(2020-13-45T99:00:00)", "FlexibleTimeWindow": {"Mode": "OFF"}, ' + TARGET.encode() + b"}",
    b'{"ScheduleExpression": "cron(0 0 31 2 ? *)", "FlexibleTimeWindow": {"Mode": "OFF"}, "ScheduleExpressionTimezone": "Mars/Olympus", '
    + TARGET.encode() + b"}",
    b'{"StartDate": "x", "EndDate": [], "ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "FLEXIBLE"}, '
    + TARGET.encode() + b"}",
]


def test_malformed_requests_get_aws_shaped_client_errors(server: Server) -> None:
    lam = server.client()
    name = create_function(lam, {"app.py": "def handler(e, c):\n    return e\n"})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    fn = f"/2015-03-31/functions/{name}"
    cases: list[tuple[str, str, bytes, str, dict[str, str]]] = []
    lambda_targets = [
        ("POST", "/2015-03-31/functions"), ("PUT", fn + "/configuration"), ("PUT", fn + "/code"),
        ("POST", fn + "/versions"), ("POST", fn + "/aliases"), ("PUT", fn + "/aliases/live"),
        ("PUT", f"/2017-10-31/functions/{name}/concurrency"), ("PUT", f"/2019-09-25/functions/{name}/event-invoke-config"),
        ("POST", f"/2019-09-25/functions/{name}/event-invoke-config"), ("POST", f"/2017-03-31/tags/{LAMBDA_ARN}{name}"),
        ("POST", fn + "/invocations"), ("POST", f"/2014-11-13/functions/{name}/invoke-async/"),
    ]
    cases += [(m, p, b, "lambda", {}) for (m, p), b in itertools.product(lambda_targets, BODIES)]
    cases += [(m, p, b"", "lambda", {}) for m, p in [
        ("GET", fn + "?Qualifier=" + "x" * 200), ("GET", "/2015-03-31/functions/" + "a" * 300),
        ("GET", "/2015-03-31/functions/%ff"), ("GET", "/2015-03-31/functions/?MaxItems=abc"),
        ("GET", "/2015-03-31/functions/?MaxItems=-1"), ("GET", "/2015-03-31/functions/?Marker=zzz"),
        ("GET", fn + "/versions?MaxItems=0"), ("GET", fn + "/aliases?FunctionVersion=" + "9" * 50),
        ("DELETE", fn + "?Qualifier=$LATEST"), ("GET", "/2017-03-31/tags/not-an-arn"),
        ("DELETE", f"/2017-03-31/tags/{LAMBDA_ARN}{name}"),
        ("GET", f"/2019-09-25/functions/{name}/event-invoke-config/list?MaxItems=x"),
        ("GET", f"/2019-09-25/functions/{name}/event-invoke-config/list?Marker=%%%"),
        ("GET", "/2015-03-31/functions/arn:aws:lambda:us-east-1:999999999999:function:x"),
        ("GET", "/2015-03-31/functions/arn:aws:lambda:eu-west-1:000000000000:function:x:1:2"),
    ]]
    cases += [("POST", fn + "/invocations", b"{}", "lambda", h) for h in [
        {"X-Amz-Invocation-Type": "Nope"}, {"X-Amz-Log-Type": "x"}, {"X-Amz-Client-Context": "!!!"},
        {"X-Amz-Client-Context": "x" * 5000}, {"Content-Type": "text/plain"},
    ]]
    schedule_targets = [("POST", "/schedules/fz"), ("PUT", "/schedules/fz"), ("POST", "/schedule-groups/g1"),
                        ("POST", f"/tags/arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/default")]
    cases += [(m, p, b, "scheduler", {}) for (m, p), b in itertools.product(schedule_targets, BODIES + SCHEDULE_BODIES)]

    problems = []
    for method, path, body, service, headers in cases:
        status, res_headers, out = send_signed(server, method, path, body, service, headers)
        error_type = res_headers.get("x-amzn-errortype")
        if status >= 500 or (status >= 400 and not error_type):
            problems.append(f"{status} {service} {method} {path[:80]} {body[:60]!r} {headers}: {out[:160]!r}")
    assert not problems, f"{len(problems)} of {len(cases)} requests:\n" + "\n".join(problems)
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active"  # still serving
