"""Lambda API: AddPermission, RemovePermission and GetPolicy (2015-03-31).

Handlers of the protocol layer; the rules (statements, conflicts, RevisionIds, the 20 KB limit)
are :mod:`lambent.iam.function_policies`'. ``FunctionName`` is checked by
:meth:`FunctionService.ref` (AWS's path pattern and answers), as the other Lambda operations do;
the function and its version or alias must exist, answered as the other operations answer
(``FunctionService.resolve``), except where AWS words it otherwise: RemovePermission on a missing
function says "No policy found for: ARN", GetPolicy says "The resource you requested does not
exist." whatever is missing.

RevisionIds are AWS's: GetPolicy reports the RevisionId of the function version or alias the
policy belongs to, and AddPermission / RemovePermission check a given RevisionId against it and
give that version or alias a new one (FunctionService.revision_of / set_revision), which
GetFunction / GetAlias then show.

Changes hold the function's registry lock, so a concurrent DeleteFunction (whose change hook
forgets the function's policies) happens wholly before or after them.
"""

from __future__ import annotations

import uuid
from typing import Any

from lambent import arns
from lambent.api.dispatch import Call
from lambent.api.services import LAMBDA
from lambent.errors import InvalidParameterValue, ResourceNotFound
from lambent.iam.function_policies import LATEST_REFUSED, NOT_FOUND, FunctionPolicies, Permission
from lambent.platform import Platform

#: Member paths the domain validates itself (FunctionService.ref: AWS's path pattern and answers).
FUNCTION_NAME = frozenset({"functionName"})

_ADD_MEMBERS = ("FunctionName", "StatementId", "Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken",
                "Qualifier", "RevisionId", "PrincipalOrgID", "FunctionUrlAuthType")

# Transitional, until the platform builds FunctionPolicies itself (Platform.function_policies,
# loaded after the function registry, its function_changed hooked to FunctionService.on_change):
# one per platform, made on first use. Keyed weakly: it lives exactly as long as its platform.
def policies_of(p: Platform) -> FunctionPolicies:
    """The platform's function policies (lambent/iam/function_policies.py)."""
    return p.function_policies


def _name_and_qualifier(call: Call) -> tuple[arns.FunctionKey, str | None]:
    return call.platform.functions.ref(call.params["FunctionName"], call.params.get("Qualifier"),
                                       account_id=call.principal.account_id)


@LAMBDA.register("AddPermission", skip=FUNCTION_NAME, handled=dict.fromkeys(_ADD_MEMBERS))
async def add_permission(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name, qualifier = _name_and_qualifier(call)
    if qualifier == "$LATEST":
        raise InvalidParameterValue(LATEST_REFUSED)
    policies = policies_of(p)
    permission = Permission(
        statement_id=params["StatementId"], action=params["Action"], principal=params["Principal"],
        source_arn=params.get("SourceArn"), source_account=params.get("SourceAccount"),
        principal_org_id=params.get("PrincipalOrgID"), event_source_token=params.get("EventSourceToken"),
        function_url_auth_type=params.get("FunctionUrlAuthType"),
    )
    async with p.functions.locked(name) as fn:
        p.functions.resolve(name, qualifier)
        new_revision = str(uuid.uuid4())
        statement = await policies.add(name, qualifier, permission, revision_id=params.get("RevisionId"),
                                       target_revision_id=p.functions.revision_of(fn, qualifier),
                                       new_revision_id=new_revision)
        await p.functions.set_revision(fn, qualifier, new_revision)
    return {"Statement": statement}


@LAMBDA.register("RemovePermission", skip=FUNCTION_NAME,
                 handled=dict.fromkeys(("FunctionName", "StatementId", "Qualifier", "RevisionId")))
async def remove_permission(call: Call) -> None:
    p, params = call.platform, call.params
    name, qualifier = _name_and_qualifier(call)
    if p.functions.registry.get(name) is None:
        raise ResourceNotFound(f"No policy found for: {p.functions.arn(name)}")
    policies = policies_of(p)
    async with p.functions.locked(name) as fn:
        p.functions.resolve(name, qualifier)
        new_revision = str(uuid.uuid4())
        await policies.remove(name, qualifier, params["StatementId"], revision_id=params.get("RevisionId"),
                              target_revision_id=p.functions.revision_of(fn, qualifier), new_revision_id=new_revision)
        await p.functions.set_revision(fn, qualifier, new_revision)


@LAMBDA.register("GetPolicy", skip=FUNCTION_NAME, handled=dict.fromkeys(("FunctionName", "Qualifier")))
async def get_policy(call: Call) -> dict[str, Any]:
    p = call.platform
    name, qualifier = _name_and_qualifier(call)
    policy = policies_of(p).get(name, qualifier)
    fn = p.functions.registry.get(name)
    if fn is None:  # deleted since: policies_of(p).get saw it (the same event-loop turn)
        raise ResourceNotFound(NOT_FOUND)
    return {"Policy": policy.document, "RevisionId": p.functions.revision_of(fn, qualifier)}
