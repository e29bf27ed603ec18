"""IAM API (2010-05-08, query protocol): users, access keys, roles, inline and managed policies,
attachments. One handler per operation of botocore's ``iam`` model, on the protocol layer: it
parses the form body, checks the model's constraints (names, paths, ARNs, MaxItems 1..1000,
MaxSessionDuration 3600..43200: AWS's ValidationError text) and renders answers in XML and
errors in IAM's envelope (NoSuchEntity, EntityAlreadyExists, DeleteConflict, LimitExceeded,
MalformedPolicyDocument with AWS's messages, from the domain: :mod:`lambent.iam.service`).

As AWS does, policy documents come back URL-encoded (boto3 decodes them into dicts), lists page
with Marker/IsTruncated (:mod:`lambent.iam.paging`), and every call acts in the caller's account
(:func:`principal_of`). Members lambent does not act on (PermissionsBoundary, ListPolicies'
PolicyUsageFilter, ...) are refused by the layer, naming them.

Every operation is authorised first (``iam:<Operation>`` on the user, role or policy ARN it acts
on, as AWS's Service Authorization Reference names them; ``iam:PolicyARN`` in the context of
Attach/Detach): the account root may do anything in its account, any other caller needs its
identity policies to allow it (:class:`lambent.iam.authorize.Authorizer`). A user without policies
can do nothing, so cannot give itself more.

The integrator wires this module in: ``Platform.iam`` (an :class:`IamService`),
``Platform.authorizer`` (an :class:`Authorizer` on it) and ``call.principal`` (the SigV4-verified
caller) — :func:`iam_of`, :func:`authorizer_of` and :func:`principal_of` are the only places
that read them; a non-root caller with no authorizer configured is refused (fail closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote

from lambent.api.dispatch import Call
from lambent.api.services import IAM
from lambent.errors import NoSuchEntity, ServiceError, ValidationError
from lambent.iam.authorize import Authorizer
from lambent.iam.model import AccessKey, KeyStatus, ManagedPolicy, OwnerKind, PolicyVersion, Principal, PrincipalKind, Role, User
from lambent.iam.paging import page
from lambent.iam.service import IamService


T = TypeVar("T")
Out = dict[str, Any]


# -- the two seams the integrator changes -----------------------------------------------------------
def iam_of(call: Call) -> IamService:
    """The platform's IAM service."""
    return call.platform.iam


def principal_of(call: Call) -> Principal:
    """Who the request acts as: the principal its SigV4 signature was verified for."""
    return call.principal


def authorizer_of(call: Call) -> Authorizer:
    """The platform's IAM authorizer."""
    return call.platform.authorizer


def _authorize(call: Call, action: str, resource: str, context: Mapping[str, str] | None = None) -> None:
    """The caller's identity policies must allow ``action`` on ``resource`` (the account root
    may do anything in its account). Fails closed: a non-root caller on a server without an
    authorizer is refused, never let through."""
    caller = principal_of(call)
    if caller.kind is PrincipalKind.ROOT:
        return
    authorizer = authorizer_of(call)
    if authorizer is None:
        raise ServiceError("IAM authorization is not configured on this lambent server")
    # IAM's resources are the caller's own account's (AWS managed policies, "arn:aws:iam::aws:...",
    # are global, not another account's): never a cross-account request
    authorizer.check(caller, action, resource, resource_account=caller.account_id, context=context)


Resource = Callable[[Call], str]
Context = Callable[[Call], Mapping[str, str]]


def _op(operation: str, resource: Resource, *, handled: Mapping[str, frozenset[str] | None] | None = None,
        context: Context | None = None) -> Callable[[Callable[[Call], Any]], Callable[[Call], Any]]:
    """Register ``fn`` for ``operation`` behind the authorization of ``iam:<operation>`` on the
    resource AWS's Service Authorization Reference names for it."""
    def add(fn: Callable[[Call], Any]) -> Callable[[Call], Any]:
        async def run(call: Call) -> Any:
            _authorize(call, f"iam:{operation}", resource(call), context(call) if context is not None else None)
            return await fn(call)

        run.__name__ = run.__qualname__ = fn.__name__
        IAM.register(operation, handled=handled)(run)
        return fn

    return add


