"""STS API (2011-06-15, query protocol): GetCallerIdentity and AssumeRole, on the protocol layer.

AssumeRole's rules are the domain's (:mod:`lambent.iam.sts`): the trust policy and the caller's
identity policies are evaluated by the policy engine (ExternalId is in the request context, for
``sts:ExternalId`` conditions); the account root cannot assume roles; an unknown role and a
refused trust answer the same AccessDenied. Members lambent does not act on (session policies,
tags, MFA, SourceIdentity, provided contexts) are refused by the layer, naming them: accepting
them silently would grant more than the caller asked for, or skip a check it relies on.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from lambent.api.dispatch import Call
from lambent.api.iam_api import iam_of, principal_of
from lambent.api.services import STS
from lambent.iam.sts import assume_role as assume, caller_identity




@STS.register("GetCallerIdentity")
async def get_caller_identity(call: Call) -> dict[str, Any]:
    return caller_identity(principal_of(call))


@STS.register("AssumeRole", handled={"RoleArn": None, "RoleSessionName": None, "DurationSeconds": None,
                                           "ExternalId": None})
async def assume_role(call: Call) -> dict[str, Any]:
    p = call.params
    issued = await asyncio.to_thread(
        assume, iam_of(call), principal_of(call), p["RoleArn"], p["RoleSessionName"], p.get("DurationSeconds"),
        external_id=p.get("ExternalId"),
    )
    s = issued.session
    return {
        "Credentials": {
            "AccessKeyId": s.access_key_id,
            "SecretAccessKey": s.secret_access_key,
            "SessionToken": issued.session_token,
            "Expiration": datetime.fromtimestamp(s.expires_at, timezone.utc),
        },
        "AssumedRoleUser": {"AssumedRoleId": s.assumed_role_id, "Arn": s.arn},
    }
