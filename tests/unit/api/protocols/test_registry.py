from __future__ import annotations

from typing import Any

import pytest

from lambent.api.protocols import handler
from lambent.api.protocols.registry import Operations
from lambent.errors import UnknownOperation


def test_an_operation_is_one_registered_function_reached_from_a_parsed_request() -> None:
    ops = Operations("lambda")

    @ops.register("GetFunction")
    def get_function(params: dict[str, Any]) -> dict[str, Any]:
        return {"Configuration": {"FunctionName": params["FunctionName"]}}

    name, params = handler("lambda").parse("GET", "/2015-03-31/functions/f", "", {}, b"")
    assert ops.handler(name)(params) == {"Configuration": {"FunctionName": "f"}}
    assert "GetFunction" in ops and ops.implemented == {"GetFunction"}


def test_unregistered_model_operation_is_unknown_operation_naming_it() -> None:
    with pytest.raises(UnknownOperation) as caught:
        Operations("lambda").handler("ListLayers")
    assert caught.value.message == (
        "The lambda operation ListLayers is not implemented by this lambent server yet (docs/parity.md lists what is)."
    )


def test_names_outside_the_model_and_duplicates_fail_at_registration() -> None:
    ops = Operations("lambda")
    with pytest.raises(ValueError, match="lambda has no operation 'GetFunctoin' in botocore's model"):
        ops.register("GetFunctoin")
    ops.register("Invoke")(lambda p: p)
    with pytest.raises(ValueError, match="lambda operation Invoke is registered twice"):
        ops.register("Invoke")
