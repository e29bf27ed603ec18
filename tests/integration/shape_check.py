"""Check raw AWS JSON responses against botocore's service model (the wire contract).

botocore's parsers are lenient: an unknown key is dropped, a string where a number belongs goes
through. ``ShapeRecorder`` hooks a boto3 client, keeps every raw response body, and ``problems``
lists each place where a body disagrees with the operation's output shape (unknown member,
wrong type, value outside an enum, missing required member) or an error code that the operation
does not declare.
"""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

from lambent.vpc import errors as vpc_errors
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape

#: Errors any operation may answer (AWS's common errors), beyond the ones it declares.
COMMON_ERRORS = {
    "AccessDeniedException", "IncompleteSignature", "InternalFailure", "InvalidAction", "InvalidClientTokenId",
    "InvalidSignatureException", "MissingAuthenticationTokenException", "NotAuthorized", "RequestExpired",
    "ThrottlingException", "UnrecognizedClientException", "ValidationError", "ValidationException",
    "SerializationException", "UnknownOperationException",
    # the query protocols' (IAM, STS) spelling of AccessDeniedException: STS's AssumeRole refusal
    "AccessDenied",
}


#: Values AWS is documented to send although the model's enum lacks them: (shape, value).
#: LastUpdateStatusReasonCode "Creating" while an update is InProgress
#: (the update-function-code example in https://aws.amazon.com/blogs/compute/coming-soon-expansion-of-aws-lambda-states-to-all-functions/).
KNOWN_ENUM_GAPS = {
    ("LastUpdateStatusReasonCode", "Creating"),
    # EC2 answers VPC endpoint states in lower case ("available"), as its API reference's examples
    # show, although the model's enum is capitalised
    ("State", "available"), ("State", "pending"), ("State", "deleting"), ("State", "deleted"),
}


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
                # by shape name and by wire code (query protocols: NoSuchEntityException is NoSuchEntity)
                declared = {s.name: s for s in call.model.error_shapes}
                declared |= {s.metadata.get("error", {}).get("code", s.name): s for s in call.model.error_shapes}
                if call.model.metadata.get("protocol") == "ec2":  # the ec2 model declares no errors
                    declared |= {c.code: None for c in vpc_errors.EC2_ERRORS}  # type: ignore[misc]
                if call.error_code not in declared.keys() | COMMON_ERRORS:
                    out.append(f"{where}: error {call.error_code} is not declared (declared: {sorted(declared)})")
                elif call.model.metadata.get("protocol") == "query":
                    out.extend(f"{where}: {p}" for p in check_query_error(call.body))
                elif call.model.metadata.get("protocol") == "ec2":
                    out.extend(f"{where}: {p}" for p in check_ec2_error(call.body))
                elif call.error_code in declared:
                    out.extend(f"{where}: {p}" for p in check_error_body(declared[call.error_code], call.body))
                continue
            shape = call.model.output_shape
            if shape is None or not call.body:
                continue
            if shape.serialization.get("payload"):
                continue  # the body is one member (a blob such as Invoke's Payload)
            if call.model.metadata.get("protocol") == "query":
                out.extend(f"{where}: {p}" for p in check_query_body(call.model.name, shape, call.body))
                continue
            if call.model.metadata.get("protocol") == "ec2":
                out.extend(f"{where}: {p}" for p in check_ec2_body(call.model.name, shape, call.body))
                continue
            try:
                doc = json.loads(call.body)
            except ValueError:
                out.append(f"{where}: body is not JSON: {call.body[:80]!r}")
                continue
            out.extend(f"{where}: {p}" for p in check(shape, doc, "$"))
        return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def check_query_body(operation: str, shape: Shape, body: bytes) -> list[str]:
    """A query-protocol (IAM, STS) answer: ``<OpResponse><OpResult>members</OpResult>
    <ResponseMetadata><RequestId/></ResponseMetadata></OpResponse>`` with members per the shape."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return [f"body is not XML: {body[:80]!r}"]
    out = [] if _local(root.tag) == f"{operation}Response" else [f"root element {_local(root.tag)!r}"]
    children = {_local(c.tag): c for c in root}
    if "ResponseMetadata" not in children or children["ResponseMetadata"].find("{*}RequestId") is None:
        out.append("no ResponseMetadata/RequestId")
    wrapper = shape.serialization.get("resultWrapper")
    if wrapper:
        result = children.get(wrapper)
        if result is None:
            return [*out, f"no {wrapper} element"]
        out.extend(check_xml(shape, result, "$"))
    return out


def check_ec2_body(operation: str, shape: Shape, body: bytes) -> list[str]:
    """An EC2 answer: ``<OpResponse><requestId/>members</OpResponse>``, lists of ``item``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return [f"body is not XML: {body[:80]!r}"]
    out = [] if _local(root.tag) == f"{operation}Response" else [f"root element {_local(root.tag)!r}"]
    if root.find("{*}requestId") is None:
        out.append("no requestId")
    for child in list(root):
        if _local(child.tag) == "requestId":
            root.remove(child)
    return out + check_xml(shape, root, "$", item="item")


