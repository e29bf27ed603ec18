"""Policy documents: parsed, validated, and held as frozen values (IAM JSON policy element
reference; "IAM JSON policy elements: Version / Statement / Sid / Effect / Principal / NotPrincipal
/ Action / NotAction / Resource / NotResource / Condition").

:func:`parse_policy` accepts what IAM accepts and refuses the rest with :class:`MalformedPolicy`
carrying IAM's MalformedPolicyDocument text. Stricter than IAM in one way, on purpose: a JSON
object with a repeated key is refused ("Syntax errors in policy."), so no two readers of one
document can see different policies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lambent.iam.policy.conditions import OPERATORS
from lambent.iam.policy.errors import MalformedPolicy

SYNTAX = "Syntax errors in policy."
VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"


class PolicyKind(StrEnum):
    """Where a document is attached, which decides what it may and must say."""

    IDENTITY = "identity"  # user/role inline or managed policy: no Principal, Resource required
    RESOURCE = "resource"  # a resource's policy (Lambda's function policy): Principal and Resource
    TRUST = "trust"  # a role's AssumeRolePolicyDocument: Principal required, Resource prohibited


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class Principals:
    """A Principal or NotPrincipal element. ``accounts`` holds 12-digit ids (an account id and
    ``arn:aws:iam::ID:root`` both name the account); ``arns`` the IAM user/role and STS session ARNs."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()  # lowercased
    federated: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool = False
    resources: tuple[str, ...] | None = None  # None: a trust policy's statement (no Resource)
    not_resource: bool = False
    principals: Principals | None = None  # None: an identity-based policy's statement
    not_principal: bool = False
    #: operator -> key (as written) -> values (as strings)
    condition: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    kind: PolicyKind
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None

    @property
    def variables(self) -> bool:
        """Policy variables are substituted only in Version 2012-10-17 documents."""
        return self.version == VERSION_2012


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MalformedPolicy(SYNTAX)
        out[k] = v
    return out


