"""Aliases: stable names (dev / test / prod) for versions, with weighted routing to a second one.

Rules copied from https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html and
https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html: an alias points to
``$LATEST`` or a published version; routing adds at most one *published* version with a weight
in [0, 1], never ``$LATEST``, never the primary version itself.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from lambent import arns
from lambent.control.functions import FunctionService
from lambent.control.model import Alias
from lambent.control.updates import AliasUpdate, or_current
from lambent.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound


class AliasService:
    """Alias CRUD over the function registry. Scope: one per server."""

    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions

    def arn(self, key: arns.FunctionKey, alias: Alias) -> str:
        return self.functions.arn(key, alias.name)

    def get(self, name: arns.FunctionKey, alias: str) -> Alias:
        found = self.functions.entry(name).aliases.get(alias)
        if found is None:
            raise ResourceNotFound(f"Alias not found: {self.functions.arn(name, alias)}")
        return found

    def list(self, name: arns.FunctionKey, function_version: str | None = None) -> list[Alias]:
        aliases = sorted(self.functions.entry(name).aliases.values(), key=lambda a: a.name)
        if function_version is not None:
            aliases = [a for a in aliases if function_version in (a.function_version, a.additional_version)]
        return aliases

    def _check_version(self, name: arns.FunctionKey, version: str) -> None:
        if version not in self.functions.entry(name).versions:
            raise ResourceNotFound(f"Function not found: {self.functions.arn(name, version)}")

    def _routing(self, name: arns.FunctionKey, primary: str, weights: Mapping[str, Any] | None) -> tuple[str | None, float]:
        if not weights:
            return None, 0.0
        if len(weights) > 1:
            raise InvalidParameterValue("Number of items in AdditionalVersionWeights cannot be greater than 1")
        (version, weight), = weights.items()
        if primary == arns.LATEST or version == arns.LATEST:
            raise InvalidParameterValue("$LATEST is not supported for an alias pointing to more than 1 version")
        if version == primary:
            raise InvalidParameterValue(
                f"Invalid function version {version}. Function version {version} is already included in routing configuration."
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0:
            raise InvalidParameterValue(f"Invalid weight {weight}: must be between 0.0 and 1.0.")
        self._check_version(name, version)
        return version, float(weight)

    async def create(
        self, name: arns.FunctionKey, alias: str, function_version: str, description: str = "", weights: Mapping[str, Any] | None = None
    ) -> Alias:
        f = self.functions
        f.entry(name)  # ResourceNotFound before anything else
        async with f.locked(name) as fn:
            if alias in fn.aliases:
                raise ResourceConflict(f"Alias already exists: {f.arn(name, alias)}")
            self._check_version(name, function_version)
            extra, weight = self._routing(name, function_version, weights)
            new = Alias(arns.key_name(name), alias, function_version, str(uuid.uuid4()), description, extra, weight)
            await f.registry.put_alias(fn, new)
        return new

    async def update(
        self,
        name: arns.FunctionKey,
        alias: str,
        update: AliasUpdate,
        revision_id: str | None = None,
    ) -> Alias:
        """Partial update: what ``update`` gives replaces the alias's, the rest stays (a routing
        not given is kept, and checked again against the primary version)."""
        f = self.functions
        f.entry(name)  # ResourceNotFound before anything else
        async with f.locked(name) as fn:
            current = self.get(name, alias)
            if revision_id is not None and revision_id != current.revision_id:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            primary = or_current(update.function_version, current.function_version)
            self._check_version(name, primary)
            kept = {current.additional_version: current.additional_weight} if current.additional_version else None
            extra, weight = self._routing(name, primary, or_current(update.routing_config, kept))
            new = dataclasses.replace(
                current, function_version=primary, description=or_current(update.description, current.description),
                additional_version=extra, additional_weight=weight, revision_id=str(uuid.uuid4()),
            )
            await f.registry.put_alias(fn, new)
        return new

    async def delete(self, name: arns.FunctionKey, alias: str) -> None:
        f = self.functions
        f.entry(name)  # ResourceNotFound before anything else
        async with f.locked(name) as fn:
            await f.registry.delete_alias(fn, alias)  # AWS: deleting an absent alias succeeds (idempotent)
