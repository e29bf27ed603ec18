"""The IAM action, resource ARN(s) and condition keys of every operation lambent serves.

One table, :data:`ACTIONS`, keyed by (service, operation) as the API layer names them (the
SigV4 service and botocore's operation name), built once at import. Each :class:`Action` turns an
operation's parsed params into the :class:`Check` s AWS makes for it: the operation's own action
on the resource it acts on, then any dependent action (``iam:PassRole`` for the execution role of
CreateFunction / UpdateFunctionConfiguration, for a schedule's target role).

Action names and resource scoping follow AWS's Service Authorization Reference:

- "Actions, resources, and condition keys for AWS Lambda"
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
  (Invoke is ``lambda:InvokeFunction``; the other operations are their own names; ListFunctions
  and GetAccountSettings take no resource, ``*``; every other operation acts on ``function*``;
  CreateFunction depends on ``iam:PassRole``; AddPermission takes ``lambda:Principal`` and
  ``lambda:FunctionUrlAuthType``; CreateFunction / UpdateFunctionConfiguration take
  ``lambda:Layer``, ``lambda:SubnetIds``, ``lambda:SecurityGroupIds``,
  ``lambda:CodeSigningConfigArn``; tagging takes ``aws:RequestTag/${TagKey}`` and ``aws:TagKeys``).
- "Fine-tuning the Resources and Conditions sections of policies" (Lambda developer guide,
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html), "Function
  resource names": Lambda compares the policy's Resource "with both the FunctionName and
  Qualifier passed in API calls"; a policy on the unqualified ARN denies requests that name a
  qualified one, ``function:f:*`` covers every qualified ARN but not the unqualified one, and
  ``function:f*`` both. Its "Function actions" table gives the condition keys per action;
  ``lambda:FunctionArn`` belongs to event source mappings and function URL configs, which
  lambent does not serve, so no served operation sets it.
- "Actions, resources, and condition keys for Amazon EventBridge Scheduler" (schedule
  ``arn:aws:scheduler:REGION:ACCOUNT:schedule/GROUP/NAME``, schedule group
  ``arn:aws:scheduler:REGION:ACCOUNT:schedule-group/GROUP``; Create/UpdateSchedule depend on
  ``iam:PassRole``), "... for AWS Identity and Access Management" (``iam:<Operation>`` on the
  user, role or policy; ``iam:PolicyARN`` for Attach/Detach; ``iam:PassedToService`` for
  PassRole), "... for AWS Security Token Service" (``sts:AssumeRole`` on the role;
  GetCallerIdentity needs no permission: "No permissions are required to perform this operation"
  — AWS STS API reference, GetCallerIdentity).
- lambent's own API (deployments): ``lambent:<Operation>``; CreateDeployment and a filtered
  ListDeployments act on the function's (unqualified) ARN, Get/StopDeployment on
  ``arn:aws:lambent:REGION:ACCOUNT:deployment/ID``, an unfiltered ListDeployments on ``*``
  (docs/iam-policies.md).

A function named by name, partial ARN or full ARN resolves to the full ARN, in the ARN's own
account and region when it names them (:mod:`lambent.arns`): the resource's account is the ARN's,
so naming another account's function is a cross-account request. An operation that acts on the
unqualified function authorises the unqualified ARN even when the name carries a qualifier (the
handler refuses or ignores it; a grant on ``function:f:*`` never stands in for ``function:f``).

Pure: no I/O, no state. IAM entity paths are not looked up here (a user, role or policy whose
path is not in the params is named with ``/``): lambent/api/iam_api.py authorises IAM operations
on the stored entity's exact ARN itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lambent.arns import function_arn, parse_function_name, resolve_qualifier

#: A context key's value as the engine takes it (a str, or several).
Value = str | tuple[str, ...]
Params = Mapping[str, Any]
#: (params, region, account the request acts in, caller's ARN) -> resource ARN
ResourceOf = Callable[[Params, str, str, str], str]
ContextOf = Callable[[Params], Mapping[str, Value]]
ExtraOf = Callable[[Params, str, str], "tuple[Check, ...]"]

_NO_CONTEXT: Mapping[str, Value] = {}


@dataclass(frozen=True, slots=True)
class Check:
    """One authorisation question: ``action`` on ``resource`` with these request context keys.
    ``resource_policy``: the resource may carry a resource-based policy (a Lambda function's; a
    role's trust policy for sts:AssumeRole)."""

    action: str
    resource: str
    context: Mapping[str, Value] = field(default_factory=dict)
    resource_policy: bool = False
    #: the service's answer when ``resource`` is another account's, whatever the policies say
    #: (Lambda's for a role of another account: "Cross-account pass role is not allowed.")
    cross_account_refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """How one operation is authorised."""

    service: str
    operation: str
    #: the IAM action, as the Service Authorization Reference names it
    action: str
    resource: ResourceOf
    context: ContextOf | None = None
    #: dependent actions (iam:PassRole ...), checked after the operation's own
    extra: ExtraOf | None = None
    #: the resource's own policy takes part (a Lambda function's, a role's trust policy)
    resource_policy: bool = False
    #: no permission is required (sts:GetCallerIdentity)
    always_allowed: bool = False

    def checks(self, params: Params, region: str, account: str, caller_arn: str) -> tuple[Check, ...]:
        """Every check this call needs, the operation's own first."""
        context = self.context(params) if self.context is not None else _NO_CONTEXT
        first = Check(self.action, self.resource(params, region, account, caller_arn), context, self.resource_policy)
        if self.extra is None:
            return (first,)
        return (first, *self.extra(params, region, account))


# -- resources -------------------------------------------------------------------------------------
def _star(params: Params, region: str, account: str, caller: str) -> str:
    return "*"


#: Longer names are parsed every time, never memoised (a valid full ARN with a qualifier is
#: under 300 characters; a hostile client's long names must not fill the memo's memory).
_MEMO_NAME_MAX = 300


def _function(raw: str, region: str, account: str, *, qualifier: str | None, qualified: bool, create: bool = False) -> str:
    """The full ARN of a function as named; AWS's ValidationError for a name that does not parse
    (the handler would refuse it too: it is never authorised as some other resource)."""
    if len(raw) > _MEMO_NAME_MAX or (qualifier is not None and len(qualifier) > _MEMO_NAME_MAX):
        return _parse_function(raw, region, account, qualifier, qualified, create)
    return _memo_function(raw, region, account, qualifier, qualified, create)


def _parse_function(raw: str, region: str, account: str, qualifier: str | None, qualified: bool, create: bool) -> str:
    ref = parse_function_name(raw, create=create, max_len=max(len(raw), 1) if raw else 140)
    q = resolve_qualifier(ref, qualifier) if qualified else None
    return function_arn(ref.region or region, ref.account_id or account, ref.name, q)


#: memoised (a server names few functions; bounded; a name that does not parse raises each time,
#: nothing is cached for it)
_memo_function = lru_cache(maxsize=4096)(_parse_function)


def _qualified_function(params: Params, region: str, account: str, caller: str) -> str:
    """The function, qualified by ``Qualifier`` or the name's own qualifier when either is given."""
    qualifier = params.get("Qualifier")
    return _function(str(params.get("FunctionName", "")), region, account,
                     qualifier=None if qualifier is None else str(qualifier), qualified=True)


def _unqualified_function(params: Params, region: str, account: str, caller: str) -> str:
    return _function(str(params.get("FunctionName", "")), region, account, qualifier=None, qualified=False)


def _created_function(params: Params, region: str, account: str, caller: str) -> str:
    return _function(str(params.get("FunctionName", "")), region, account, qualifier=None, qualified=False, create=True)


def _tagged_lambda_resource(params: Params, region: str, account: str, caller: str) -> str:
    """TagResource / UntagResource / ListTags: ``Resource`` is an ARN; a function's is normalised
    (a qualifier is refused by the handler; the function itself is authorised)."""
    raw = str(params.get("Resource", ""))
    if ":function:" in raw or not raw.startswith("arn:"):
        return _function(raw, region, account, qualifier=None, qualified=False)
    return raw


def _deployments_filter(params: Params, region: str, account: str, caller: str) -> str:
    if params.get("FunctionName"):
        return _unqualified_function(params, region, account, caller)
    return "*"


def _deployment(params: Params, region: str, account: str, caller: str) -> str:
    return f"arn:aws:lambent:{region}:{account}:deployment/{params.get('DeploymentId', '')}"


def _subnet(params: Params, region: str, account: str, caller: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:subnet/{params.get('SubnetId', '')}"


def _schedule(params: Params, region: str, account: str, caller: str) -> str:
    group = params.get("GroupName") or "default"
    return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{params.get('Name', '')}"


def _schedule_group(params: Params, region: str, account: str, caller: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule-group/{params.get('Name', '')}"


def _scheduler_tagged(params: Params, region: str, account: str, caller: str) -> str:
    return str(params.get("ResourceArn", ""))


def _iam(kind: str, member: str) -> ResourceOf:
    def resource(params: Params, region: str, account: str, caller: str) -> str:
        name = params.get(member)
        if name is None:
            return caller  # GetUser / access keys without UserName act on the caller itself
        return f"arn:aws:iam::{account}:{kind}{params.get('Path') or '/'}{name}"
    return resource


def _iam_policy(params: Params, region: str, account: str, caller: str) -> str:
    if "PolicyArn" in params:
        return str(params["PolicyArn"])
    return f"arn:aws:iam::{account}:policy{params.get('Path') or '/'}{params.get('PolicyName', '')}"


def _assumed_role(params: Params, region: str, account: str, caller: str) -> str:
    return str(params.get("RoleArn", ""))


# -- context keys ----------------------------------------------------------------------------------
def _tag_keys(pairs: Sequence[tuple[str, str]], keys: Sequence[str]) -> dict[str, Value]:
    """aws:RequestTag/${TagKey} per tag, aws:TagKeys for every key (AWS global condition keys)."""
    out: dict[str, Value] = {f"aws:RequestTag/{k}": v for k, v in pairs}
    if keys:
        out["aws:TagKeys"] = tuple(keys)
    return out


def _map_tags(params: Params) -> dict[str, Value]:
    tags = params.get("Tags") or {}
    pairs = [(str(k), str(v)) for k, v in tags.items()] if isinstance(tags, Mapping) else []
    return _tag_keys(pairs, [k for k, _ in pairs])


def _list_tags(params: Params) -> dict[str, Value]:
    tags = params.get("Tags") or []
    pairs = [(str(t.get("Key", "")), str(t.get("Value", ""))) for t in tags if isinstance(t, Mapping)]
    return _tag_keys(pairs, [k for k, _ in pairs])


def _untag(params: Params) -> dict[str, Value]:
    return _tag_keys((), [str(k) for k in params.get("TagKeys") or ()])


def _function_config(params: Params) -> dict[str, Value]:
    """lambda:Layer, lambda:SubnetIds, lambda:SecurityGroupIds, lambda:CodeSigningConfigArn."""
    out: dict[str, Value] = {}
    layers = params.get("Layers")
    if layers:
        out["lambda:Layer"] = tuple(str(x) for x in layers)
    vpc = params.get("VpcConfig")
    if isinstance(vpc, Mapping):
        if vpc.get("SubnetIds"):
            out["lambda:SubnetIds"] = tuple(str(x) for x in vpc["SubnetIds"])
        if vpc.get("SecurityGroupIds"):
            out["lambda:SecurityGroupIds"] = tuple(str(x) for x in vpc["SecurityGroupIds"])
    if params.get("CodeSigningConfigArn"):
        out["lambda:CodeSigningConfigArn"] = str(params["CodeSigningConfigArn"])
    return out


def _create_function(params: Params) -> dict[str, Value]:
    return {**_function_config(params), **_map_tags(params)}


def _add_permission(params: Params) -> dict[str, Value]:
    out: dict[str, Value] = {}
    if params.get("Principal"):
        out["lambda:Principal"] = str(params["Principal"])
    if params.get("FunctionUrlAuthType"):
        out["lambda:FunctionUrlAuthType"] = str(params["FunctionUrlAuthType"])
    return out


def _policy_arn(params: Params) -> dict[str, Value]:
    return {"iam:PolicyARN": str(params.get("PolicyArn", ""))}


# -- dependent actions -----------------------------------------------------------------------------
def _pass_role(role: object, service: str, cross_account_refusal: str | None = None) -> tuple[Check, ...]:
    if not role:
        return ()
    return (Check("iam:PassRole", str(role), {"iam:PassedToService": service},
                  cross_account_refusal=cross_account_refusal),)


def _lambda_role(params: Params, region: str, account: str) -> tuple[Check, ...]:
    return _pass_role(params.get("Role"), "lambda.amazonaws.com", "Cross-account pass role is not allowed.")


def _schedule_role(params: Params, region: str, account: str) -> tuple[Check, ...]:
    target = params.get("Target")
    return _pass_role(target.get("RoleArn") if isinstance(target, Mapping) else None, "scheduler.amazonaws.com")


# -- the table -------------------------------------------------------------------------------------
def _lambda() -> list[Action]:
    def fn(operation: str, resource: ResourceOf, *, action: str | None = None, **kw: Any) -> Action:
        return Action("lambda", operation, f"lambda:{action or operation}", resource, resource_policy=True, **kw)

    qualified = ["GetFunction", "GetFunctionConfiguration", "DeleteFunction", "InvokeAsync", "GetPolicy",
                 "RemovePermission", "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig",
                 "GetFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig"]
    unqualified = ["UpdateFunctionCode", "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency",
                   "PublishVersion", "ListVersionsByFunction", "CreateAlias", "GetAlias", "ListAliases", "UpdateAlias",
                   "DeleteAlias", "ListFunctionEventInvokeConfigs"]
    return [
        fn("CreateFunction", _created_function, context=_create_function, extra=_lambda_role),
        fn("UpdateFunctionConfiguration", _unqualified_function, context=_function_config, extra=_lambda_role),
        fn("Invoke", _qualified_function, action="InvokeFunction"),
        fn("AddPermission", _qualified_function, context=_add_permission),
        *(fn(op, _qualified_function) for op in qualified),
        *(fn(op, _unqualified_function) for op in unqualified),
        fn("TagResource", _tagged_lambda_resource, context=_map_tags),
        fn("UntagResource", _tagged_lambda_resource, context=_untag),
        fn("ListTags", _tagged_lambda_resource),
        Action("lambda", "ListFunctions", "lambda:ListFunctions", _star),
        Action("lambda", "GetAccountSettings", "lambda:GetAccountSettings", _star),
    ]


def _scheduler() -> list[Action]:
    def op(operation: str, resource: ResourceOf, **kw: Any) -> Action:
        return Action("scheduler", operation, f"scheduler:{operation}", resource, **kw)

    return [
        op("CreateSchedule", _schedule, extra=_schedule_role),
        op("UpdateSchedule", _schedule, extra=_schedule_role),
        op("GetSchedule", _schedule),
        op("DeleteSchedule", _schedule),
        op("ListSchedules", _star),
        op("CreateScheduleGroup", _schedule_group, context=_list_tags),
        op("GetScheduleGroup", _schedule_group),
        op("DeleteScheduleGroup", _schedule_group),
        op("ListScheduleGroups", _star),
        op("TagResource", _scheduler_tagged, context=_list_tags),
        op("UntagResource", _scheduler_tagged, context=_untag),
        op("ListTagsForResource", _scheduler_tagged),
    ]


def _iam_actions() -> list[Action]:
    user, role = _iam("user", "UserName"), _iam("role", "RoleName")

    def op(operation: str, resource: ResourceOf, **kw: Any) -> Action:
        return Action("iam", operation, f"iam:{operation}", resource, **kw)

    out = [
        op("CreateUser", user, context=_list_tags), op("GetUser", user), op("DeleteUser", user), op("ListUsers", _star),
        op("CreateAccessKey", user), op("DeleteAccessKey", user), op("UpdateAccessKey", user), op("ListAccessKeys", user),
        op("CreateRole", role, context=_list_tags), op("GetRole", role), op("DeleteRole", role), op("ListRoles", _star),
        op("UpdateAssumeRolePolicy", role), op("ListInstanceProfilesForRole", role),
        *(op(name, _iam_policy) for name in ("CreatePolicy", "GetPolicy", "GetPolicyVersion", "CreatePolicyVersion",
                                            "DeletePolicyVersion", "SetDefaultPolicyVersion", "ListPolicyVersions",
                                            "DeletePolicy")),
        op("ListPolicies", _star),
    ]
    for entity, owner in (("User", user), ("Role", role)):
        out += [
            op(f"Put{entity}Policy", owner), op(f"Get{entity}Policy", owner), op(f"Delete{entity}Policy", owner),
            op(f"List{entity}Policies", owner), op(f"Attach{entity}Policy", owner, context=_policy_arn),
            op(f"Detach{entity}Policy", owner, context=_policy_arn), op(f"ListAttached{entity}Policies", owner),
            op(f"List{entity}Tags", owner), op(f"Tag{entity}", owner, context=_list_tags),
            op(f"Untag{entity}", owner, context=_untag),
        ]
    return out


def _sts() -> list[Action]:
    return [
        # the role's trust policy is the resource-based side: without it another account's role
        # can never be assumed (cross-account needs both sides), as on AWS
        Action("sts", "AssumeRole", "sts:AssumeRole", _assumed_role, resource_policy=True),
        Action("sts", "GetCallerIdentity", "sts:GetCallerIdentity", _star, always_allowed=True),
    ]


def _lambent() -> list[Action]:
    return [
        Action("lambent", "CreateDeployment", "lambent:CreateDeployment", _unqualified_function),
        Action("lambent", "ListDeployments", "lambent:ListDeployments", _deployments_filter),
        Action("lambent", "GetDeployment", "lambent:GetDeployment", _deployment),
        Action("lambent", "StopDeployment", "lambent:StopDeployment", _deployment),
        # the asynchronous queue (lambent/api/lambent_queue_api.py): a filtered list acts on the
        # function, an unfiltered one and a redrive (records of any function) on "*"
        Action("lambent", "ListAsyncEventQueues", "lambent:ListAsyncEventQueues", _deployments_filter),
        Action("lambent", "ListUndeliverableRecords", "lambent:ListUndeliverableRecords", _deployments_filter),
        Action("lambent", "RedriveUndeliverableRecords", "lambent:RedriveUndeliverableRecords", _star),
        # GET /usage: on the function's ARN when filtered by one, else on "*" (like ListDeployments)
        Action("lambent", "GetUsage", "lambent:GetUsage", _deployments_filter),
        Action("lambent", "AttachSubnet", "lambent:AttachSubnet", _subnet),
        Action("lambent", "DetachSubnet", "lambent:DetachSubnet", _subnet),
    ]


def _build() -> dict[tuple[str, str], Action]:
    # Services with their own action modules (imported here: they build on this module's types).
    from lambent.iam import actions_cloudwatch, actions_ec2, actions_logs, actions_xray

    table: dict[tuple[str, str], Action] = {}
    for entry in (*_lambda(), *_scheduler(), *_iam_actions(), *_sts(), *_lambent(), *actions_cloudwatch.actions(),
                  *actions_ec2.actions(), *actions_logs.actions(), *actions_xray.actions()):
        key = (entry.service, entry.operation)
        if key in table:
            raise ValueError(f"{entry.service} operation {entry.operation} has two IAM actions")
        table[key] = entry
    return table


#: (service, operation) -> how it is authorised.
ACTIONS: Mapping[tuple[str, str], Action] = _build()


def action_of(service: str, operation: str) -> Action | None:
    return ACTIONS.get((service, operation))
