"""Values for any shape of a model, deterministic, for round trips through the layer and botocore.

Constraints are not honoured (round trips run with ``validate=False``); depth is bounded so that
recursive shapes terminate, and a member deeper than the bound is left out entirely."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from botocore.model import OperationModel, Shape

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
MAX_DEPTH = 4


def value(shape: Shape, depth: int = 0, *, key: str = "v") -> Any:
    kind = shape.type_name
    if kind == "structure":
        if depth >= MAX_DEPTH:
            return None
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            if member.serialization.get("eventstream") or getattr(member, "is_document_type", False):
                continue
            if member.serialization.get("location") == "statusCode":
                out[name] = 200
                continue
            if member.serialization.get("location") == "headers":
                out[name] = {"k1": "hv"}
                continue
            if member.serialization.get("location") == "querystring" and member.type_name == "map":
                out[name] = {"qk": ["a", "b"] if member.value.type_name == "list" else "qv"}
                continue
            v = value(member, depth + 1, key=name)
            if v is not None:
                out[name] = v
                if getattr(shape, "is_tagged_union", False):
                    break  # a union carries exactly one member
        # an empty structure has no query/ec2 wire form (botocore's client sends nothing either)
        return out or None
    if kind == "list":
        item = value(shape.member, depth + 1, key=key)
        return None if item is None else [item, item]
    if kind == "map":
        item = value(shape.value, depth + 1, key=key)
        return None if item is None else {"mk1": item}
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            return {"j": [1, "x"]}
        enum = shape.enum
        if enum:
            return enum[0]
        text = f"{key[:8].lower()}-x"
        return text.ljust(int(shape.metadata.get("min", 0)), "x")
    if kind in ("integer", "long"):
        lo = shape.metadata.get("min")
        return int(lo) if lo is not None and lo > 7 else 7
    if kind in ("float", "double"):
        return 2.5
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return WHEN
    if kind == "blob":
        return b"blob\x00\x7f"
    return None


def skip_reason(op: OperationModel) -> str | None:
    for shape in (op.input_shape, op.output_shape):
        if shape is None:
            continue
        for member in shape.members.values():
            if member.serialization.get("eventstream") or member.serialization.get("streaming"):
                return "streaming"
    if op.has_event_stream_output or op.has_event_stream_input:
        return "event stream"
    return None
