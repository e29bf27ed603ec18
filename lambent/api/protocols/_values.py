"""Scalar conversions shared by the protocols: timestamps, blobs, booleans, numbers.

The formats are botocore's (``botocore/serialize.py``): JSON bodies carry ``unixTimestamp``,
query strings and XML ``iso8601``, headers ``rfc822``, unless the shape names its own
``timestampFormat``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import email.utils
from datetime import datetime, timezone
from typing import Any

from botocore.model import Shape
from botocore.utils import parse_timestamp

from lambent.errors import InvalidRequestContent


def timestamp_in(value: Any, where: str) -> datetime:
    """A timestamp in any of AWS's wire forms (epoch seconds, ISO 8601, RFC 822) as an aware datetime."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, timezone.utc)
        if isinstance(value, str):
            parsed: datetime = parse_timestamp(value)
            return parsed.astimezone(timezone.utc)
    except (ValueError, TypeError, OverflowError):
        pass
    raise InvalidRequestContent(f"Value at '{where}' is not a valid timestamp.")


def timestamp_out(value: datetime, fmt: str) -> str | int | float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    if fmt == "unixTimestamp":
        seconds = calendar.timegm(value.timetuple())
        return seconds + value.microsecond / 1e6 if value.microsecond else seconds
    if fmt == "rfc822":
        return email.utils.formatdate(calendar.timegm(value.timetuple()), usegmt=True)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_format(shape: Shape, default: str) -> str:
    fmt: str = shape.serialization.get("timestampFormat", default)
    return fmt


def blob_in(value: Any, where: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise InvalidRequestContent(f"Value at '{where}' is not valid base64.")


def blob_out(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def scalar_from_text(shape: Shape, text: str, where: str, ts_default: str = "iso8601") -> Any:
    """A scalar that arrived as text (query string, form field, header, XML, URI label)."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        raise InvalidRequestContent(f"Value '{text}' at '{where}' is not a valid {kind}.") from None
    if kind == "boolean":
        if text in ("true", "false"):
            return text == "true"
        raise InvalidRequestContent(f"Value '{text}' at '{where}' is not a valid boolean.")
    if kind == "timestamp":
        fmt = timestamp_format(shape, ts_default)
        if fmt == "unixTimestamp":
            try:
                return timestamp_in(float(text), where)
            except ValueError:
                pass
        return timestamp_in(text, where)
    if kind == "blob":
        return blob_in(text, where)
    return text


def scalar_to_text(shape: Shape, value: Any, ts_default: str = "iso8601") -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(timestamp_out(value, timestamp_format(shape, ts_default)))
    if kind == "blob":
        return blob_out(value)
    return str(value)
