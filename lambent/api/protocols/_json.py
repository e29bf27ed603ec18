"""JSON bodies (rest-json and json 1.0/1.1): typed values in, wire values out, walking the model.

Members absent from the model are ignored, as AWS does. Timestamps are epoch seconds unless the
shape says otherwise; blobs are base64 (``botocore/serialize.py``: ``JSONSerializer``).
"""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

from lambent.api.protocols._values import blob_in, blob_out, timestamp_format, timestamp_in, timestamp_out
from lambent.errors import InvalidRequestContent


def _bad(where: str, kind: str) -> InvalidRequestContent:
    return InvalidRequestContent(f"Could not parse request body into json: value at '{where or '/'}' is not a {kind}.")


def _is_document(shape: Shape) -> bool:
    return bool(shape.metadata.get("document"))


def from_json(shape: Shape, value: Any, where: str = "") -> Any:
    """``value`` (decoded JSON) as the typed value of ``shape``: datetime, bytes, int ..."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure" and _is_document(shape):
        return value  # a document (botocore: ``"document": true``): any JSON, as sent
    if kind == "structure":
        if not isinstance(value, dict):
            raise _bad(where, "structure")
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if key in value:
                out[name] = from_json(member, value[key], f"{where}/{key}")
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _bad(where, "list")
        return [from_json(shape.member, v, f"{where}/{i}") for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _bad(where, "map")
        return {k: from_json(shape.value, v, f"{where}/{k}") for k, v in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            raise _bad(where, "string")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(where, "integer")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(where, "number")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _bad(where, "boolean")
        return value
    if kind == "timestamp":
        return timestamp_in(value, where)
    if kind == "blob":
        return blob_in(value, where)
    return value  # document: any JSON


_PLAIN = frozenset({"string", "integer", "long", "boolean"})
_plain_cache: dict[int, tuple[Shape, frozenset[str] | None]] = {}


def _plain_members(shape: Shape) -> frozenset[str] | None:
    """The member names of a structure whose members all go on the wire as they are (strings,
    integers, booleans under their own names), else None. Cached per shape (models are built once)."""
    found = _plain_cache.get(id(shape))
    if found is not None and found[0] is shape:
        return found[1]
    plain: frozenset[str] | None = None
    if shape.type_name == "structure" and not _is_document(shape):
        members = shape.members
        if all(m.type_name in _PLAIN and "name" not in m.serialization for m in members.values()):
            plain = frozenset(members)
    if len(_plain_cache) < 4096:
        _plain_cache[id(shape)] = (shape, plain)
    return plain


def to_json(shape: Shape, value: Any) -> Any:
    """A typed value of ``shape`` as the JSON value the wire carries. Unknown members are dropped."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure" and _is_document(shape):
        return value
    if kind == "structure":
        out: dict[str, Any] = {}
        members = shape.members
        for name, v in value.items():
            member = members.get(name)
            if member is not None and v is not None:
                out[member.serialization.get("name", name)] = to_json(member, v)
        return out
    if kind == "list":
        member = shape.member
        plain = _plain_members(member)
        if plain is not None:  # a list of flat records (FilterLogEvents' events): no walk per value
            return [{k: v for k, v in item.items() if v is not None and k in plain} for item in value]
        return [to_json(member, v) for v in value]
    if kind == "map":
        return {k: to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return timestamp_out(value, timestamp_format(shape, "unixTimestamp"))
    if kind == "blob":
        return blob_out(value)
    if kind in ("float", "double"):
        return float(value)
    return value
