"""Authorise one API call: its IAM action(s) on its resource(s), with the request's context keys.

:func:`authorize` is what the request path calls once per operation, after SigV4 has said who
the caller is and before the handler runs. It looks the operation up in
:data:`lambent.iam.actions.ACTIONS` (precomputed per operation: no per-call string building
beyond the resource ARN and the context), evaluates each :class:`~lambent.iam.actions.Check`
through the :class:`~lambent.iam.authorize.Authorizer` — identity policies, plus the resource's
own policy when the resource is a Lambda function and the caller supplies ``resource_policy_of``
— and raises :class:`~lambent.errors.AccessDenied` with AWS's message for the first check that
is not allowed ("Troubleshoot access denied error messages", IAM User Guide:
``User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no
identity-based policy allows the ACTION action`` / ``... with an explicit deny in an
identity-based policy`` / the resource-based variants; :mod:`lambent.iam.policy.messages`).

Fails closed: an operation without an entry in the table is refused (ServiceError, naming it),
never let through. The global context keys come from the request as the server saw it —
``aws:SourceIp`` (the peer, never a header), ``aws:SecureTransport``, ``aws:RequestedRegion``;
``aws:CurrentTime``/``aws:EpochTime`` and the caller's own keys (``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:userid``, ``aws:username``, ``aws:PrincipalType``) are the
engine's (``Request.build``), which never lets a request-supplied value stand for the caller's.
A key of an operation's own (``lambda:Principal``, ``aws:RequestTag/...``) cannot override those
global keys either: they are written last.

Wiring (the request path, once the principal is known and the params are parsed)::

    authorize(platform.authorizer, principal, call.service, call.operation, call.params,
              region=server_region, account=principal.account_id,
              resource_policy_of=platform.function_policies.for_arn,
              source_ip=scope["client"][0], secure_transport=scope["scheme"] == "https")

IAM and STS handlers authorise themselves today (lambent/api/iam_api.py on the stored entity's
exact ARN, path included; lambent/iam/sts.py with the role's trust policy); their entries here
name the same actions, with ``/`` for a path the params do not give.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambent.errors import AccessDenied, ServiceError
from lambent.iam.actions import ACTIONS, Check, Value
from lambent.iam.authorize import Authorizer
from lambent.iam.model import Principal
from lambent.iam.policy import CompiledPolicy, ContextValue, access_denied_message

#: resource ARN -> the resource's compiled resource-based policy, if it has one
ResourcePolicyOf = Callable[[str], "CompiledPolicy | None"]
#: resource ARN -> the resource's tags (for aws:ResourceTag/${TagKey}), if it exists
ResourceTagsOf = Callable[[str], "Mapping[str, str] | None"]

#: context keys a Check may not set (they describe the request or the caller, not the operation)
_GLOBAL = frozenset({"aws:sourceip", "aws:securetransport", "aws:requestedregion", "aws:currenttime", "aws:epochtime"})


def _context(check: Check, region: str, tags: Mapping[str, str] | None) -> dict[str, ContextValue]:
    """The operation's own keys, then the resource's tags, then aws:RequestedRegion: what the
    server knows is written last, so nothing taken from the params can stand in for it (the
    request's aws:SourceIp and aws:SecureTransport go to ``Request.build`` itself, after these)."""
    ctx: dict[str, ContextValue] = {}
    if check.context:
        own: Mapping[str, Value] = check.context
        for k, v in own.items():
            low = k.lower()
            if low not in _GLOBAL and not low.startswith("aws:resourcetag/"):
                ctx[k] = v
    if tags:
        for k, v in tags.items():
            ctx[f"aws:ResourceTag/{k}"] = v
    ctx["aws:RequestedRegion"] = region
    return ctx


def checks_for(principal: Principal, service: str, operation: str, params: Mapping[str, Any], *, region: str,
               account: str) -> tuple[Check, ...]:
    """The checks a call needs (empty for an operation that needs no permission). ServiceError
    for an operation lambent has no IAM action for."""
    spec = ACTIONS.get((service, operation))
    if spec is None:
        raise ServiceError(f"no IAM action is defined for the {service} operation {operation}; refused",
                           operation=operation)
    if spec.always_allowed:
        return ()
    return spec.checks(params, region, account, principal.arn)


def _account_of(arn: str) -> str | None:
    """The account field of ``arn`` (None if it has none)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def authorize(
    authorizer: Authorizer,
    principal: Principal,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    account: str,
    resource_policy_of: ResourcePolicyOf | None = None,
    source_ip: str | None = None,
    secure_transport: bool = False,
    resource_tags_of: ResourceTagsOf | None = None,
) -> None:
    """Nothing if ``principal`` may make this call; AccessDenied with AWS's message otherwise.

    ``account`` is the account the request acts in (the caller's); a resource named by an ARN
    of another account is evaluated cross-account (identity AND resource policy must allow).
    ``resource_policy_of`` and ``resource_tags_of`` are asked only about resources that carry
    their own policy (Lambda functions; for sts:AssumeRole the role, whose trust policy it is:
    lambent/iam/sts.py evaluates AssumeRole that way itself); the tags become
    ``aws:ResourceTag/${TagKey}`` (Lambda's "Function actions" table lists it for every function
    action)."""
    for check in checks_for(principal, service, operation, params, region=region, account=account):
        if check.cross_account_refusal is not None and _account_of(check.resource) not in (None, account):
            raise AccessDenied(check.cross_account_refusal, caller=principal.arn, action=check.action,
                               resource=check.resource)
        policy = tags = None
        if check.resource_policy:
            if resource_policy_of is not None:
                policy = resource_policy_of(check.resource)
            if resource_tags_of is not None:
                tags = resource_tags_of(check.resource)
        found = authorizer.evaluate(principal, check.action, check.resource, resource_policy=policy,
                                    context=_context(check, region, tags), source_ip=source_ip,
                                    secure_transport=secure_transport)
        if not found.allowed:
            raise AccessDenied(access_denied_message(principal.arn, check.action, check.resource, found),
                               caller=principal.arn, action=check.action, resource=check.resource)
