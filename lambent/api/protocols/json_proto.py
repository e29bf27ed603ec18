"""json 1.0/1.1 (CloudWatch Logs): ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and
a JSON body of the input shape; answers are the output shape as JSON (``__type`` on errors)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambent.api.protocols._base import Params, ProtocolHandler
from lambent.api.protocols._json import from_json, to_json
from lambent.api.protocols.errors import Wire, WireError, json_protocol
from lambent.api.protocols.routing import TargetRouter
from lambent.errors import InvalidRequestContent, UnknownOperation


class JsonHandler(ProtocolHandler):
    protocol = "json"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._router = TargetRouter(self.model)
        self._version = str(self.model.metadata.get("jsonVersion", "1.0"))
        self._content_type = f"application/x-amz-json-{self._version}"

    def parse(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes, *, validate: bool = True
    ) -> tuple[str, Params]:
        target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), None)
        name = self._router.match(target)
        if name is None:
            raise UnknownOperation(f"No {self.service} operation matches X-Amz-Target {target!r}.")
        shape = self.model.operation_model(name).input_shape
        params: Params = {}
        if shape is not None and body.strip():
            try:
                doc = json.loads(body)
            except ValueError as exc:
                raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
            params = from_json(shape, doc)
        if validate:
            self.validator(name)(params)
        return name, params

    def serialise(self, operation: str, output: Mapping[str, Any] | None, request_id: str | None = None) -> Wire:
        shape = self.model.operation_model(operation).output_shape
        doc = to_json(shape, output or {}) if shape is not None else {}
        headers = {"Content-Type": self._content_type}
        if request_id:
            headers["x-amzn-RequestId"] = request_id
        return 200, headers, json.dumps(doc).encode()

    def _render_error(self, err: WireError, request_id: str) -> Wire:
        return json_protocol(err, request_id, self._version)
