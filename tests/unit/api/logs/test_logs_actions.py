"""The logs:* IAM actions and the log-group / log-stream ARNs they authorise."""

from __future__ import annotations

from lambent.api.logs_api import LOGS
from lambent.api.protocols.model import service_model
from lambent.iam.actions_logs import actions

R, A = "us-east-1", "000000000000"



def test_every_served_operation_has_an_action() -> None:
    ops = {a.operation for a in actions()}
    served = {op for op in service_model("logs").operation_names if _registered(op)}
    assert served == ops
    assert all(a.service == "logs" and a.action == f"logs:{a.operation}" for a in actions())


def _registered(op: str) -> bool:
    try:
        LOGS.entry(op)
    except Exception:
        return False
    return True


def test_resources_are_log_group_and_log_stream_arns() -> None:
    acts = {a.operation: a for a in actions()}
    g = acts["DeleteLogGroup"].checks({"logGroupName": "/aws/lambda/f"}, R, A, "")
    assert g[0].resource == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f"
    s = acts["PutLogEvents"].checks({"logGroupName": "g", "logStreamName": "2026/01/01/[$LATEST]x"}, R, A, "")
    assert s[0].resource == "arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:2026/01/01/[$LATEST]x"
    by_arn = acts["FilterLogEvents"].checks(
        {"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:/app:*"}, R, A, "")
    assert by_arn[0].resource == "arn:aws:logs:us-east-1:000000000000:log-group:/app"
    assert acts["DescribeLogGroups"].checks({}, R, A, "")[0].resource == "*"
