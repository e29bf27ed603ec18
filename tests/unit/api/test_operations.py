"""Naming requests from botocore's model (lambent/api/operations.py)."""

from __future__ import annotations

import pytest

from lambent.api.operations import operation_of, unknown_operation


@pytest.mark.parametrize(
    ("service", "method", "path", "query", "expected"),
    [
        ("lambda", "GET", "/2015-03-31/functions/fn/policy", "", "GetPolicy"),
        ("lambda", "DELETE", "/2015-03-31/functions/fn/policy/sid-1", "", "RemovePermission"),
        ("lambda", "GET", "/2019-09-30/functions/fn/provisioned-concurrency", "List=ALL", "ListProvisionedConcurrencyConfigs"),
        ("lambda", "GET", "/2019-09-30/functions/fn/provisioned-concurrency", "Qualifier=1", "GetProvisionedConcurrencyConfig"),
        ("lambda", "GET", "/2015-03-31/functions/fn/", "", "GetFunction"),
        ("scheduler", "GET", "/schedules/nightly", "", "GetSchedule"),
        ("lambda", "GET", "/2015-03-31/nothing", "", None),
        ("lambda", "PATCH", "/2015-03-31/functions/fn", "", None),
        ("lambent", "GET", "/anything", "", None),  # no botocore model
    ],
)
def test_operation_of(service: str, method: str, path: str, query: str, expected: str | None) -> None:
    assert operation_of(service, method, path, query) == expected


def test_messages() -> None:
    assert "GetPolicy is not implemented" in unknown_operation("lambda", "GET", "/2015-03-31/functions/fn/policy").message
    assert unknown_operation("lambda", "GET", "/x").message == "No lambda operation matches GET /x."
