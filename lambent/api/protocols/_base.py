"""What every protocol handler offers; the per-operation plans live in the subclasses."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.model import ServiceModel

from lambent import errors as e
from lambent.api.protocols import errors as wire_errors
from lambent.api.protocols.errors import Wire, WireError
from lambent.api.protocols.validate import compile_operation

Params = dict[str, Any]


class ProtocolHandler(ABC):
    """Parses requests of one service into (operation, typed params) and serialises its answers.

    ``skip`` maps an operation to member paths its domain code validates itself (AWS answers
    otherwise there); every other model constraint is checked here, once compiled per operation."""

    #: botocore's name of the protocol (``rest-json``, ``json``, ``query``, ``ec2``).
    protocol: str = ""

    def __init__(self, model: ServiceModel, skip: Mapping[str, frozenset[str]] | None = None) -> None:
        self.model = model
        self.service = model.service_name
        self._skip = dict(skip or {})
        self._validators: dict[str, Callable[[Mapping[str, Any]], None]] = {}
        # message member of each modelled error (``message`` or ``Message``)
        self._message_keys: dict[str, str] = {}
        for shape in model.error_shapes:
            for key in shape.members:
                if key.lower() == "message":
                    code = shape.metadata.get("error", {}).get("code", shape.name)
                    self._message_keys[code] = key
                    self._message_keys[shape.name] = key

    def validator(self, operation: str) -> Callable[[Mapping[str, Any]], None]:
        check = self._validators.get(operation)
        if check is None:
            check = compile_operation(self.model.operation_model(operation), self._skip.get(operation, frozenset()))
            self._validators[operation] = check
        return check

    def precompile(self, operations: Iterable[str] | None = None) -> None:
        """Build the plans and validators of ``operations`` (default: every operation of the
        model) now, at start-up, rather than on first use. A server precompiles only what it
        serves: EC2's model alone has ~700 operations (about 1 s of compiling)."""
        for name in (self.model.operation_names if operations is None else operations):
            self.validator(name)

    @abstractmethod
    def parse(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes, *, validate: bool = True
    ) -> tuple[str, Params]:
        """(operation name, params typed per the model); raises LambentError subclasses."""

    def route(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, Any] | None:
        """(operation, what :meth:`parse_known` needs of the routing) without reading the members, or
        None when no operation of the model matches. Default: a full parse without validation."""
        from lambent.errors import UnknownOperation

        try:
            return self.parse(method, path, query_string, headers, body, validate=False)
        except UnknownOperation:
            return None

    def parse_known(
        self, operation: str, routed: Any, query_string: str, headers: Mapping[str, str], body: bytes,
        *, validate: bool = True,
    ) -> Params:
        """The params of a request already routed to ``operation`` (``routed`` from :meth:`route`)."""
        params: Params = routed
        if validate:
            self.validator(operation)(params)
        return params

    @abstractmethod
    def serialise(self, operation: str, output: Mapping[str, Any] | None, request_id: str | None = None) -> Wire:
        """(status, headers, body) of a successful answer."""

    @abstractmethod
    def _render_error(self, err: WireError, request_id: str) -> Wire: ...

    def serialise_error(
        self,
        exc: e.LambentError | None = None,
        *,
        code: str | None = None,
        message: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> Wire:
        """An error answer from a LambentError rendered in THIS service's error table and protocol,
        or from an explicit code/message/status (which override the exception's)."""
        base = wire_errors.from_exception(exc if exc is not None else e.LambentError(""), self.service)
        err = WireError(
            code if code is not None else base.code,
            message if message is not None else base.message,
            status if status is not None else base.status,
            base.extra,
            base.message_key if code is None else None,
            base.typed if code is None else True,
        )
        return self._render_error(err, request_id or str(uuid.uuid4()))

    def _message_key(self, err: WireError) -> str:
        return self._message_keys.get(err.code) or err.message_key or "message"
