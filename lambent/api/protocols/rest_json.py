"""rest-json (Lambda, Scheduler, API Gateway v2): URI labels, query string, headers, payload, JSON body.

Each member's ``location`` in the model says where it travels (``botocore/serialize.py``:
``BaseRestSerializer``); an operation's plan of members by location is computed once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel, Shape

from lambent.api.protocols._base import Params, ProtocolHandler
from lambent.api.protocols._json import from_json, to_json
from lambent.api.protocols._values import scalar_from_text, scalar_to_text
from lambent.api.protocols.errors import Wire, WireError
from lambent.api.protocols.errors import rest_json as render_error
from lambent.api.protocols.registry import no_operation_matches
from lambent.api.protocols.routing import RestRouter
from lambent.errors import InvalidRequestContent

#: (member name, wire name, shape)
#: An output key no model has: response headers a handler adds outside the model (Invoke's
#: X-Amzn-Trace-Id, which Lambda returns though its model does not name it).
EXTRA_HEADERS = "__headers__"

_Member = tuple[str, str, Shape]


@dataclass(frozen=True)
class _Plan:
    uri: tuple[_Member, ...]
    query: tuple[_Member, ...]
    query_map: tuple[str, Shape] | None
    headers: tuple[_Member, ...]  # wire name lower-cased
    header_maps: tuple[_Member, ...]  # wire name = lower-cased prefix
    status: str | None
    payload: tuple[str, Shape] | None
    body: tuple[_Member, ...]
    response_code: int


def _plan(shape: Shape | None, response_code: int = 200) -> _Plan:
    uri: list[_Member] = []
    query: list[_Member] = []
    query_map = None
    headers: list[_Member] = []
    header_maps: list[_Member] = []
    status = None
    payload = None
    body: list[_Member] = []
    if shape is not None:
        payload_name = shape.serialization.get("payload")
        for name, member in shape.members.items():
            loc = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if loc == "uri":
                uri.append((name, wire, member))
            elif loc == "querystring":
                if member.type_name == "map":
                    query_map = (name, member)
                else:
                    query.append((name, wire, member))
            elif loc == "header":
                headers.append((name, wire.lower(), member))
            elif loc == "headers":
                header_maps.append((name, wire.lower(), member))
            elif loc == "statusCode":
                status = name
            elif name == payload_name:
                payload = (name, member)
            else:
                body.append((name, wire, member))
    return _Plan(
        tuple(uri), tuple(query), query_map, tuple(headers), tuple(header_maps), status, payload, tuple(body), response_code
    )


def _header_in(shape: Shape, value: str, where: str) -> Any:
    if shape.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(value))
        except ValueError:
            raise InvalidRequestContent(f"Header '{where}' is not base64-encoded JSON.") from None
    if shape.type_name == "list":
        return [scalar_from_text(shape.member, v.strip(), where, "rfc822") for v in value.split(",")]
    return scalar_from_text(shape, value, where, "rfc822")


def _header_out(shape: Shape, value: Any) -> str:
    if shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    if shape.type_name == "list":
        return ",".join(scalar_to_text(shape.member, v, "rfc822") for v in value)
    return scalar_to_text(shape, value, "rfc822")


class RestJsonHandler(ProtocolHandler):
    protocol = "rest-json"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._router = RestRouter(self.model)
        self._inputs: dict[str, _Plan] = {}
        self._plans_in = self._inputs
        self._typed_errors = any("Type" in shape.members for shape in self.model.error_shapes)
        self._outputs: dict[str, _Plan] = {}

    def _input_plan(self, op: OperationModel) -> _Plan:
        plan = self._inputs.get(op.name)
        if plan is None:
            plan = self._inputs[op.name] = _plan(op.input_shape)
        return plan

    def _output_plan(self, op: OperationModel) -> _Plan:
        plan = self._outputs.get(op.name)
        if plan is None:
            plan = self._outputs[op.name] = _plan(op.output_shape, int(op.http.get("responseCode", 200)))
        return plan

    def precompile(self, operations: Iterable[str] | None = None) -> None:
        names = list(self.model.operation_names if operations is None else operations)
        super().precompile(names)
        for name in names:
            op = self.model.operation_model(name)
            self._input_plan(op)
            self._output_plan(op)

    def parse(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes, *, validate: bool = True
    ) -> tuple[str, Params]:
        query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
        found = self._router.match(method, path, query)
        if found is None:
            raise no_operation_matches(self.service, method, path)
        name, labels = found
        return name, self._params(name, labels, query, headers, body, validate)

    def route(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, Any] | None:
        query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
        found = self._router.match(method, path, query)
        if found is None:
            return None
        return found[0], (found[1], query)

    def parse_known(
        self, operation: str, routed: Any, query_string: str, headers: Mapping[str, str], body: bytes,
        *, validate: bool = True,
    ) -> Params:
        """``routed``: the decoded URI labels (wire names), or (labels, parsed query) from :meth:`route`;
        the hot path (Invoke, its path matched by the caller) skips the router this way."""
        if isinstance(routed, tuple):
            labels, query = routed
        else:
            labels = routed
            query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
        return self._params(operation, labels, query, headers, body, validate)

    def _params(
        self, name: str, labels: Mapping[str, str], query: Mapping[str, list[str]], headers: Mapping[str, str],
        body: bytes, validate: bool,
    ) -> Params:
        plan = self._plans_in.get(name)
        if plan is None:
            plan = self._input_plan(self.model.operation_model(name))
        params: Params = {}
        for member, wire, shape in plan.uri:
            if wire in labels:
                params[member] = scalar_from_text(shape, labels[wire], member)
        for member, wire, shape in plan.query:
            values = query.get(wire)
            if values is not None:
                if shape.type_name == "list":
                    params[member] = [scalar_from_text(shape.member, v, member) for v in values]
                else:
                    params[member] = scalar_from_text(shape, values[0], member)
        if plan.query_map is not None:
            taken = {w for _, w, _ in plan.query}
            member, shape = plan.query_map
            rest = {k: v for k, v in query.items() if k not in taken}
            if rest:
                many = shape.value.type_name == "list"
                params[member] = {k: (v if many else v[0]) for k, v in rest.items()}
        lower: Mapping[str, str] = {}
        if plan.header_maps:
            lower = {k.lower(): v for k, v in headers.items()}
        elif plan.headers:
            # Starlette's Headers (what the server passes) look names up case-insensitively
            lower = headers if getattr(headers, "raw", None) is not None else {k.lower(): v for k, v in headers.items()}
        if plan.headers or plan.header_maps:
            for member, wire, shape in plan.headers:
                value = lower.get(wire)
                if value is not None:
                    params[member] = _header_in(shape, value, wire)
            for member, prefix, _shape in plan.header_maps:
                found_map = {k[len(prefix) :]: v for k, v in lower.items() if k.startswith(prefix)}
                if found_map:
                    params[member] = found_map
        if plan.payload is not None:
            member, shape = plan.payload
            if body:
                if shape.type_name == "blob":
                    params[member] = body
                elif shape.type_name == "string":
                    params[member] = body.decode()
                else:
                    params[member] = from_json(shape, _load(body))
        elif plan.body and body:
            doc = _load(body)
            if not isinstance(doc, dict):
                raise InvalidRequestContent("Could not parse request body into json: the body is not a JSON object.")
            for member, wire, shape in plan.body:
                if wire in doc:
                    params[member] = from_json(shape, doc[wire], f"/{wire}")
        if validate:
            self.validator(name)(params)
        return params

    def serialise(self, operation: str, output: Mapping[str, Any] | None, request_id: str | None = None) -> Wire:
        op = self.model.operation_model(operation)
        plan = self._output_plan(op)
        out = output or {}
        status = plan.response_code
        headers: dict[str, str] = {}
        if request_id:
            headers["x-amzn-RequestId"] = request_id
        for member, wire, shape in plan.headers:
            value = out.get(member)
            if value is not None:
                headers[wire] = _header_out(shape, value)
        for member, prefix, _ in plan.header_maps:
            for k, v in (out.get(member) or {}).items():
                headers[prefix + k] = str(v)
        extra = out.get(EXTRA_HEADERS)
        if extra:
            headers.update(extra)
        if plan.status is not None and out.get(plan.status) is not None:
            status = int(out[plan.status])
        body = b""
        if status in (204, 304):
            pass  # no body, ever (HTTP): only headers and the status travel
        elif plan.payload is not None:
            member, shape = plan.payload
            value = out.get(member)
            if value is not None:
                if shape.type_name == "blob":
                    body = value if isinstance(value, bytes) else value.encode()
                elif shape.type_name == "string":
                    body = value.encode()
                else:
                    body = json.dumps(to_json(shape, value)).encode()
                    headers["Content-Type"] = "application/json"
        elif plan.body:  # an output of header/status members only has no body (InvokeAsync, DeleteFunction)
            doc = {}
            for member, wire, shape in plan.body:
                value = out.get(member)
                if value is not None:
                    doc[wire] = to_json(shape, value)
            body = json.dumps(doc).encode()
            headers["Content-Type"] = "application/json"
        return status, headers, body

    def _render_error(self, err: WireError, request_id: str) -> Wire:
        status, headers, body = render_error(err, request_id, self._message_key(err))
        if not self._typed_errors:
            # Only some services (Lambda) model a ``Type`` member in their errors; Scheduler's
            # shapes have none, and AWS sends none (transitional here: belongs in errors.rest_json).
            doc = json.loads(body)
            doc.pop("Type", None)
            body = json.dumps(doc).encode()
        return status, headers, body


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
