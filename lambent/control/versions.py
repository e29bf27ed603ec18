"""Published versions: immutable snapshots of ``$LATEST``'s code and configuration.

https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html — numbers only ever
increase (never reused after a delete); publishing when nothing changed since the last version
returns that version; ``CodeSha256`` and ``RevisionId`` are preconditions.
"""

from __future__ import annotations

import asyncio
import uuid

from lambent import arns
from lambent.control.functions import FunctionService
from lambent.control.model import FunctionConfig, State, UpdateStatus
from lambent.control.registry import FunctionEntry
from lambent.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict

#: Fields that make two versions different; the rest is bookkeeping.
_IDENTITY_IGNORED = {"version", "revision_id", "last_modified", "description", "state", "state_reason",
                     "state_reason_code", "last_update_status", "last_update_status_reason",
                     "last_update_status_reason_code"}


def _unchanged_since(version: FunctionConfig, latest: FunctionConfig) -> bool:
    """Whether ``$LATEST`` still has the code and configuration ``version`` was published from.
    (The version's own Description may differ: PublishVersion can set it.)"""
    if version.extra.get("source_revision") == latest.revision_id:
        return True
    dv, dl = version.to_json(), latest.to_json()
    same = all(dv[k] == dl[k] for k in dv if k not in _IDENTITY_IGNORED and k != "extra")
    return same and version.extra.get("source_description") == latest.description


def published(fn: FunctionEntry) -> list[FunctionConfig]:
    """Published versions in ascending order."""
    return [fn.versions[v] for v in sorted((v for v in fn.versions if v != arns.LATEST), key=int)]


class VersionService:
    """Publishing, listing and deleting versions. Scope: one per server."""

    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions

    async def publish(
        self, name: arns.FunctionKey, *, code_sha256: str | None = None, description: str | None = None, revision_id: str | None = None
    ) -> FunctionConfig:
        f = self.functions
        f.entry(name)  # ResourceNotFound before anything else
        async with f.locked(name) as fn:
            latest = fn.latest
            if latest.state == State.PENDING or latest.last_update_status == UpdateStatus.IN_PROGRESS:
                raise ResourceConflict(
                    "The operation cannot be performed at this time. An update is in progress for resource: "
                    + f.arn(name)
                )
            if revision_id is not None and revision_id != latest.revision_id:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            if code_sha256 is not None and code_sha256 != latest.code_sha256_b64:
                # AWS answers a stale CodeSha256 with 400 InvalidParameterValueException (only a
                # RevisionId mismatch is 412), message as recorded against AWS.
                raise InvalidParameterValue(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                    f"({latest.code_sha256_b64}). Please try again with the CodeSHA256 in $LATEST."
                )
            versions = published(fn)
            if versions and _unchanged_since(versions[-1], latest):
                return versions[-1]
            number = fn.last_version + 1
            cfg = latest.replace(
                version=str(number), revision_id=str(uuid.uuid4()), last_modified=f.now(),
                description=latest.description if description is None else description,
                state=State.ACTIVE, state_reason=None, state_reason_code=None,
                last_update_status=UpdateStatus.SUCCESSFUL, last_update_status_reason=None,
                last_update_status_reason_code=None,
                extra={**latest.extra, "source_revision": latest.revision_id, "source_description": latest.description},
            )
            await f.registry.add_version(fn, cfg)
        return cfg

    async def delete(self, name: arns.FunctionKey, version: str) -> None:
        f = self.functions
        f.entry(name)  # ResourceNotFound before anything else
        if version == arns.LATEST:
            raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.")
        if not version.isdigit():
            raise InvalidParameterValue("Deletion of aliases is not supported by DeleteFunction; use DeleteAlias.")
        async with f.locked(name) as fn:
            cfg = fn.versions.get(version)
            if cfg is None:
                return  # AWS: deleting a version that does not exist succeeds (idempotent)
            users = sorted(a.name for a in fn.aliases.values() if version in (a.function_version, a.additional_version))
            if users:
                raise ResourceConflict(
                    f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
                )
            await f.registry.delete_version(fn, version)
            await asyncio.to_thread(f.code.release, cfg.code_hash_hex)
        f.notify(name)
