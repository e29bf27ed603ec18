"""The layer's public surface, and its agreement with lambent's current Lambda envelope (so that
moving Lambda onto it changes no answer)."""

from __future__ import annotations

import json

import pytest
from protocols_wire import proto

import lambent.api.protocols as protocols
from lambent import errors as e
from lambent.api.envelopes import SHAPES, error_response


def test_public_names_are_pinned() -> None:
    assert sorted(protocols.__all__) == [
        "Params", "ProtocolHandler", "Wire", "WireError", "build_handler", "handler", "protocols_of",
    ]


def test_unsupported_protocol_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="protocol 'smithy-rpc-v2-cbor' of cloudwatch is not supported"):
        protocols.build_handler("cloudwatch", protocol="smithy-rpc-v2-cbor")


def _instance(cls: type[e.LambentError]) -> e.LambentError:
    if cls is e.TooManyRequests:
        return e.TooManyRequests("slow down", reason="ConcurrentInvocationLimitExceeded")
    return cls("it went wrong")


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda c: c.__name__)
def test_rest_json_errors_equal_lambents_envelope(cls: type[e.LambentError]) -> None:
    exc = _instance(cls)
    old = error_response(exc, "rid")
    status, headers, body = proto("lambda").serialise_error(exc, request_id="rid")
    assert status == old.status_code
    assert headers["x-amzn-ErrorType"] == old.headers["x-amzn-ErrorType"]
    assert json.loads(body) == json.loads(bytes(old.body))
