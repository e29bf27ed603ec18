"""ec2: the query protocol with EC2's spelling (``botocore/serialize.py``: ``EC2Serializer``).

Fields are named by ``queryName``, else the capitalised ``locationName``; lists are always
``Name.N`` and an empty list sends nothing. Answers carry no result wrapper: the members sit
directly under ``<OpResponse>`` next to ``<requestId>``; errors are ``<Response><Errors>``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import Shape

from lambent.api.protocols.errors import Wire, WireError
from lambent.api.protocols.errors import ec2 as render_error
from lambent.api.protocols.query import QueryHandler


class Ec2Handler(QueryHandler):
    protocol = "ec2"

    def _name(self, shape: Shape, default: str) -> str:
        ser = shape.serialization
        if "queryName" in ser:
            query_name: str = ser["queryName"]
            return query_name
        if "name" in ser:
            name: str = ser["name"]
            return name[0].upper() + name[1:]
        return default

    def _list_items_prefix(self, shape: Shape, prefix: str) -> str:
        return prefix

    def serialise(self, operation: str, output: Mapping[str, Any] | None, request_id: str | None = None) -> Wire:
        request_id = request_id or str(uuid.uuid4())
        shape = self.model.operation_model(operation).output_shape
        root = ET.Element(f"{operation}Response")
        root.set("xmlns", f"http://ec2.amazonaws.com/doc/{self.model.api_version}/")
        ET.SubElement(root, "requestId").text = request_id
        if shape is not None:
            self._structure_out(root, shape, output or {})
        body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        return 200, {"Content-Type": "text/xml;charset=UTF-8"}, body

    def _render_error(self, err: WireError, request_id: str) -> Wire:
        return render_error(err, request_id)
