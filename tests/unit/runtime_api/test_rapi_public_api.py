"""The surface the worker layer codes against is pinned here."""

from __future__ import annotations

import inspect

import lambent.runtime_api as rapi


def test_public_names() -> None:
    assert sorted(rapi.__all__) == sorted(
        [
            "MAX_RESPONSE_PAYLOAD_BYTES",
            "EndpointBusy",
            "EndpointClosed",
            "InitError",
            "Invocation",
            "InvocationResult",
            "RuntimeApiEndpoint",
            "RuntimeInitError",
        ]
    )


def test_endpoint_methods() -> None:
    ep = rapi.RuntimeApiEndpoint
    for name in ("start", "wait_ready", "invoke", "close"):
        assert inspect.iscoroutinefunction(getattr(ep, name)), name
    assert not inspect.iscoroutinefunction(ep.abort)
    assert isinstance(inspect.getattr_static(ep, "idle"), property)


def test_value_fields() -> None:
    fields = lambda cls: list(cls.__dataclass_fields__)  # noqa: E731
    assert fields(rapi.Invocation) == [
        "request_id",
        "payload",
        "deadline_ms",
        "invoked_function_arn",
        "trace_id",
        "client_context",
        "cognito_identity",
    ]
    assert fields(rapi.InvocationResult) == ["request_id", "ok", "body", "error_type"]
    assert fields(rapi.InitError) == ["body", "error_type"]
