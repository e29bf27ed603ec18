"""Check raw AWS JSON responses against botocore's service model (the wire contract).

botocore's parsers are lenient: an unknown key is dropped, a string where a number belongs goes
through. ``ShapeRecorder`` hooks a boto3 client, keeps every raw response body, and ``problems``
lists each place where a body disagrees with the operation's output shape (unknown member,
wrong type, value outside an enum, missing required member) or an error code that the operation
does not declare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape

#: Errors any operation may answer (AWS's common errors), beyond the ones it declares.
COMMON_ERRORS = {
    "AccessDeniedException", "IncompleteSignature", "InternalFailure", "InvalidAction", "InvalidClientTokenId",
    "InvalidSignatureException", "MissingAuthenticationTokenException", "NotAuthorized", "RequestExpired",
    "ThrottlingException", "UnrecognizedClientException", "ValidationError", "ValidationException",
    "SerializationException", "UnknownOperationException",
}


#: Values AWS is documented to send although the model's enum lacks them: (shape, value).
#: LastUpdateStatusReasonCode "Creating" while an update is InProgress
#: (the update-function-code example in https://aws.amazon.com/blogs/compute/coming-soon-expansion-of-aws-lambda-states-to-all-functions/).
KNOWN_ENUM_GAPS = {("LastUpdateStatusReasonCode", "Creating")}


@dataclass
class Call:
    operation: str
    status: int
    body: bytes
    model: OperationModel
    error_code: str | None


@dataclass
class ShapeRecorder:
    calls: list[Call] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("after-call.*.*", self._after_call)
        return client

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: OperationModel, **_: Any) -> None:
        error = parsed.get("Error", {}).get("Code") if http_response.status_code >= 300 else None
        self.calls.append(Call(model.name, http_response.status_code, http_response.content, model, error))

    def operations(self) -> set[str]:
        return {c.operation for c in self.calls}

    def problems(self) -> list[str]:
        out: list[str] = []
        for call in self.calls:
            where = f"{call.operation} ({call.status})"
            if call.error_code is not None:
                declared = {s.name: s for s in call.model.error_shapes}
                if call.error_code not in declared.keys() | COMMON_ERRORS:
                    out.append(f"{where}: error {call.error_code} is not declared (declared: {sorted(declared)})")
                elif call.error_code in declared:
                    out.extend(f"{where}: {p}" for p in check_error_body(declared[call.error_code], call.body))
                continue
            shape = call.model.output_shape
            if shape is None or not call.body:
                continue
            if shape.serialization.get("payload"):
                continue  # the body is one member (a blob such as Invoke's Payload)
            try:
                doc = json.loads(call.body)
            except ValueError:
                out.append(f"{where}: body is not JSON: {call.body[:80]!r}")
                continue
            out.extend(f"{where}: {p}" for p in check(shape, doc, "$"))
        return out


def check_error_body(shape: Shape, body: bytes) -> list[str]:
    """An error's JSON body against its shape; ``__type``/``code`` are protocol fields, not members."""
    try:
        doc = json.loads(body)
    except ValueError:
        return [f"error body is not JSON: {body[:80]!r}"]
    if not isinstance(doc, dict):
        return [f"error body is not an object: {body[:80]!r}"]
    return check(shape, {k: v for k, v in doc.items() if k not in ("__type", "code")}, "$")


def check(shape: Shape, value: Any, path: str) -> list[str]:
    """The disagreements of ``value`` with ``shape`` (as parsed from the wire's JSON)."""
    kind = shape.type_name
    if kind == "structure" and shape.metadata.get("document"):
        return []  # a document: any JSON value
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        body_members = {n: m for n, m in shape.members.items() if m.serialization.get("location") is None}
        wire_names = {m.serialization.get("name", n): m for n, m in body_members.items()}
        out = [f"{path}.{k}: not a member of {shape.name}" for k in value if k not in wire_names]
        for key, member in wire_names.items():
            if key in value and value[key] is not None:
                out.extend(check(member, value[key], f"{path}.{key}"))
        out.extend(f"{path}.{r}: required member missing" for r in shape.required_members
                   if r in body_members and r not in value)
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in check(shape.member, item, f"{path}[{i}]")]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        return [p for k, v in value.items() for p in check(shape.value, v, f"{path}[{k!r}]")]  # type: ignore[attr-defined]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {value!r}"]
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum and (shape.name, value) not in KNOWN_ENUM_GAPS:
            return [f"{path}: {value!r} is not one of {shape.name}'s values"]
        return []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer, got {value!r}"]
    if kind in ("double", "float"):
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if kind == "timestamp":
        return [] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else [f"{path}: expected a timestamp, got {value!r}"]
    if kind == "blob":
        return [] if isinstance(value, str) else [f"{path}: expected base64 text, got {value!r}"]
    return []
