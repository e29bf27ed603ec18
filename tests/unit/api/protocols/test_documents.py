"""Document members (botocore: a structure with ``"document": true``) carry any JSON, both ways."""

from __future__ import annotations

import json

import pytest
from botocore.model import Shape

from lambent.api.protocols import handler
from lambent.api.protocols._json import from_json
from lambent.api.protocols.validate import compile_operation


def _details_shape() -> Shape:
    model = handler("lambent").model
    return model.shape_for("DeploymentEvent").members["Details"]


@pytest.mark.parametrize("value", [{"Weight": 0.1, "AdditionalVersionWeights": {"2": 0.1}}, {"nested": [1, {"a": None}]}])
def test_a_document_member_is_serialised_as_given(value: object) -> None:
    out = {"Deployment": {"DeploymentId": "d-1", "Events": [{"Type": "TrafficShifted", "Details": value}]}}
    _, _, body = handler("lambent").serialise("GetDeployment", out)
    assert json.loads(body)["Deployment"]["Events"][0]["Details"] == value


def test_a_document_is_parsed_as_sent_and_not_checked_as_a_structure() -> None:
    shape = _details_shape()
    assert from_json(shape, [1, "x"]) == [1, "x"]
    assert from_json(shape, {"k": {"deep": True}}) == {"k": {"deep": True}}
    # the validator treats a document as opaque (a list where a structure would be is fine)
    model = handler("lambent").model
    compile_operation(model.operation_model("GetDeployment"))({"DeploymentId": "d-1"})