def check_ec2_error(body: bytes) -> list[str]:
    """``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return [f"error body is not XML: {body[:80]!r}"]
    error = root.find("{*}Errors/{*}Error")
    if _local(root.tag) != "Response" or error is None or root.find("{*}RequestID") is None:
        return [f"not an EC2 error Response: {body[:120]!r}"]
    return [f"Error has no {k}" for k in ("Code", "Message") if error.find("{*}" + k) is None]


def check_xml(shape: Shape, element: Any, path: str, item: str = "member") -> list[str]:
    """The disagreements of an XML element with ``shape`` (query protocol: lists of ``member``,
    maps of ``entry``/``key``/``value``, scalars as text)."""
    kind = shape.type_name
    text = (element.text or "").strip()
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        wire = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        out: list[str] = []
        seen = set()
        for child in element:
            name = _local(child.tag)
            seen.add(name)
            if name not in wire:
                out.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                out.extend(check_xml(wire[name], child, f"{path}.{name}", item))
        out.extend(f"{path}.{r}: required member missing" for r in shape.required_members
                   if shape.members[r].serialization.get("name", r) not in seen)
        return out
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        name = member.serialization.get("name", item)
        return [p for i, c in enumerate(element) for p in
                ([f"{path}[{i}]: list item is {_local(c.tag)!r}"] if _local(c.tag) != name
                 else check_xml(member, c, f"{path}[{i}]", item))]
    if kind == "map":
        return [p for i, entry in enumerate(element) for c in entry if _local(c.tag) == "value"
                for p in check_xml(shape.value, c, f"{path}[{i}]", item)]  # type: ignore[attr-defined]
    if kind == "string":
        enum = shape.enum  # type: ignore[attr-defined]
        known = enum and (text in enum or (shape.name, text) in KNOWN_ENUM_GAPS)
        return [f"{path}: {text!r} is not one of {shape.name}'s values"] if enum and not known else []
    if kind in ("integer", "long"):
        return [] if text.lstrip("-").isdigit() else [f"{path}: expected an integer, got {text!r}"]
    if kind == "boolean":
        return [] if text in ("true", "false") else [f"{path}: expected true/false, got {text!r}"]
    if kind == "timestamp":
        return [] if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", text) else [
            f"{path}: expected an ISO 8601 timestamp, got {text!r}"]
    return []


def check_query_error(body: bytes) -> list[str]:
    """``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return [f"error body is not XML: {body[:80]!r}"]
    error = root.find("{*}Error")
    if _local(root.tag) != "ErrorResponse" or error is None or root.find("{*}RequestId") is None:
        return [f"not an ErrorResponse with Error and RequestId: {body[:120]!r}"]
    return [f"Error has no {k}" for k in ("Type", "Code", "Message") if error.find("{*}" + k) is None]


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
