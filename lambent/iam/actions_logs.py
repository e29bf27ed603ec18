"""IAM actions of the CloudWatch Logs operations lambent serves (service ``logs``).

"Actions, resources, and condition keys for Amazon CloudWatch Logs" (Service Authorization
Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html):
each operation is ``logs:<Operation>``; group operations act on
``arn:aws:logs:REGION:ACCOUNT:log-group:NAME``, stream operations (GetLogEvents, PutLogEvents,
CreateLogStream, DeleteLogStream) on ``...:log-group:NAME:log-stream:STREAM``; DescribeLogGroups takes ``*`` (it
lists). A group named by ARN (``logGroupIdentifier``) is authorised on the name that ARN carries,
in the request's account (the Logs API serves the server's account only).
"""

from __future__ import annotations

from lambent.iam.actions import Action, Params, ResourceOf


def _group_name(params: Params) -> str:
    name = params.get("logGroupName")
    if name is None:
        ident = str(params.get("logGroupIdentifier", ""))
        if ident.startswith("arn:"):
            parts = ident.split(":", 6)
            ident = parts[6].removesuffix(":*") if len(parts) == 7 else ""
        name = ident
    return str(name)


def _group(params: Params, region: str, account: str, caller: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{_group_name(params)}"


def _stream(params: Params, region: str, account: str, caller: str) -> str:
    return f"{_group(params, region, account, caller)}:log-stream:{params.get('logStreamName', '')}"


def _star(params: Params, region: str, account: str, caller: str) -> str:
    return "*"


_OPERATIONS: tuple[tuple[str, ResourceOf], ...] = (
    ("DescribeLogGroups", _star),
    ("CreateLogGroup", _group),
    ("DeleteLogGroup", _group),
    ("PutRetentionPolicy", _group),
    ("DeleteRetentionPolicy", _group),
    ("DescribeLogStreams", _group),
    ("FilterLogEvents", _group),
    ("CreateLogStream", _stream),
    ("DeleteLogStream", _stream),
    ("GetLogEvents", _stream),
    ("PutLogEvents", _stream),
)


def actions() -> list[Action]:
    return [Action("logs", op, f"logs:{op}", resource) for op, resource in _OPERATIONS]
