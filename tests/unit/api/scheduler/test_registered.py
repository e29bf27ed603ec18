"""Every operation of the Scheduler model and of lambent's own model is served by a registered
handler, and lambent's model is a documented botocore model a stock session loads."""

from __future__ import annotations

import botocore.session

from lambent.api import lambent_api, scheduler_api  # noqa: F401 - their decorators register the handlers
from lambent.api.models import MODELS_DIR
from lambent.api.protocols.model import service_model
from lambent.api.services import LAMBENT, SCHEDULER


def test_every_modelled_operation_has_its_handler() -> None:
    assert SCHEDULER.implemented == frozenset(service_model("scheduler").operation_names)
    assert LAMBENT.implemented == frozenset(service_model("lambent").operation_names) == frozenset(
        {"CreateDeployment", "ListDeployments", "GetDeployment", "StopDeployment", "AttachSubnet", "DetachSubnet"})


def test_the_lambent_model_is_a_documented_rest_json_model_signed_as_lambent() -> None:
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    client = session.create_client("lambent", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                                   aws_access_key_id="AKID", aws_secret_access_key="secret")
    model = client.meta.service_model
    assert (model.protocol, model.signing_name, model.api_version) == ("rest-json", "lambent", "2026-11-27")
    undocumented = []
    for name in model.operation_names:
        op = model.operation_model(name)
        if not op.documentation:
            undocumented.append(name)
        for shape in (op.input_shape, op.output_shape):
            for member, m in (shape.members.items() if shape is not None else ()):
                if not m.documentation:
                    undocumented.append(f"{name}.{member}")
    assert undocumented == []
    assert model.operation_model("CreateDeployment").http["responseCode"] == 201
    assert {e.name for e in model.operation_model("GetDeployment").error_shapes} >= {
        "ResourceNotFoundException", "ValidationException", "ServiceException"}
