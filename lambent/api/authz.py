"""The authorisation step of the request path: who may call this operation on that resource.

Runs in :class:`lambent.api.dispatch.Dispatcher` after the params are parsed and before the
handler, for every service except IAM and STS (their handlers authorise on the stored entity's
exact ARN, path included, and AssumeRole evaluates the role's trust policy:
lambent/api/iam_api.py, lambent/iam/sts.py). The action and resource ARNs of each operation are
:mod:`lambent.iam.actions`'; the evaluation (identity policies, the function's resource-based
policy, cross-account rules) is :func:`lambent.iam.enforce.authorize`.

- The root of the server's account may do everything in it: no evaluation (the hot path), unless
  the call names another account's resource by ARN.
- Every account has its own functions, schedules, deployments and log groups: a bare name or a
  list acts on the caller's own. A principal reaches another account's function only by its ARN
  and only where the resource's policy and its own identity policies allow (AWS's cross-account
  rule, :func:`lambent.iam.enforce.authorize`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lambent.iam.enforce import authorize
from lambent.iam.model import Principal, PrincipalKind
from lambent.platform import Platform

#: Services whose handlers authorise each call themselves.
SELF_AUTHORISED = frozenset({"iam", "sts"})
#: An account id in an ARN or partial ARN (``...:123456789012:function:f``).
_ACCOUNT_IN = re.compile(r"(?:^|:)(\d{12}):")


def _names_other_account(params: Mapping[str, Any], home: str) -> bool:
    """Whether a top-level member names a resource of an account other than ``home`` (an ARN or
    a partial ARN): then even ``home``'s root is evaluated (cross-account rules apply to it)."""
    for value in params.values():
        if isinstance(value, str) and ":" in value:
            for account in _ACCOUNT_IN.findall(value):
                if account != home:
                    return True
    return False


def authorize_call(
    platform: Platform,
    principal: Principal,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    source_ip: str | None,
    secure_transport: bool,
) -> None:
    """Nothing if ``principal`` may make this call; AccessDenied (AWS's message) otherwise."""
    home = platform.settings.account_id
    if service in SELF_AUTHORISED:
        return
    if principal.kind is PrincipalKind.ROOT and principal.account_id == home and not _names_other_account(params, home):
        return
    region = platform.settings.region
    authorize(
        platform.authorizer, principal, service, operation, params,
        region=region, account=principal.account_id,
        resource_policy_of=platform.function_policies.for_arn,
        source_ip=source_ip, secure_transport=secure_transport,
    )