def parse_policy(source: str | bytes | Mapping[str, Any], kind: PolicyKind) -> PolicyDocument:
    """Parse and validate one policy document (JSON text, or an already decoded object)."""
    if isinstance(source, (str, bytes)):
        try:
            raw = json.loads(source, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise MalformedPolicy(SYNTAX) from exc
    else:
        raw = source
    if not isinstance(raw, Mapping):
        raise MalformedPolicy(SYNTAX)
    for k in raw:
        if k not in ("Version", "Id", "Statement"):
            raise MalformedPolicy(SYNTAX)
    version = raw.get("Version", VERSION_2008)
    if version not in (VERSION_2012, VERSION_2008):
        raise MalformedPolicy("The policy failed legacy parsing")
    pid = raw.get("Id")
    if pid is not None and not isinstance(pid, str):
        raise MalformedPolicy(SYNTAX)
    body = raw.get("Statement")
    items = [body] if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not items:
        raise MalformedPolicy(SYNTAX)
    statements = tuple(_statement(s, kind) for s in items)
    sids = [s.sid for s in statements if s.sid is not None and s.sid != ""]
    if len(sids) != len(set(sids)):
        raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
    return PolicyDocument(kind=kind, version=version, statements=statements, id=pid)


_STATEMENT_FIELDS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition")
_SID_ALNUM = re.compile(r"[0-9A-Za-z]*")
_VENDOR = re.compile(r"[A-Za-z0-9-]+")


def _statement(raw: object, kind: PolicyKind) -> Statement:
    if not isinstance(raw, Mapping):
        raise MalformedPolicy(SYNTAX)
    for k in raw:
        if k not in _STATEMENT_FIELDS:
            raise MalformedPolicy(f"Unknown field {k}")
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise MalformedPolicy(SYNTAX)
        if kind is not PolicyKind.RESOURCE and not _SID_ALNUM.fullmatch(sid):
            raise MalformedPolicy(
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
            )
    if "Effect" not in raw:
        raise MalformedPolicy("Missing required field Effect")
    effect = raw["Effect"]
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicy(f"Invalid effect: {effect}" if isinstance(effect, str) else SYNTAX)

    actions, not_action = _one_of(raw, "Action", "NotAction", "Policy statement must contain actions.")
    for a in actions:
        _check_action(a)

    resources: tuple[str, ...] | None = None
    not_resource = False
    if kind is PolicyKind.TRUST:
        for k in ("Resource", "NotResource"):
            if k in raw:
                raise MalformedPolicy(f"Has prohibited field {k}")
    else:
        resources, not_resource = _one_of(raw, "Resource", "NotResource", "Policy statement must contain resources.")
        for r in resources:
            if r != "*" and not (r.startswith("arn:") and len(r.split(":", 5)) == 6):
                raise MalformedPolicy(f'Resource {r} must be in ARN format or "*".')

    principals: Principals | None = None
    not_principal = False
    if kind is PolicyKind.IDENTITY:
        if "Principal" in raw or "NotPrincipal" in raw:
            raise MalformedPolicy("Policy document should not specify a principal.")
    else:
        if "Principal" in raw and "NotPrincipal" in raw:
            raise MalformedPolicy(SYNTAX)
        if "Principal" not in raw and "NotPrincipal" not in raw:
            raise MalformedPolicy("Missing required field Principal")
        not_principal = "NotPrincipal" in raw
        principals = _principals(raw["NotPrincipal" if not_principal else "Principal"])

    condition = _condition(raw.get("Condition", {}))
    return Statement(
        effect=Effect(effect), actions=actions, not_action=not_action, resources=resources, not_resource=not_resource,
        principals=principals, not_principal=not_principal, condition=condition, sid=sid,
    )


def _strings(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise MalformedPolicy(SYNTAX)
    return tuple(items)


def _one_of(raw: Mapping[str, Any], name: str, negated: str, missing: str) -> tuple[tuple[str, ...], bool]:
    if name in raw and negated in raw:
        raise MalformedPolicy(SYNTAX)
    if name not in raw and negated not in raw:
        raise MalformedPolicy(missing)
    is_not = negated in raw
    values = _strings(raw[negated if is_not else name])
    if not values:
        raise MalformedPolicy(missing)
    return values, is_not


def _check_action(action: str) -> None:
    if action == "*":
        return
    vendor, sep, name = action.partition(":")
    if not sep or not vendor or not name:
        raise MalformedPolicy("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if "*" in vendor or "?" in vendor:
        raise MalformedPolicy("Action vendors must not contain wildcards.")
    if not _VENDOR.fullmatch(vendor):
        raise MalformedPolicy(f"Vendor {vendor} is not valid")


_ACCOUNT = re.compile(r"\d{12}")
_ROOT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")
_IDENTITY_ARN = re.compile(
    r"arn:aws[a-z-]*:(?:iam::\d{12}:(?:user|role)/[\w+=,.@/-]+|sts::\d{12}:(?:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+))"
)
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*")


def _principals(value: object) -> Principals:
    if value == "*":
        return Principals(everyone=True)
    if not isinstance(value, Mapping) or not value:
        raise MalformedPolicy(SYNTAX)
    everyone = False
    accounts: set[str] = set()
    arns: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    canonical: set[str] = set()
    for key, entries in value.items():
        for entry in _strings(entries):
            bad = MalformedPolicy(f'Invalid principal in policy: "{key}":"{entry}"')
            if key == "AWS":
                if entry == "*":
                    everyone = True  # {"AWS": "*"} is the same as "*" (Principal element reference)
                elif _ACCOUNT.fullmatch(entry):
                    accounts.add(entry)
                elif (m := _ROOT.fullmatch(entry)) is not None:
                    accounts.add(m.group(1))
                elif _IDENTITY_ARN.fullmatch(entry):
                    arns.add(entry)
                else:  # includes partial wildcards: a principal cannot be a pattern
                    raise bad
            elif key == "Service":
                if not _SERVICE.fullmatch(entry.lower()):
                    raise bad
                services.add(entry.lower())
            elif key == "Federated":
                federated.add(entry)
            elif key == "CanonicalUser":
                canonical.add(entry)
            else:
                raise bad
    return Principals(
        everyone=everyone, accounts=frozenset(accounts), arns=frozenset(arns), services=frozenset(services),
        federated=frozenset(federated), canonical_users=frozenset(canonical),
    )


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise MalformedPolicy(SYNTAX)


def _condition(value: object) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(value, Mapping):
        raise MalformedPolicy(SYNTAX)
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for op, pairs in value.items():
        base = op.split(":", 1)[1] if op.startswith(("ForAnyValue:", "ForAllValues:")) else op
        base = base.removesuffix("IfExists") if base != "Null" else base
        if base not in OPERATORS and base != "Null":
            raise MalformedPolicy(f"Invalid Condition type : {op}.")
        if not isinstance(pairs, Mapping) or not pairs:
            raise MalformedPolicy(SYNTAX)
        block: dict[str, tuple[str, ...]] = {}
        for key, values in pairs.items():
            if ":" not in key:
                raise MalformedPolicy("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
            items = values if isinstance(values, list) else [values]
            if not items:
                raise MalformedPolicy(SYNTAX)
            block[key] = tuple(_scalar(v) for v in items)
        out[op] = block
    return out
