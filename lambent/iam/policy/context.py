"""The request context a policy is evaluated against (Policy evaluation logic: "Processing the
request context"; AWS global condition context keys).

A :class:`Caller` says who is asking; a :class:`Request` adds the action, the resource and every
context key, normalised once: key names lowercased (they are case-insensitive), every value a
tuple of strings (a single-valued key has one), booleans as ``"true"``/``"false"``.

The keys that describe the caller (``aws:PrincipalArn``, ``aws:PrincipalAccount``,
``aws:username``, ``aws:userid``, ``aws:PrincipalType``, ``aws:PrincipalOrgID``) are derived from
the :class:`Caller` and always win over ``context``: a value taken from a request can never pose
as the caller's identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

#: What a context key may be given as.
ContextValue = str | bool | int | datetime | Sequence[str]


class PrincipalType(StrEnum):
    """``aws:PrincipalType``'s values; ``SERVICE`` is an AWS service principal (no such key)."""

    ACCOUNT = "Account"  # the account's root user
    USER = "User"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    ANONYMOUS = "Anonymous"
    SERVICE = "Service"


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal that makes a request.

    ``arn`` is the caller's own ARN (user, ``...:root``, ``arn:aws:sts::ID:assumed-role/R/S``) or,
    for a service, its principal name (``scheduler.amazonaws.com``). ``principal_arn`` is
    ``aws:PrincipalArn``: the role's ARN for a role session, else ``arn``.
    """

    arn: str
    type: PrincipalType
    account: str | None = None
    userid: str | None = None
    username: str | None = None
    principal_arn: str | None = None
    org_id: str | None = None
    #: The context keys that describe this caller, computed once (AWS global condition context keys).
    context_keys: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    #: The caller's kind as plain booleans, read on the hot path (an Enum member lookup costs
    #: a descriptor call each time).
    is_root: bool = field(init=False, repr=False, compare=False)
    is_service: bool = field(init=False, repr=False, compare=False)
    has_identity_side: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "context_keys", self._derive_keys())
        object.__setattr__(self, "is_root", self.type is PrincipalType.ACCOUNT)
        object.__setattr__(self, "is_service", self.type is PrincipalType.SERVICE)
        object.__setattr__(self, "has_identity_side", self.type not in (PrincipalType.SERVICE, PrincipalType.ANONYMOUS))

    @classmethod
    def root(cls, account: str, *, partition: str = "aws") -> Caller:
        return cls(f"arn:{partition}:iam::{account}:root", PrincipalType.ACCOUNT, account, userid=account)

    @classmethod
    def user(cls, account: str, name: str, user_id: str, *, path: str = "/", partition: str = "aws") -> Caller:
        return cls(f"arn:{partition}:iam::{account}:user{path}{name}", PrincipalType.USER, account, userid=user_id, username=name)

    @classmethod
    def role_session(cls, account: str, role_name: str, session: str, role_id: str, *, path: str = "/",
                     partition: str = "aws") -> Caller:
        # The session ARN drops the role's path; aws:userid is "ROLEID:session" (AWS global
        # condition context keys: aws:userid).
        return cls(
            f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}", PrincipalType.ASSUMED_ROLE, account,
            userid=f"{role_id}:{session}", principal_arn=f"arn:{partition}:iam::{account}:role{path}{role_name}",
        )

    @classmethod
    def service(cls, name: str) -> Caller:
        return cls(name.lower(), PrincipalType.SERVICE)

    @classmethod
    def anonymous(cls) -> Caller:
        return cls("*", PrincipalType.ANONYMOUS)

    @property
    def effective_principal_arn(self) -> str:
        return self.principal_arn or self.arn

    def _derive_keys(self) -> dict[str, tuple[str, ...]]:
        if self.type is PrincipalType.SERVICE:
            return {"aws:principalservicename": (self.arn,)}
        if self.type is PrincipalType.ANONYMOUS:
            return {}
        keys: dict[str, tuple[str, ...]] = {"aws:principalarn": (self.effective_principal_arn,), "aws:principaltype": (self.type.value,)}
        for name, value in (("aws:principalaccount", self.account), ("aws:userid", self.userid), ("aws:username", self.username),
                            ("aws:principalorgid", self.org_id)):
            if value is not None:
                keys[name] = (value,)
        return keys

    def identities(self) -> tuple[str, ...]:
        """Every principal the request is made as, for NotPrincipal: the account, then the
        caller itself ("AWS JSON policy elements: NotPrincipal": a Deny with NotPrincipal must
        list the account too, or it applies)."""
        if self.account is None:
            return (self.arn,)
        return (self.account, self.arn)


def _values(value: ContextValue) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, datetime):
        return (_iso(value),)
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


_CALLER_KEYS = ("aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:userid", "aws:username",
                "aws:principalorgid", "aws:principalservicename")


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    elif dt.utcoffset():
        dt = dt.astimezone(timezone.utc)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"


#: The last instant and its (aws:CurrentTime, aws:EpochTime), swapped as one tuple (safe from any
#: thread): callers pass the same datetime for a second (``Authorizer``), so the text is built
#: once per second, not per request.
_TimeKeys = tuple[tuple[str], tuple[str]]
_last_time: tuple[datetime | None, _TimeKeys] = (None, (("",), ("",)))


def _time_keys(now: datetime) -> _TimeKeys:
    global _last_time
    last, keys = _last_time
    if last is not now:
        keys = ((_iso(now),), (str(int(now.timestamp())),))
        _last_time = (now, keys)
    return keys


@dataclass(frozen=True, slots=True)
class Request:
    """One authorisation question: may ``caller`` perform ``action`` on ``resource``?

    ``resource_account`` is the account that owns the resource; when it is not the caller's the
    request is cross-account and both an identity-based and a resource-based policy must allow it.
    :meth:`build` reads it from the resource ARN's account field when not given, so forgetting it
    can never turn a cross-account request into the more permissive same-account case.
    """

    caller: Caller
    action: str
    resource: str
    resource_account: str | None
    keys: Mapping[str, tuple[str, ...]] = field(repr=False)
    action_lower: str = field(repr=False)

    @classmethod
    def build(cls, caller: Caller, action: str, resource: str = "*", *, resource_account: str | None = None,
              now: datetime | None = None, secure_transport: bool | None = None, source_ip: str | None = None,
              context: Mapping[str, ContextValue] | None = None) -> Request:
        keys: dict[str, tuple[str, ...]] = {}
        if context:
            for k, v in context.items():
                keys[k.lower()] = _values(v)
            for k in _CALLER_KEYS:
                keys.pop(k, None)  # only the Caller says who the caller is
        if now is not None:
            keys["aws:currenttime"], keys["aws:epochtime"] = _time_keys(now)
        if secure_transport is not None:
            keys["aws:securetransport"] = ("true",) if secure_transport else ("false",)
        if source_ip is not None:
            keys["aws:sourceip"] = (source_ip,)
        keys.update(caller.context_keys)
        if resource_account is None and resource.startswith("arn:"):
            parts = resource.split(":", 5)
            if len(parts) == 6 and parts[4]:
                resource_account = parts[4]
        return cls(caller, action, resource, resource_account, keys, action.lower())

    @property
    def cross_account(self) -> bool:
        return self.resource_account is not None and self.resource_account != self.caller.account
