"""Every input member of every served operation is honoured or refused, never silently dropped.

The walk goes over botocore's model of each operation lambent serves: a member the service does
not act on must answer InvalidParameterValueException naming it (issue 9: `Layers` and
`VpcConfig` on CreateFunction were accepted and dropped).
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from harness import ROLE, create_function, unique, zip_of

import lambent.api.lambda_api  # noqa: F401 - registers every served operation
from lambent.api.rest import REGISTRY

APP = {"app.py": "def handler(e, c):\n    return e\n"}
MODEL = botocore.session.get_session().get_service_model("lambda")
#: The operations routed by lambent/api (lambda_api, lambda_versions, lambda_async).
SERVED = {
    "CreateFunction", "GetFunction", "GetFunctionConfiguration", "ListFunctions", "UpdateFunctionCode",
    "UpdateFunctionConfiguration", "DeleteFunction", "Invoke", "InvokeAsync", "GetAccountSettings",
    "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency", "TagResource", "UntagResource",
    "ListTags", "PublishVersion", "ListVersionsByFunction", "CreateAlias", "ListAliases", "GetAlias", "UpdateAlias",
    "DeleteAlias", "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
    "DeleteFunctionEventInvokeConfig", "ListFunctionEventInvokeConfigs", "AddPermission", "RemovePermission", "GetPolicy",
}


def test_every_served_operation_accounts_for_its_members() -> None:
    assert set(REGISTRY) == SERVED
    for op in SERVED:
        members = set(MODEL.operation_model(op).input_shape.members) if MODEL.operation_model(op).input_shape else set()
        u = REGISTRY[op]
        named = {m for m, _ in u.body} | {m for _, m in u.query} | set(u.headers.values())
        assert named <= members, (op, named - members)


def _sample(shape: Any) -> Any:
    """A non-empty value of the shape's type (its first enum value for an enum)."""
    t = shape.type_name
    if t == "structure":
        return {name: _sample(m) for name, m in list(shape.members.items())[:1]}
    if t == "list":
        return [_sample(shape.member)]
    if t == "map":
        return {"k": _sample(shape.value)}
    if t == "boolean":
        return True
    if t in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if t == "blob":
        return b"x"
    enum = shape.enum
    return enum[0] if enum else "x" * max(1, int(shape.metadata.get("min", 1)))


def _cases() -> list[tuple[str, str, Any]]:
    out = []
    for op in sorted(SERVED):
        u = REGISTRY[op]
        shape = MODEL.operation_model(op).input_shape
        for member, subs in u.body:
            if subs is None:
                out.append((op, member, {member: _sample(shape.members[member])}))
            else:
                for sub in subs:
                    out.append((op, f"{member}.{sub}", {member: {sub: _sample(shape.members[member].members[sub])}}))
        for member in (*(m for _, m in u.query), *u.headers.values()):
            out.append((op, member, {member: _sample(shape.members[member])}))
    return out


CASES = _cases()


def test_the_issue_members_are_among_the_refused() -> None:
    names = {(op, m) for op, m, _ in CASES}
    assert {("CreateFunction", "Layers"), ("UpdateFunctionConfiguration", "Layers")} <= names
    # VpcConfig is honoured now (tests/integration/test_vpc_functions.py)
    assert not {m for _, m, _ in CASES if m.startswith("VpcConfig")}


@pytest.mark.parametrize("op,member,extra", CASES, ids=[f"{op}-{m}" for op, m, _ in CASES])
def test_unhandled_member_is_refused_naming_it(server: Any, op: str, member: str, extra: dict[str, Any]) -> None:
    lam = server.client(parameter_validation=False)
    name = _function(server)
    code = zip_of(APP)
    base: dict[str, Any] = {
        "CreateFunction": dict(FunctionName=unique(), Runtime="python3.11", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": code}),
        "UpdateFunctionConfiguration": dict(FunctionName=name),
        "UpdateFunctionCode": dict(FunctionName=name, ZipFile=code),
        "ListFunctions": {},
        "Invoke": dict(FunctionName=name),
        "PublishVersion": dict(FunctionName=name),
        "AddPermission": dict(FunctionName=name, StatementId="s", Action="lambda:InvokeFunction", Principal="123456789012"),
    }[op]
    args = {**base, **extra}
    if "." in member:  # a sub-member next to what the handler needs of the structure
        top = member.split(".")[0]
        args[top] = {**(base.get(top) or {}), **extra[top]}
    call = getattr(lam, botocore.xform_name(op))
    with pytest.raises(ClientError) as exc:
        call(**args)
    r = exc.value.response
    assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidParameterValueException", 400)
    assert r["Error"]["Message"] == f"{member} is not supported by this lambent server yet ({op}); remove it from the request."


_FN: dict[int, str] = {}


def _function(server: Any) -> str:
    if id(server) not in _FN:
        _FN[id(server)] = create_function(server.client(), APP)
    return _FN[id(server)]


def test_empty_values_mean_none_and_are_accepted(lam: Any) -> None:
    # tools send empty structures for "none", which is what lambent does
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_of(APP)}, Layers=[], VpcConfig={"SubnetIds": [], "SecurityGroupIds": []},
                        SnapStart={"ApplyOn": "None"})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "PublishedVersions"})
    assert exc.value.response["Error"]["Message"] == (
        "SnapStart ApplyOn PublishedVersions is not supported by this lambent server yet; only None is.")
