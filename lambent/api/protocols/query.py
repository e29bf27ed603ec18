"""query (IAM, STS, CloudWatch): ``Action``/``Version`` and the input as flattened form fields
(``Tags.member.1.Key``), answered in XML inside ``<OpResponse><OpResult>`` with
``<ResponseMetadata><RequestId>``. Field naming follows ``botocore/serialize.py``'s
``QuerySerializer``; :mod:`lambent.api.protocols.ec2` overrides the few rules EC2 spells otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from botocore.model import Shape

from lambent.api.protocols._base import Params, ProtocolHandler
from lambent.api.protocols._values import scalar_from_text, scalar_to_text
from lambent.api.protocols.errors import Wire, WireError
from lambent.api.protocols.errors import query as render_error
from lambent.api.protocols.routing import ActionRouter
from lambent.errors import UnknownOperation

_MISSING: Any = object()


class _Fields:
    """The form fields of one request, with every dotted prefix indexed for O(1) "is there more"."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.values: dict[str, str] = {}
        self.prefixes: set[str] = set()
        for k, v in pairs:
            self.values.setdefault(k, v)
            parts = k.split(".")
            for i in range(1, len(parts)):
                self.prefixes.add(".".join(parts[:i]))


class QueryHandler(ProtocolHandler):
    protocol = "query"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._router = ActionRouter(self.model)
        self._namespace: str | None = self.model.metadata.get("xmlNamespace")

    # -- naming rules (overridden by ec2) --------------------------------------------------
    def _name(self, shape: Shape, default: str) -> str:
        name: str = shape.serialization.get("name", default)
        return name

    def _list_items_prefix(self, shape: Shape, prefix: str) -> str:
        if shape.serialization.get("flattened"):
            member_name = shape.member.serialization.get("name")
            if member_name:
                return ".".join(prefix.split(".")[:-1] + [member_name])
            return prefix
        return f"{prefix}.{shape.member.serialization.get('name', 'member')}"

    def _empty_list_marker(self) -> bool:
        return True

    # -- requests -------------------------------------------------------------------------
    def parse(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes, *, validate: bool = True
    ) -> tuple[str, Params]:
        pairs = parse_qsl(query_string, keep_blank_values=True) if query_string else []
        if body:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = _Fields(pairs)
        action = fields.values.get("Action")
        name = self._router.match(action)
        if name is None:
            raise UnknownOperation(f"No {self.service} operation named {action!r}.")
        shape = self.model.operation_model(name).input_shape
        params: Params = {}
        if shape is not None:
            params = self._structure_in(shape, fields, "")
        if validate:
            self.validator(name)(params)
        return name, params

    def _structure_in(self, shape: Shape, fields: _Fields, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = self._name(member, name)
            p = f"{prefix}.{key}" if prefix else key
            value = self._in(member, fields, p)
            if value is not _MISSING:
                out[name] = value
        return out

    def _in(self, shape: Shape, fields: _Fields, prefix: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            if prefix not in fields.prefixes:
                return _MISSING
            return self._structure_in(shape, fields, prefix)
        if kind == "list":
            items = self._list_items_prefix(shape, prefix)
            if items not in fields.prefixes and f"{items}.1" not in fields.values:
                return [] if fields.values.get(prefix) == "" else _MISSING
            out = []
            i = 1
            while f"{items}.{i}" in fields.values or f"{items}.{i}" in fields.prefixes:
                out.append(self._in(shape.member, fields, f"{items}.{i}"))
                i += 1
            return out
        if kind == "map":
            base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
            key_name = self._name(shape.key, "key")
            value_name = self._name(shape.value, "value")
            if base not in fields.prefixes:
                return _MISSING
            result: dict[str, Any] = {}
            i = 1
            while f"{base}.{i}" in fields.prefixes:
                k = fields.values.get(f"{base}.{i}.{key_name}", "")
                result[k] = self._in(shape.value, fields, f"{base}.{i}.{value_name}")
                i += 1
            return result
        text = fields.values.get(prefix)
        if text is None:
            return _MISSING
        return scalar_from_text(shape, text, prefix)

    # -- answers --------------------------------------------------------------------------
    def serialise(self, operation: str, output: Mapping[str, Any] | None, request_id: str | None = None) -> Wire:
        request_id = request_id or str(uuid.uuid4())
        shape = self.model.operation_model(operation).output_shape
        root = ET.Element(f"{operation}Response")
        if self._namespace:
            root.set("xmlns", self._namespace)
        self._fill_body(root, shape, output or {}, request_id)
        body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        return 200, {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}, body

    def _fill_body(self, root: ET.Element, shape: Shape | None, output: Mapping[str, Any], request_id: str) -> None:
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            target = ET.SubElement(root, wrapper) if wrapper else root
            self._structure_out(target, shape, output)
        meta = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(meta, "RequestId").text = request_id

    def _structure_out(self, node: ET.Element, shape: Shape, value: Mapping[str, Any]) -> None:
        for name, member in shape.members.items():
            v = value.get(name)
            if v is None:
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                tag = member.member.serialization.get("name") or member.serialization.get("name", name)
                for item in v:
                    self._out(ET.SubElement(node, tag), member.member, item)
            elif member.type_name == "map" and member.serialization.get("flattened"):
                tag = member.serialization.get("name", name)
                for k, item in v.items():
                    self._map_entry(ET.SubElement(node, tag), member, k, item)
            else:
                self._out(ET.SubElement(node, member.serialization.get("name", name)), member, v)

    def _map_entry(self, node: ET.Element, shape: Shape, key: str, value: Any) -> None:
        ET.SubElement(node, shape.key.serialization.get("name", "key")).text = key
        self._out(ET.SubElement(node, shape.value.serialization.get("name", "value")), shape.value, value)

    def _out(self, node: ET.Element, shape: Shape, value: Any) -> None:
        kind = shape.type_name
        if kind == "structure":
            self._structure_out(node, shape, value)
        elif kind == "list":
            tag = shape.member.serialization.get("name", "member")
            for item in value:
                self._out(ET.SubElement(node, tag), shape.member, item)
        elif kind == "map":
            for k, item in value.items():
                self._map_entry(ET.SubElement(node, "entry"), shape, k, item)
        else:
            node.text = scalar_to_text(shape, value, "iso8601")

    def _render_error(self, err: WireError, request_id: str) -> Wire:
        return render_error(err, request_id, self._namespace)
