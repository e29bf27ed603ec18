"""IAM actions of the CloudWatch metrics operations lambent serves (SigV4 service ``monitoring``).

"Actions, resources, and condition keys for Amazon CloudWatch" (Service Authorization Reference,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html):
each operation is ``cloudwatch:<Operation>``; GetMetricData, GetMetricStatistics, ListMetrics and
PutMetricData support no resource-level permissions (resource ``*``); PutMetricData takes the
condition key ``cloudwatch:namespace`` (the request's Namespace), so a policy can confine a
principal to its own custom namespaces.

Keyed by the API layer's service name: the Service lambent/api/services.py builds for the
``monitoring`` scope (botocore's ``cloudwatch`` model).
"""

from __future__ import annotations

from collections.abc import Mapping

from lambent.iam.actions import Action, Params, Value

SERVICE = "monitoring"


def _star(params: Params, region: str, account: str, caller: str) -> str:
    return "*"


def _namespace(params: Params) -> Mapping[str, Value]:
    return {"cloudwatch:namespace": str(params.get("Namespace", ""))}


def actions() -> list[Action]:
    return [
        Action(SERVICE, "GetMetricData", "cloudwatch:GetMetricData", _star),
        Action(SERVICE, "GetMetricStatistics", "cloudwatch:GetMetricStatistics", _star),
        Action(SERVICE, "ListMetrics", "cloudwatch:ListMetrics", _star),
        Action(SERVICE, "PutMetricData", "cloudwatch:PutMetricData", _star, context=_namespace),
    ]
