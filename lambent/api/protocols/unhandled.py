"""Input members no handler acts on, refused by name instead of silently dropped.

Every input member of a served operation is either honoured or refused: a member accepted and
dropped (``Layers``, ``VpcConfig`` ...) makes a caller believe it took effect. Computed once per
operation from botocore's model and the handler's ``handled`` declaration; checked on the parsed
params (members by their model names, wherever they travelled: body, query string or header).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel

from lambent.errors import InvalidParameterValue

#: What a handler acts on: input member -> None for the whole member, or the sub-members of a
#: structure it handles.
Handled = Mapping[str, "frozenset[str] | None"]


@dataclass(frozen=True)
class Unhandled:
    """The input members of one operation no handler acts on."""

    operation: str
    body: tuple[tuple[str, tuple[str, ...] | None], ...]  # member, None (whole) or its unhandled sub-members
    query: tuple[tuple[str, str], ...]  # (wire name, member)
    headers: Mapping[bytes, str]  # lower-case header name as ASGI gives it -> member

    @property
    def empty(self) -> bool:
        return not (self.body or self.query or self.headers)

    @property
    def paths(self) -> frozenset[str]:
        """The members' paths as the model checker names them (``code.sourceKMSKeyArn``): a member
        refused by name is not checked against the model first (the refusal is the answer)."""
        out = {_path(name) for _, name in self.query} | {_path(name) for name in self.headers.values()}
        for name, subs in self.body:
            if subs is None:
                out.add(_path(name))
            else:
                out.update(f"{_path(name)}.{_path(sub)}" for sub in subs)
        return frozenset(out)

    def refuse(self, params: Mapping[str, Any]) -> None:
        """InvalidParameterValueException naming the first member of ``params`` not acted on."""
        for name, subs in self.body:
            value = params.get(name)
            if subs is None:
                if given(value):
                    raise refusal(name, self.operation)
            elif isinstance(value, dict):
                for sub in subs:
                    if given(value.get(sub)):
                        raise refusal(f"{name}.{sub}", self.operation)
        for _, name in self.query:
            if given(params.get(name)):
                raise refusal(name, self.operation)
        for name in self.headers.values():
            if given(params.get(name)):
                raise refusal(name, self.operation)


def _path(name: str) -> str:
    return name[:1].lower() + name[1:]


def unhandled_of(op: OperationModel, handled: Handled | None) -> Unhandled:
    """Which members of ``op``'s input are not in ``handled`` (None: the handler acts on all)."""
    body: list[tuple[str, tuple[str, ...] | None]] = []
    query: list[tuple[str, str]] = []
    headers: dict[bytes, str] = {}
    shape = op.input_shape
    if handled is None or shape is None:
        return Unhandled(op.name, (), (), {})
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if name not in handled:
            if location == "querystring":
                query.append((wire, name))
            elif location == "header":
                headers[wire.lower().encode("latin-1")] = name
            elif location is None:
                body.append((name, None))
            continue
        subs = handled[name]
        if subs is not None and member.type_name == "structure":
            missing = tuple(m for m in member.members if m not in subs)
            if missing:
                body.append((name, missing))
    return Unhandled(op.name, tuple(body), tuple(query), headers)


def given(value: Any) -> bool:
    """Whether a member asks for something: tools send empty lists and maps (``"VpcConfig":
    {"SubnetIds": [], "SecurityGroupIds": []}``) to mean none, which is what lambent does."""
    if value is None or value == "" or value == [] or value == {} or value == b"":
        return False
    if isinstance(value, dict):
        return any(given(v) for v in value.values())
    return True


def refusal(member: str, operation: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"{member} is not supported by this lambent server yet ({operation}); remove it from the request."
    )
