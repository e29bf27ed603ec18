"""Operation handlers registered under their model names: adding an operation is one function.

    ops = Operations("lambda")

    @ops.register("GetAccountSettings")
    async def get_account_settings(params: Params) -> Mapping[str, Any]: ...

A name the model lacks fails at import time (a typo never reaches a caller); a modelled operation
with no handler answers ``UnknownOperationException`` naming it, as :mod:`lambent.api.operations`
does today.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from lambent.api.protocols.model import service_model
from lambent.errors import UnknownOperation

F = TypeVar("F", bound=Callable[..., Any])


class Operations:
    def __init__(self, service: str) -> None:
        self.service = service
        self._names = frozenset(service_model(service).operation_names)
        self._handlers: dict[str, Callable[..., Any]] = {}

    def register(self, operation: str) -> Callable[[F], F]:
        if operation not in self._names:
            raise ValueError(f"{self.service} has no operation {operation!r} in botocore's model")
        if operation in self._handlers:
            raise ValueError(f"{self.service} operation {operation} is registered twice")

        def add(fn: F) -> F:
            self._handlers[operation] = fn
            return fn

        return add

    def handler(self, operation: str) -> Callable[..., Any]:
        fn = self._handlers.get(operation)
        if fn is None:
            raise UnknownOperation(
                f"The {self.service} operation {operation} is not implemented by this lambent server yet "
                "(docs/parity.md lists what is)."
            )
        return fn

    def __contains__(self, operation: object) -> bool:
        return operation in self._handlers

    @property
    def implemented(self) -> frozenset[str]:
        return frozenset(self._handlers)
