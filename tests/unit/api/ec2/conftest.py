"""Puts ``ec2_wire`` on the import path; an in-process EC2 endpoint with the VPC error codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from ec2_wire import Endpoint, vpc_error_table  # noqa: E402

from botocore.model import Shape  # noqa: E402

from lambent.api import envelopes  # noqa: E402
from lambent.api.protocols.ec2 import Ec2Handler  # noqa: E402
from lambent.api.protocols.errors import Wire  # noqa: E402


def _undeclared(shape: Shape, value: Any, path: str) -> list[str]:
    """Members of ``value`` the output shape does not declare (the serialiser would drop them)."""
    if shape.type_name == "structure" and isinstance(value, Mapping):
        out = [f"{path}.{k}" for k in value if k not in shape.members]
        for k, v in value.items():
            if k in shape.members and v is not None:
                out += _undeclared(shape.members[k], v, f"{path}.{k}")
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _undeclared(shape.member, item, f"{path}[{i}]")]
    return []


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    """Also checks every answer a handler gives names only members of its output shape."""
    monkeypatch.setitem(envelopes.TABLES, "ec2", vpc_error_table())  # type: ignore[index]
    original = Ec2Handler.serialise

    def checked(self: Ec2Handler, operation: str, output: Mapping[str, Any] | None,
                request_id: str | None = None) -> Wire:
        shape = self.model.operation_model(operation).output_shape
        if output is not None:
            assert shape is not None, f"{operation} has no output shape but its handler returned {output}"
            assert _undeclared(shape, output, operation) == []
        return original(self, operation, output, request_id)

    monkeypatch.setattr(Ec2Handler, "serialise", checked)
    ep = Endpoint(tmp_path)
    yield ep
    ep.close()
