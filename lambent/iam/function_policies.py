"""Lambda functions' resource-based policies: AddPermission, RemovePermission, GetPolicy.

One policy per (function, qualifier): the unqualified function, a version or an alias each have
their own, with their own statement ids; publishing a version does not copy the
unqualified policy to it (AWS's recorded answers, "Lambda resource-based policies" in the Lambda
Developer Guide). A statement is built from AddPermission's members as AWS builds it:

- ``Principal``: ``*`` stays ``"*"``; a 12-digit account id becomes ``{"AWS":
  "arn:aws:iam::ID:root"}``; an IAM ARN ``{"AWS": ARN}``; a service (``s3.amazonaws.com``,
  ``alexa-appkit.amazon.com``) ``{"Service": ...}``; anything else is refused with AWS's "The
  provided principal was invalid. Please check the principal and try again."
- ``Condition``: ``StringEquals`` with ``AWS:SourceAccount``, ``lambda:FunctionUrlAuthType``,
  ``aws:PrincipalOrgID``, ``lambda:EventSourceToken`` (in that order), then ``ArnLike`` with
  ``AWS:SourceArn``; no Condition when none is given.
- ``Resource``: the function's ARN, qualified when the policy is a version's or an alias's.

The document is ``{"Version": "2012-10-17", "Id": "default", "Statement": [...]}``, at most 20480
bytes (PolicyLengthExceededException "The final policy size (N) is bigger than the limit
(20480)."). Removing its last statement removes
the policy (GetPolicy then answers "The resource you requested does not exist.").

RevisionId, as on AWS: a policy has no RevisionId of its own. GetPolicy's is the RevisionId of
the resource it belongs to — the unqualified function's ($LATEST's configuration), the version's
or the alias's — and AddPermission / RemovePermission give that resource a new one (GetFunction,
GetFunctionConfiguration or GetAlias then show it). A RevisionId given to either must be the
resource's current one, else PreconditionFailedException. The caller (lambent/api/lambda_policy.py,
under the function's lock) passes the resource's current RevisionId and the new one it will get
(FunctionService.set_revision); the policy row keeps the one it was written with.

Every policy is compiled once per change (:func:`lambent.iam.policy.compile_policy`, kind
RESOURCE) and :meth:`FunctionPolicies.compiled` hands the authoriser the compiled form: a dict
lookup. A policy applies only while its function and qualifier exist: ``exists`` (the function
registry's view, in memory) is checked on every read, so a deleted alias or version, or
a deleted function, never lends its policy to a namesake created later; the rows themselves go
with :meth:`forget_function` / :meth:`function_changed` (the function registry's change hook).

Scope: one per server; changes are serialised by one asyncio lock (revision checks and writes
are atomic with respect to each other); store writes run off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambent.arns import FunctionKey, function_key, key_account, key_name
from lambent.errors import InvalidParameterValue, PolicyLengthExceeded, PreconditionFailed, ResourceConflict, ResourceNotFound
from lambent.iam.policy import CompiledPolicy, MalformedPolicy, PolicyKind, compile_policy
from lambent.store.iam import IamStore
from lambent.store.iam_function_policies import FunctionPolicyStore
from lambent.store.reserve import DiskGuard

log = logging.getLogger("lambent.iam")

#: Lambda's quota for one resource-based policy ("Lambda quotas": 20 KB).
POLICY_LIMIT_BYTES = 20480
#: The qualifier key of the unqualified function's policy.
UNQUALIFIED = ""

NOT_FOUND = "The resource you requested does not exist."
NO_POLICY = "No policy is associated with the given resource."
PRINCIPAL_INVALID = "The provided principal was invalid. Please check the principal and try again."
LATEST_REFUSED = "We currently do not support adding policies for $LATEST."
_REVISION = "The Revision Id provided does not match the latest Revision Id. Call the {} API to retrieve the latest Revision Id"
ADD_REVISION_MISMATCH = _REVISION.format("GetPolicy")
REMOVE_REVISION_MISMATCH = _REVISION.format("GetFunction/GetAlias")

_ACCOUNT = re.compile(r"\d{12}")
# An account's root, or one of its users or roles; never a wildcard (only a bare "*" may be one:
# a pattern in an ARN principal would widen what the statement grants beyond what it reads as).
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:(root|(user|role)/[^\s*?]+)")
# A service principal is a DNS name under amazonaws.com (s3.amazonaws.com, events.amazonaws.com)
# or amazon.com (alexa-appkit.amazon.com, alexa-connectedhome.amazon.com).
_SERVICE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.amazon(aws)?\.com")

#: exists(function key, None) -> whether the function exists; exists(name, qualifier) -> whether
#: it has that version or alias. In memory: it is asked on every read.
Exists = Callable[[FunctionKey, "str | None"], bool]




@dataclass(frozen=True)
class Permission:
    """What AddPermission asks for (members already checked against Lambda's model)."""

    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    principal_org_id: str | None = None
    event_source_token: str | None = None
    function_url_auth_type: str | None = None


@dataclass(frozen=True)
class FunctionPolicy:
    """One stored policy: its statements (in order), its text as GetPolicy returns it, its
    RevisionId and its compiled form."""

    statements: tuple[Mapping[str, Any], ...]
    document: str
    revision_id: str
    compiled: CompiledPolicy

    def sids(self) -> set[str]:
        return {str(s["Sid"]) for s in self.statements}


def qualifier_key(qualifier: str | None) -> str:
    """The key of a policy: "" for the unqualified function (and ``$LATEST``), else the qualifier."""
    return UNQUALIFIED if qualifier in (None, "", "$LATEST") else str(qualifier)


def principal_element(principal: str, partition: str = "aws") -> str | dict[str, str]:
    """AddPermission's ``Principal`` member as the statement's Principal element."""
    if principal == "*":
        return "*"
    if _ACCOUNT.fullmatch(principal):
        return {"AWS": f"arn:{partition}:iam::{principal}:root"}
    if _IAM_ARN.fullmatch(principal):
        return {"AWS": principal}
    if len(principal) <= 253 and _SERVICE.fullmatch(principal):
        return {"Service": principal}
    raise InvalidParameterValue(PRINCIPAL_INVALID, principal=principal)


def build_statement(permission: Permission, resource_arn: str, partition: str = "aws") -> dict[str, Any]:
    """The statement AddPermission adds, keys in AWS's order."""
    statement: dict[str, Any] = {
        "Sid": permission.statement_id,
        "Effect": "Allow",
        "Principal": principal_element(permission.principal, partition),
        "Action": permission.action,
        "Resource": resource_arn,
    }
    equals: dict[str, str] = {}
    if permission.source_account:
        equals["AWS:SourceAccount"] = permission.source_account
    if permission.function_url_auth_type:
        equals["lambda:FunctionUrlAuthType"] = permission.function_url_auth_type
    if permission.principal_org_id:
        equals["aws:PrincipalOrgID"] = permission.principal_org_id
    if permission.event_source_token:
        equals["lambda:EventSourceToken"] = permission.event_source_token
    condition: dict[str, dict[str, str]] = {}
    if equals:
        condition["StringEquals"] = equals
    if permission.source_arn:
        condition["ArnLike"] = {"AWS:SourceArn": permission.source_arn}
    if condition:
        statement["Condition"] = condition
    return statement


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render(statements: tuple[Mapping[str, Any], ...]) -> str:
    """The policy's text, as GetPolicy returns it."""
    return _dumps({"Version": "2012-10-17", "Id": "default", "Statement": list(statements)})


def make_policy(statements: tuple[Mapping[str, Any], ...], revision_id: str) -> FunctionPolicy:
    """Render, size-check and compile a policy (PolicyLengthExceeded over 20480 bytes)."""
    document = render(statements)
    size = len(document.encode())
    if size > POLICY_LIMIT_BYTES:
        raise PolicyLengthExceeded(f"The final policy size ({size}) is bigger than the limit ({POLICY_LIMIT_BYTES}).")
    try:
        compiled = compile_policy(document, PolicyKind.RESOURCE)
    except MalformedPolicy as exc:  # a member the model allows but the policy grammar does not
        raise InvalidParameterValue(exc.message) from exc
    return FunctionPolicy(statements, document, revision_id, compiled)


class FunctionPolicies:
    """The resource-based policies of every account's functions, in memory, written through to
    ``iam.db`` (:class:`~lambent.store.iam_function_policies.FunctionPolicyStore`). Functions are
    named by their key (account and name: :data:`lambent.arns.FunctionKey`)."""

    def __init__(self, store: FunctionPolicyStore, *, region: str, exists: Exists,
                 partition: str = "aws") -> None:
        """No I/O: the policies are read by :meth:`load`."""
        self.store = store
        self.region = region
        self.partition = partition
        self._exists_in_registry = exists
        self._policies: dict[tuple[FunctionKey, str], FunctionPolicy] = {}
        self._lock = asyncio.Lock()
        self._loaded = False

    @classmethod
    def open_in(cls, data_dir: Path, disk: DiskGuard | None, *, region: str,
                exists: Exists) -> FunctionPolicies:
        """Open ``<data dir>/iam.db`` (migrating it) and read every policy, on the calling thread."""
        made = cls(FunctionPolicyStore(IamStore.open_in(data_dir, disk).engine, disk),
                   region=region, exists=exists)
        made.load_now()
        return made

    # -- loading ----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Read every policy (once), dropping those whose function or qualifier is gone (a crash
        between a delete and its hook). Call after the function registry is loaded."""
        if self._loaded:
            return
        self._adopt(await asyncio.to_thread(self.store.all))

    def load_now(self) -> None:
        """:meth:`load` on the calling thread (a one-off at start-up, before serving)."""
        if not self._loaded:
            self._adopt(self.store.all())

    def _adopt(self, rows: list[dict[str, Any]]) -> None:
        stale: list[tuple[FunctionKey, str]] = []
        for row in rows:
            key = (function_key(str(row["account_id"]), str(row["function_name"])), str(row["qualifier"]))
            if not self._exists(*key):
                stale.append(key)
                continue
            try:
                statements = tuple(json.loads(row["document"])["Statement"])
                self._policies[key] = make_policy(statements, str(row["revision_id"]))
            except (ValueError, KeyError, TypeError, InvalidParameterValue) as exc:
                # A row that no longer compiles grants nothing: fail closed, say so once.
                log.warning("function policy %s:%s not loaded: %s", key[0], key[1] or "(unqualified)", exc)
        for name, qualifier in stale:
            self.store.delete(key_account(name), key_name(name), qualifier)
        self._loaded = True

    # -- reads ------------------------------------------------------------------------------------
    def arn(self, name: FunctionKey, qualifier: str) -> str:
        base = f"arn:{self.partition}:lambda:{self.region}:{name}"
        return f"{base}:{qualifier}" if qualifier else base

    def _exists(self, name: FunctionKey, qualifier: str) -> bool:
        return self._exists_in_registry(name, qualifier or None)

    def _live(self, name: FunctionKey, qualifier: str) -> FunctionPolicy | None:
        policy = self._policies.get((name, qualifier))
        if policy is None or not self._exists(name, qualifier):
            return None
        return policy

    def get(self, name: FunctionKey, qualifier: str | None) -> FunctionPolicy:
        """GetPolicy: the policy, or ResourceNotFound with AWS's text (no function, no such
        version or alias, or no policy all answer the same)."""
        policy = self._live(name, qualifier_key(qualifier))
        if policy is None:
            raise ResourceNotFound(NOT_FOUND, function=name, qualifier=qualifier)
        return policy

    def compiled(self, account: str, function: str, qualifier: str | None) -> CompiledPolicy | None:
        """The compiled policy of ``function`` (``qualifier``: None/$LATEST, a version or an
        alias) in ``account``, for the authoriser; None when it has none. Hot path: dict lookups."""
        if not self._policies:
            return None
        policy = self._live(function_key(account, function), qualifier_key(qualifier))
        return policy.compiled if policy is not None else None

    def for_arn(self, resource_arn: str) -> CompiledPolicy | None:
        """The compiled policy of the function a Lambda ARN names (``enforce.ResourcePolicyOf``)."""
        parts = resource_arn.split(":")
        if len(parts) not in (7, 8) or parts[0] != "arn" or parts[2] != "lambda" or parts[5] != "function":
            return None
        if parts[3] != self.region:
            return None
        return self.compiled(parts[4], parts[6], parts[7] if len(parts) == 8 else None)

    # -- changes ----------------------------------------------------------------------------------
    async def add(self, name: FunctionKey, qualifier: str | None, permission: Permission, *, revision_id: str | None,
                  target_revision_id: str, new_revision_id: str | None = None) -> str:
        """AddPermission on an existing function/version/alias (the caller checked it exists and
        that the qualifier is not $LATEST); returns the statement's JSON text.
        ``target_revision_id``: the function version's or alias's current RevisionId, which a
        given ``revision_id`` must match; ``new_revision_id``: the one the change gives it."""
        key = qualifier_key(qualifier)
        async with self._lock:
            existing = self._live(name, key)
            if revision_id is not None and revision_id != target_revision_id:
                raise PreconditionFailed(ADD_REVISION_MISMATCH, function=name, qualifier=qualifier)
            if existing is not None and permission.statement_id in existing.sids():
                raise ResourceConflict(
                    f"The statement id ({permission.statement_id}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement.", function=name)
            statement = build_statement(permission, self.arn(name, key), self.partition)
            before = existing.statements if existing is not None else ()
            policy = make_policy((*before, statement), new_revision_id or str(uuid.uuid4()))
            await self._write(name, key, policy)
        return _dumps(statement)

    async def remove(self, name: FunctionKey, qualifier: str | None, statement_id: str, *, revision_id: str | None,
                     target_revision_id: str | None = None, new_revision_id: str | None = None) -> None:
        """RemovePermission on an existing function/version/alias; ``target_revision_id`` and
        ``new_revision_id`` as for :meth:`add` (without a target, a given ``revision_id`` is
        checked against the one the policy was last written with)."""
        key = qualifier_key(qualifier)
        async with self._lock:
            existing = self._live(name, key)
            if existing is None:
                raise ResourceNotFound(NO_POLICY, function=name, qualifier=qualifier)
            if statement_id not in existing.sids():
                raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.", function=name)
            expected = existing.revision_id if target_revision_id is None else target_revision_id
            if revision_id is not None and revision_id != expected:
                raise PreconditionFailed(REMOVE_REVISION_MISMATCH, function=name, qualifier=qualifier)
            rest = tuple(s for s in existing.statements if s["Sid"] != statement_id)
            if rest:
                await self._write(name, key, make_policy(rest, new_revision_id or str(uuid.uuid4())))
            else:
                await asyncio.to_thread(self.store.delete, key_account(name), key_name(name), key)
                self._policies.pop((name, key), None)

    async def _write(self, name: FunctionKey, key: str, policy: FunctionPolicy) -> None:
        row = {"account_id": key_account(name), "function_name": key_name(name), "qualifier": key,
               "revision_id": policy.revision_id, "document": policy.document, "updated_at": time.time()}
        await asyncio.to_thread(self.store.put, row)
        self._policies[(name, key)] = policy  # memory after the store: a failed write changes nothing

    def forget_function(self, name: FunctionKey) -> None:
        """Drop every policy of a deleted function (memory first: it stops applying at once)."""
        keys = [k for k in self._policies if k[0] == name]
        for k in keys:
            del self._policies[k]
        self.store.delete_function(key_account(name), key_name(name))

    def function_changed(self, name: FunctionKey) -> None:
        """The function registry's change hook (``FunctionService.on_change``): a deleted function
        loses every policy, a deleted version or alias its own."""
        if not self._exists_in_registry(name, None):
            self.forget_function(name)
            return
        for fn, q in [k for k in self._policies if k[0] == name]:
            if q != UNQUALIFIED and not self._exists_in_registry(name, q):
                del self._policies[(fn, q)]
                self.store.delete(key_account(fn), key_name(fn), q)
