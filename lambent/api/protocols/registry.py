"""Operation handlers registered under their model names: adding an operation is one function.

    ops = Operations("lambda")

    @ops.register("GetAlias", handled={"FunctionName": None, "Name": None})
    async def get_alias(call: Call) -> Mapping[str, Any]: ...

A name the model lacks fails at import time (a typo never reaches a caller); a modelled operation
with no handler answers ``UnknownOperationException`` naming it. ``skip`` names the member paths
whose model constraints the domain checks itself (the generic checker leaves them alone);
``handled`` the members the handler acts on (every other given member is refused by name:
:mod:`lambent.api.protocols.unhandled`). The model is read on the first registration, so a
service whose model is not there yet (lambent's own API) can have its (empty) table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lambent.api.protocols.model import service_model
from lambent.api.protocols.unhandled import Handled, Unhandled, unhandled_of
from lambent.errors import UnknownOperation

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Registered:
    """One operation's handler and what the layer precomputed for it."""

    operation: str
    fn: Callable[..., Any]
    #: the member paths the model checker leaves alone: the handler's ``skip`` and the refused members
    skip: frozenset[str]
    unhandled: Unhandled


def not_implemented(service: str, operation: str) -> UnknownOperation:
    return UnknownOperation(
        f"The {service} operation {operation} is not implemented by this lambent server yet "
        "(docs/parity.md lists what is)."
    )


def no_operation_matches(service: str, method: str, path: str) -> UnknownOperation:
    return UnknownOperation(f"No {service} operation matches {method} {path}.")


class Operations:
    def __init__(self, service: str) -> None:
        self.service = service
        self._entries: dict[str, Registered] = {}

    def register(
        self, operation: str, *, skip: frozenset[str] = frozenset(), handled: Handled | None = None
    ) -> Callable[[F], F]:
        model = service_model(self.service)
        if operation not in model.operation_names:
            raise ValueError(f"{self.service} has no operation {operation!r} in botocore's model")
        if operation in self._entries:
            raise ValueError(f"{self.service} operation {operation} is registered twice")
        unhandled = unhandled_of(model.operation_model(operation), handled)

        def add(fn: F) -> F:
            if operation in self._entries:
                raise ValueError(f"{self.service} operation {operation} is registered twice")
            self._entries[operation] = Registered(operation, fn, frozenset(skip) | unhandled.paths, unhandled)
            return fn

        return add

    def entry(self, operation: str) -> Registered:
        found = self._entries.get(operation)
        if found is None:
            raise not_implemented(self.service, operation)
        return found

    def handler(self, operation: str) -> Callable[..., Any]:
        return self.entry(operation).fn

    def get(self, operation: str) -> Registered | None:
        return self._entries.get(operation)

    def skips(self) -> Mapping[str, frozenset[str]]:
        """{operation: member paths its domain validates}, for ``build_handler(skip=...)``."""
        return {op: r.skip for op, r in self._entries.items() if r.skip}

    def unhandled(self) -> Mapping[str, Unhandled]:
        return {op: r.unhandled for op, r in self._entries.items()}

    def __contains__(self, operation: object) -> bool:
        return operation in self._entries

    @property
    def implemented(self) -> frozenset[str]:
        return frozenset(self._entries)
