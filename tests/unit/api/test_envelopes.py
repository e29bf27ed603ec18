"""Every error class maps to an AWS error shape, in one table."""

from __future__ import annotations

import json

import pytest

from lambent import errors
from lambent.api.envelopes import SHAPES, error_response, shape_for


def all_error_classes() -> list[type[errors.LambentError]]:
    """The tree of lambent.errors. Subclasses other packages derive from it (the store's, the
    policy engine's) take their family's entry along the MRO: tests/unit/test_errors_mapped.py
    renders each of them for every service."""
    out = []
    stack: list[type[errors.LambentError]] = [errors.LambentError]
    while stack:
        cls = stack.pop()
        if cls.__module__ == errors.__name__:
            out.append(cls)
        stack.extend(cls.__subclasses__())
    return out


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_has_its_own_entry(cls: type[errors.LambentError]) -> None:
    assert cls in SHAPES, f"{cls.__name__} has no AWS error shape"


def test_not_found_uses_capital_message_and_404() -> None:
    resp = error_response(errors.ResourceNotFound("Function not found: arn:x"))
    assert resp.status_code == 404
    assert resp.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert json.loads(resp.body) == {"Type": "User", "Message": "Function not found: arn:x"}


def test_throttle_carries_reason() -> None:
    resp = error_response(errors.TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded"))
    assert resp.status_code == 429
    assert json.loads(resp.body)["Reason"] == "ConcurrentInvocationLimitExceeded"


def test_subclass_without_entry_uses_parent() -> None:
    class Custom(errors.ResourceConflict):
        pass

    assert shape_for(Custom("x")).code == "ResourceConflictException"
