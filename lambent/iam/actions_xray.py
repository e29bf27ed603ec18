"""IAM actions of the X-Ray operations lambent serves (SigV4 service ``xray``).

"Actions, resources, and condition keys for AWS X-Ray" (Service Authorization Reference,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html): each
operation is ``xray:<Operation>``; PutTraceSegments, GetTraceSummaries and BatchGetTraces support
no resource-level permissions (resource ``*``). AWS's managed ``AWSXRayDaemonWriteAccess``
grants ``xray:PutTraceSegments``; a function's execution role needs it to call PutTraceSegments
itself (its daemon's segments need no permission: the daemon is lambent's).
"""

from __future__ import annotations

from lambent.iam.actions import Action, Params

SERVICE = "xray"


def _star(params: Params, region: str, account: str, caller: str) -> str:
    return "*"


def actions() -> list[Action]:
    return [
        Action(SERVICE, "PutTraceSegments", "xray:PutTraceSegments", _star),
        Action(SERVICE, "GetTraceSummaries", "xray:GetTraceSummaries", _star),
        Action(SERVICE, "BatchGetTraces", "xray:BatchGetTraces", _star),
    ]
