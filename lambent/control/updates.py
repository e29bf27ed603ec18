"""Partial updates of the control plane: what an Update* operation asked to change, typed.

AWS's Update* operations change only the members the caller gave; a member given as ``null`` is
not the same as a member left out (``DeadLetterConfig: {}`` removes the queue, no
DeadLetterConfig keeps it). So every member of an update defaults to :data:`NOT_GIVEN`, a sentinel
distinct from ``None``; ``None`` means "remove" only where the member documents it.

The values are frozen and slotted: a service applies an update with :func:`dataclasses.replace`
on the frozen configuration it holds and never mutates what the caller passed. The API layer
builds them from the wire shapes; the domain validates their values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from lambent.control.model import VpcConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")


class NotGiven:
    """The type of :data:`NOT_GIVEN`: a member the caller left out. One instance; falsy."""

    __slots__ = ()
    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __copy__(self) -> NotGiven:
        return self

    def __deepcopy__(self, memo: object) -> NotGiven:
        return self

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


def given(value: T | NotGiven) -> bool:
    """Whether the caller gave this member (``None`` counts as given)."""
    return not isinstance(value, NotGiven)


def or_current(value: T | NotGiven, current: T) -> T:
    """``value`` if given, else ``current``."""
    return current if isinstance(value, NotGiven) else value


def given_members(update: DataclassInstance) -> dict[str, Any]:
    """The members of an update dataclass that were given, by field name (for ``replace``)."""
    return {f.name: getattr(update, f.name) for f in dataclasses.fields(update) if given(getattr(update, f.name))}


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """UpdateFunctionConfiguration: every member it can change, in FunctionConfig's names and units.

    ``dead_letter_arn=None`` removes the dead-letter queue; ``environment`` replaces the whole
    map (``{}`` clears it). ``snap_start_apply_on`` is AWS's ``SnapStart.ApplyOn``.
    """

    role: str | NotGiven = NOT_GIVEN
    handler: str | NotGiven = NOT_GIVEN
    description: str | NotGiven = NOT_GIVEN
    timeout_s: int | NotGiven = NOT_GIVEN
    memory_mb: int | NotGiven = NOT_GIVEN
    runtime: str | NotGiven = NOT_GIVEN
    environment: Mapping[str, str] | NotGiven = NOT_GIVEN
    ephemeral_storage_mb: int | NotGiven = NOT_GIVEN
    tracing_mode: str | NotGiven = NOT_GIVEN
    dead_letter_arn: str | None | NotGiven = NOT_GIVEN
    log_format: str | NotGiven = NOT_GIVEN
    log_group: str | NotGiven = NOT_GIVEN
    application_log_level: str | NotGiven = NOT_GIVEN
    system_log_level: str | NotGiven = NOT_GIVEN
    snap_start_apply_on: str | NotGiven = NOT_GIVEN
    #: VpcConfig, resolved against the VPC model by the API (an empty one takes the function out).
    vpc_config: VpcConfig | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True)
class AliasUpdate:
    """UpdateAlias. ``routing_config`` is ``RoutingConfig.AdditionalVersionWeights``: given empty,
    it removes the routing; not given, the alias keeps its routing."""

    function_version: str | NotGiven = NOT_GIVEN
    description: str | NotGiven = NOT_GIVEN
    routing_config: Mapping[str, float] | NotGiven = NOT_GIVEN


@dataclass(frozen=True, slots=True)
class InvokeConfigUpdate:
    """Put/UpdateFunctionEventInvokeConfig. On Put, a member not given is unset; on Update it is
    kept. ``None`` unsets a member on Update too (a destination removed)."""

    maximum_retry_attempts: int | None | NotGiven = NOT_GIVEN
    maximum_event_age_s: int | None | NotGiven = NOT_GIVEN
    on_success: str | None | NotGiven = NOT_GIVEN
    on_failure: str | None | NotGiven = NOT_GIVEN
