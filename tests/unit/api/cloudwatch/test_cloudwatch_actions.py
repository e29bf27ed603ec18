"""The IAM actions of the served CloudWatch operations: one per registered handler (so none is
refused fail-closed once the table lists them), resource ``*``, PutMetricData's namespace key."""

from __future__ import annotations

from lambent.api.cloudwatch_api import CLOUDWATCH, SIGV4_SERVICE
from lambent.iam.actions_cloudwatch import actions


def test_every_registered_operation_has_its_action() -> None:
    table = {a.operation: a for a in actions()}
    assert set(table) == set(CLOUDWATCH.unhandled())  # the registered operations
    for op, action in table.items():
        assert (action.service, action.action) == (SIGV4_SERVICE, f"cloudwatch:{op}")


def test_checks_act_on_star_and_put_names_its_namespace() -> None:
    table = {a.operation: a for a in actions()}
    [put] = table["PutMetricData"].checks({"Namespace": "Shop"}, "us-east-1", "000000000000", "arn:aws:iam::0:user/u")
    assert (put.action, put.resource, dict(put.context)) == (
        "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Shop"})
    [read] = table["GetMetricData"].checks({}, "us-east-1", "000000000000", "arn:aws:iam::0:user/u")
    assert (read.resource, dict(read.context)) == ("*", {})