def _arn(call: Call, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{principal_of(call).account_id}:{kind}{path}{name}"


def _user_arn(call: Call) -> str:
    """The ARN of the user the call names (its path if it exists, else the given or root path)."""
    name = call.params.get("UserName")
    if name is None:
        return principal_of(call).arn
    try:
        return iam_of(call).get_user(principal_of(call).account_id, name).arn
    except NoSuchEntity:
        return _arn(call, "user", call.params.get("Path", "/"), name)


def _key_user_arn(call: Call) -> str:
    owner = _key_owner(call)
    if owner is None:
        return principal_of(call).arn
    try:
        return iam_of(call).get_user(principal_of(call).account_id, owner).arn
    except NoSuchEntity:
        return _arn(call, "user", "/", owner)


def _role_arn(call: Call) -> str:
    name = call.params["RoleName"]
    try:
        return iam_of(call).get_role(principal_of(call).account_id, name).arn
    except NoSuchEntity:
        return _arn(call, "role", call.params.get("Path", "/"), name)


def _policy_arn(call: Call) -> str:
    if "PolicyArn" in call.params:
        return str(call.params["PolicyArn"])
    return _arn(call, "policy", call.params.get("Path", "/"), call.params["PolicyName"])


def _anything(call: Call) -> str:
    return "*"


def _attached_arn(call: Call) -> Mapping[str, str]:
    return {"iam:PolicyARN": str(call.params["PolicyArn"])}


async def _write(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A domain change (it writes iam.db with fsync): off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


# -- shapes ----------------------------------------------------------------------------------------
def _when(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, timezone.utc)


def encoded(document: str) -> str:
    """A policy document as IAM sends it: URL-encoded (RFC 3986)."""
    return quote(document, safe="")


def _tags(tags: Sequence[tuple[str, str]]) -> list[dict[str, str]] | None:
    return [{"Key": k, "Value": v} for k, v in tags] or None


def _tags_in(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((t["Key"], t["Value"]) for t in params.get("Tags") or ())


def user_shape(u: User, *, tags: bool = False) -> Out:
    out: Out = {"Path": u.path, "UserName": u.name, "UserId": u.user_id, "Arn": u.arn, "CreateDate": _when(u.created_at)}
    if tags:
        out["Tags"] = _tags(u.tags)
    return out


def role_shape(r: Role, *, full: bool = False) -> Out:
    out: Out = {
        "Path": r.path, "RoleName": r.name, "RoleId": r.role_id, "Arn": r.arn, "CreateDate": _when(r.created_at),
        "AssumeRolePolicyDocument": encoded(r.assume_role_policy), "Description": r.description or None,
        "MaxSessionDuration": r.max_session_s,
    }
    if full:
        out["Tags"] = _tags(r.tags)
        out["RoleLastUsed"] = {}
    return out


def key_shape(k: AccessKey, user: str | None, *, secret: bool = False) -> Out:
    out: Out = {"UserName": user, "AccessKeyId": k.access_key_id, "Status": k.status.value, "CreateDate": _when(k.created_at)}
    if secret:
        out["SecretAccessKey"] = k.secret_access_key
    return out


def policy_shape(p: ManagedPolicy, attachments: int, *, description: bool = False) -> Out:
    out: Out = {
        "PolicyName": p.name, "PolicyId": p.policy_id, "Arn": p.arn, "Path": p.path, "DefaultVersionId": p.default_version,
        "AttachmentCount": attachments, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
        "CreateDate": _when(p.created_at), "UpdateDate": _when(p.updated_at),
    }
    if description and p.description:
        out["Description"] = p.description
    return out


def version_shape(p: ManagedPolicy, v: PolicyVersion) -> Out:
    return {"Document": encoded(v.document), "VersionId": v.version_id,
            "IsDefaultVersion": v.version_id == p.default_version, "CreateDate": _when(v.created_at)}


def _paged(params: Mapping[str, Any], items: Sequence[T], key: Callable[[T], str], member: str,
           shape: Callable[[T], Any]) -> Out:
    found = page(items, key, params.get("Marker"), params.get("MaxItems"))
    return {member: [shape(i) for i in found.items], "IsTruncated": found.is_truncated, "Marker": found.marker}


def _account(call: Call) -> str:
    return principal_of(call).account_id


# -- users -----------------------------------------------------------------------------------------
@_op("CreateUser", _user_arn, handled={"Path": None, "UserName": None, "Tags": None})
async def create_user(call: Call) -> Out:
    p = call.params
    user = await _write(iam_of(call).create_user, _account(call), p["UserName"], p.get("Path", "/"), _tags_in(p))
    return {"User": user_shape(user, tags=True)}


@_op("GetUser", _user_arn)
async def get_user(call: Call) -> Out:
    caller = principal_of(call)
    name = call.params.get("UserName")
    if name is None:
        if caller.kind is PrincipalKind.ROOT:  # AWS: the root's own "user", with no name or path
            account = iam_of(call).account(caller.account_id)
            created = _when(account.created_at if account is not None else 0)
            return {"User": {"UserId": caller.account_id, "Arn": caller.arn, "CreateDate": created}}
        if caller.kind is not PrincipalKind.USER:
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = caller.name
    return {"User": user_shape(iam_of(call).get_user(caller.account_id, name), tags=True)}


@_op("DeleteUser", _user_arn)
async def delete_user(call: Call) -> None:
    await _write(iam_of(call).delete_user, _account(call), call.params["UserName"])


@_op("ListUsers", _anything)
async def list_users(call: Call) -> Out:
    users = iam_of(call).list_users(_account(call), call.params.get("PathPrefix", "/"))
    return _paged(call.params, users, lambda u: u.name.lower(), "Users", user_shape)


# -- access keys -----------------------------------------------------------------------------------
def _key_owner(call: Call) -> str | None:
    """The user whose keys the call manages: UserName, else the calling user; None = the root."""
    name = call.params.get("UserName")
    if name is not None:
        return str(name)
    caller = principal_of(call)
    if caller.kind is PrincipalKind.USER:
        return caller.name
    if caller.kind is PrincipalKind.ROOT:
        return None
    raise ValidationError("Must specify userName when calling with non-User credentials")


@_op("CreateAccessKey", _key_user_arn)
async def create_access_key(call: Call) -> Out:
    owner = _key_owner(call)
    key = await _write(iam_of(call).create_access_key, _account(call), owner)
    return {"AccessKey": key_shape(key, key.user_name, secret=True)}


@_op("DeleteAccessKey", _key_user_arn)
async def delete_access_key(call: Call) -> None:
    await _write(iam_of(call).delete_access_key, _account(call), _key_owner(call), call.params["AccessKeyId"])


@_op("UpdateAccessKey", _key_user_arn)
async def update_access_key(call: Call) -> None:
    p = call.params
    await _write(iam_of(call).update_access_key, _account(call), _key_owner(call), p["AccessKeyId"], KeyStatus(p["Status"]))


@_op("ListAccessKeys", _key_user_arn)
async def list_access_keys(call: Call) -> Out:
    owner = _key_owner(call)
    keys = iam_of(call).list_access_keys(_account(call), owner)
    return _paged(call.params, keys, lambda k: f"{k.created_at:020.6f}{k.access_key_id}", "AccessKeyMetadata",
                  lambda k: key_shape(k, k.user_name))


# -- roles -----------------------------------------------------------------------------------------
@_op("CreateRole", _role_arn, handled={
    "Path": None, "RoleName": None, "AssumeRolePolicyDocument": None, "Description": None, "MaxSessionDuration": None,
    "Tags": None,
})
async def create_role(call: Call) -> Out:
    p = call.params
    role = await _write(
        iam_of(call).create_role, _account(call), p["RoleName"], p["AssumeRolePolicyDocument"], path=p.get("Path", "/"),
        description=p.get("Description", ""), max_session_s=p.get("MaxSessionDuration", 3600), tags=_tags_in(p),
    )
    out = role_shape(role)
    out["Tags"] = _tags(role.tags)
    return {"Role": out}


@_op("GetRole", _role_arn)
async def get_role(call: Call) -> Out:
    return {"Role": role_shape(iam_of(call).get_role(_account(call), call.params["RoleName"]), full=True)}


@_op("DeleteRole", _role_arn)
async def delete_role(call: Call) -> None:
    await _write(iam_of(call).delete_role, _account(call), call.params["RoleName"])


@_op("ListRoles", _anything)
async def list_roles(call: Call) -> Out:
    roles = iam_of(call).list_roles(_account(call), call.params.get("PathPrefix", "/"))
    return _paged(call.params, roles, lambda r: r.name.lower(), "Roles", role_shape)


@_op("UpdateAssumeRolePolicy", _role_arn)
async def update_assume_role_policy(call: Call) -> None:
    p = call.params
    await _write(iam_of(call).update_assume_role_policy, _account(call), p["RoleName"], p["PolicyDocument"])


# -- inline policies (users and roles) ---------------------------------------------------------------
def _inline_handlers(kind: OwnerKind, entity: str) -> None:
    owner_member = f"{entity}Name"
    owner_arn = _user_arn if kind is OwnerKind.USER else _role_arn

    @_op(f"Put{entity}Policy", owner_arn)
    async def put(call: Call) -> None:
        p = call.params
        await _write(iam_of(call).put_inline_policy, _account(call), kind, p[owner_member], p["PolicyName"],
                     p["PolicyDocument"])

    @_op(f"Get{entity}Policy", owner_arn)
    async def get(call: Call) -> Out:
        p = call.params
        doc = iam_of(call).get_inline_policy(_account(call), kind, p[owner_member], p["PolicyName"])
        owner = (iam_of(call).get_user if kind is OwnerKind.USER else iam_of(call).get_role)(_account(call), p[owner_member])
        return {owner_member: owner.name, "PolicyName": p["PolicyName"], "PolicyDocument": encoded(doc)}

    @_op(f"Delete{entity}Policy", owner_arn)
    async def delete(call: Call) -> None:
        p = call.params
        await _write(iam_of(call).delete_inline_policy, _account(call), kind, p[owner_member], p["PolicyName"])

    @_op(f"List{entity}Policies", owner_arn)
    async def list_(call: Call) -> Out:
        names = iam_of(call).list_inline_policies(_account(call), kind, call.params[owner_member])
        return _paged(call.params, names, str, "PolicyNames", str)

    @_op(f"Attach{entity}Policy", owner_arn, context=_attached_arn)
    async def attach(call: Call) -> None:
        p = call.params
        await _write(iam_of(call).attach_policy, _account(call), kind, p[owner_member], p["PolicyArn"])

    @_op(f"Detach{entity}Policy", owner_arn, context=_attached_arn)
    async def detach(call: Call) -> None:
        p = call.params
        await _write(iam_of(call).detach_policy, _account(call), kind, p[owner_member], p["PolicyArn"])

    @_op(f"ListAttached{entity}Policies", owner_arn)
    async def list_attached(call: Call) -> Out:
        p = call.params
        found = iam_of(call).attached_policies(_account(call), kind, p[owner_member], p.get("PathPrefix", "/"))
        return _paged(p, found, lambda x: x.name.lower(), "AttachedPolicies",
                      lambda x: {"PolicyName": x.name, "PolicyArn": x.arn})


    @_op(f"List{entity}Tags", owner_arn)
    async def list_tags(call: Call) -> Out:
        p = call.params
        svc = iam_of(call)
        owner = (svc.get_user if kind is OwnerKind.USER else svc.get_role)(_account(call), p[owner_member])
        return _paged(p, sorted(owner.tags), lambda t: t[0], "Tags", lambda t: {"Key": t[0], "Value": t[1]})

    @_op(f"Tag{entity}", owner_arn)
    async def tag(call: Call) -> None:
        await _write(iam_of(call).tag, _account(call), kind, call.params[owner_member], _tags_in(call.params))

    @_op(f"Untag{entity}", owner_arn)
    async def untag(call: Call) -> None:
        p = call.params
        await _write(iam_of(call).untag, _account(call), kind, p[owner_member], p["TagKeys"])


_inline_handlers(OwnerKind.USER, "User")
_inline_handlers(OwnerKind.ROLE, "Role")


@_op("ListInstanceProfilesForRole", _role_arn)
async def list_instance_profiles_for_role(call: Call) -> Out:
    """lambent has no instance profiles (no EC2): none, for an existing role. Tools ask before
    deleting a role (Terraform does)."""
    iam_of(call).get_role(_account(call), call.params["RoleName"])
    return {"InstanceProfiles": [], "IsTruncated": False}


# -- managed policies ------------------------------------------------------------------------------
@_op("CreatePolicy", _policy_arn, handled={"PolicyName": None, "Path": None, "PolicyDocument": None, "Description": None})
async def create_policy(call: Call) -> Out:
    p = call.params
    policy = await _write(iam_of(call).create_policy, _account(call), p["PolicyName"], p["PolicyDocument"],
                          path=p.get("Path", "/"), description=p.get("Description", ""))
    return {"Policy": policy_shape(policy, 0)}


@_op("GetPolicy", _policy_arn)
async def get_policy(call: Call) -> Out:
    account = _account(call)
    policy = iam_of(call).get_policy(account, call.params["PolicyArn"])
    return {"Policy": policy_shape(policy, iam_of(call).attachment_count(account, policy.arn), description=True)}


@_op("GetPolicyVersion", _policy_arn)
async def get_policy_version(call: Call) -> Out:
    account, p = _account(call), call.params
    version = iam_of(call).get_policy_version(account, p["PolicyArn"], p["VersionId"])
    return {"PolicyVersion": version_shape(iam_of(call).get_policy(account, p["PolicyArn"]), version)}


@_op("CreatePolicyVersion", _policy_arn)
async def create_policy_version(call: Call) -> Out:
    account, p = _account(call), call.params
    version = await _write(iam_of(call).create_policy_version, account, p["PolicyArn"], p["PolicyDocument"],
                           bool(p.get("SetAsDefault", False)))
    return {"PolicyVersion": version_shape(iam_of(call).get_policy(account, p["PolicyArn"]), version)}


@_op("DeletePolicyVersion", _policy_arn)
async def delete_policy_version(call: Call) -> None:
    p = call.params
    await _write(iam_of(call).delete_policy_version, _account(call), p["PolicyArn"], p["VersionId"])


@_op("SetDefaultPolicyVersion", _policy_arn)
async def set_default_policy_version(call: Call) -> None:
    p = call.params
    await _write(iam_of(call).set_default_policy_version, _account(call), p["PolicyArn"], p["VersionId"])


@_op("ListPolicyVersions", _policy_arn)
async def list_policy_versions(call: Call) -> Out:
    policy = iam_of(call).get_policy(_account(call), call.params["PolicyArn"])
    newest_first = sorted(policy.versions, key=lambda v: -int(v.version_id[1:]))
    return _paged(call.params, newest_first, lambda v: f"{10**9 - int(v.version_id[1:]):010d}", "Versions",
                  lambda v: {k: val for k, val in version_shape(policy, v).items() if k != "Document"})


@_op("DeletePolicy", _policy_arn)
async def delete_policy(call: Call) -> None:
    await _write(iam_of(call).delete_policy, _account(call), call.params["PolicyArn"])


@_op("ListPolicies", _anything, handled={"Scope": None, "OnlyAttached": None, "PathPrefix": None, "Marker": None,
                                       "MaxItems": None})
async def list_policies(call: Call) -> Out:
    account, p = _account(call), call.params
    svc = iam_of(call)
    found = svc.list_policies(account, p.get("Scope", "All"), bool(p.get("OnlyAttached", False)), p.get("PathPrefix", "/"))
    # AWS managed ones sort before the account's: the marker keys keep that order
    return _paged(p, found, lambda x: ("0" if x.account_id == "aws" else "1") + x.name.lower(), "Policies",
                  lambda x: policy_shape(x, svc.attachment_count(account, x.arn)))
