"""The authorisation step of the request path: who may call this operation on that resource.

Runs in :class:`lambent.api.dispatch.Dispatcher` after the params are parsed and before the
handler, for every service except IAM and STS (their handlers authorise on the stored entity's
exact ARN, path included, and AssumeRole evaluates the role's trust policy:
lambent/api/iam_api.py, lambent/iam/sts.py). The action and resource ARNs of each operation are
:mod:`lambent.iam.actions`'; the evaluation (identity policies, the function's resource-based
policy, cross-account rules) is :func:`lambent.iam.enforce.authorize`.

- The root of the server's account may do everything in it: no evaluation (the hot path).
- This server hosts Lambda, Scheduler and deployment resources of one account (the server's,
  ``LAMBENT_ACCOUNT_ID``). A principal of another account reaches them only by ARN and only
  where the resource's policy and its own identity policies allow (AWS's cross-account rule);
  a call that would act on resources of its own account (a bare function name, a list, a
  create) is refused with AccessDenied saying so (docs/parity.md), so nothing of the server
  account leaks to it through a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambent.errors import AccessDenied
from lambent.iam.enforce import authorize, checks_for
from lambent.iam.model import Principal, PrincipalKind
from lambent.platform import Platform

#: Services whose handlers authorise each call themselves.
SELF_AUTHORISED = frozenset({"iam", "sts"})
#: Services whose resources every account has of its own (VPCs; CloudWatch metrics): the
#: one-host-account rule below does not apply to them.
PER_ACCOUNT = frozenset({"ec2", "monitoring"})


def _account_of(arn: str) -> str | None:
    """The account field of an ARN (``arn:partition:service:region:account:...``); None for ``*``."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) > 4 else None


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
    if principal.kind is PrincipalKind.ROOT and principal.account_id == home:
        return
    region = platform.settings.region
    if principal.account_id != home and service not in PER_ACCOUNT:
        for check in checks_for(principal, service, operation, params, region=region, account=principal.account_id):
            if _account_of(check.resource) in (None, "", principal.account_id):
                raise AccessDenied(
                    f"User: {principal.arn} is not authorized to perform: {check.action} on resource: "
                    f"{check.resource} because this lambent server hosts {service} resources of account "
                    f"{home} only; other accounts reach them by ARN where their policies allow."
                )
    authorize(
        platform.authorizer, principal, service, operation, params,
        region=region, account=principal.account_id,
        resource_policy_of=platform.function_policies.for_arn,
        source_ip=source_ip, secure_transport=secure_transport,
    )
