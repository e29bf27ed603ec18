"""Traffic-shifting strategies: CodeDeploy's deployment configurations for the Lambda compute
platform, as pure values that turn into a list of steps. No I/O, no clock.

Names and semantics copy "Deployment configurations on an AWS Lambda compute platform"
(https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html) and the
``TrafficRoutingConfig`` shape of CodeDeploy's CreateDeploymentConfig
(https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_TrafficRoutingConfig.html):

* ``AllAtOnce`` — all traffic moves to the new version at once.
* ``TimeBasedCanary`` — ``percentage`` % moves first; the rest ``interval`` minutes later.
* ``TimeBasedLinear`` — ``percentage`` % more every ``interval`` minutes until all of it has moved
  (the first increment at once, so 10 % every minute reaches 100 % after 9 minutes; with a
  percentage that does not divide 100 the last increment is smaller: 30 % → 30, 60, 90, 100).

Predefined names (optionally prefixed ``CodeDeployDefault.``, as AWS spells them) are
``LambdaAllAtOnce``, ``LambdaCanary10Percent{5,10,15,30}Minutes`` and
``LambdaLinear10PercentEvery{1,2,3,10}Minute(s)``. Custom ones use the same grammar without the
``Lambda`` prefix — ``Canary25Percent3Minutes``, ``Linear20PercentEvery2Minutes`` — or the
explicit ``TrafficRoutingConfig`` shape (see :meth:`TrafficRouting.from_wire`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambent.errors import InvalidParameterValue

#: Bounds of a custom configuration. AWS takes 1-99 % for both types; 2880 minutes (two days)
#: caps an interval so a typo cannot park an alias half-shifted for a month.
PERCENT_MIN, PERCENT_MAX = 1, 99
INTERVAL_MIN_MINUTES, INTERVAL_MAX_MINUTES = 1, 2880


class RoutingType(StrEnum):
    """CodeDeploy's ``TrafficRoutingType`` values."""

    ALL_AT_ONCE = "AllAtOnce"
    CANARY = "TimeBasedCanary"
    LINEAR = "TimeBasedLinear"


@dataclass(frozen=True)
class Step:
    """One traffic shift: after it, ``weight`` of the alias's traffic goes to the new version.

    ``weight == 1.0`` is the promotion (the alias's primary version becomes the new one, routing
    cleared). ``offset_s`` is when it is due, in strategy seconds from the start of shifting
    (before any time scaling).
    """

    weight: float
    offset_s: float

    def __post_init__(self) -> None:
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"step weight {self.weight} outside (0, 1]")
        if self.offset_s < 0:
            raise ValueError(f"step offset {self.offset_s} is negative")


@dataclass(frozen=True)
class TrafficRouting:
    """A deployment configuration. Validates itself: an invalid one cannot exist."""

    type: RoutingType
    percentage: int = 0
    interval_minutes: int = 0

    def __post_init__(self) -> None:
        if self.type == RoutingType.ALL_AT_ONCE:
            if self.percentage or self.interval_minutes:
                raise InvalidParameterValue("AllAtOnce takes no percentage or interval.")
            return
        for label, value, lo, hi in (
            ("percentage", self.percentage, PERCENT_MIN, PERCENT_MAX),
            ("interval", self.interval_minutes, INTERVAL_MIN_MINUTES, INTERVAL_MAX_MINUTES),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                unit = " %" if label == "percentage" else " minutes"
                raise InvalidParameterValue(
                    f"Invalid {self.type.value} {label} {value!r}: must be an integer from {lo} to {hi}{unit}."
                )

    # -- names -------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The predefined name if this is one (``LambdaCanary10Percent5Minutes``), else the custom
        spelling (``Canary25Percent3Minutes``)."""
        base = self._base_name()
        predefined = "Lambda" + base
        return predefined if predefined in PREDEFINED else base

    def _base_name(self) -> str:
        if self.type == RoutingType.ALL_AT_ONCE:
            return "AllAtOnce"
        minutes = f"{self.interval_minutes}Minute" + ("" if self.interval_minutes == 1 else "s")
        if self.type == RoutingType.CANARY:
            return f"Canary{self.percentage}Percent{minutes}"
        return f"Linear{self.percentage}PercentEvery{minutes}"

    # -- steps -------------------------------------------------------------------------------------
    def steps(self) -> tuple[Step, ...]:
        """The traffic shifts, in order; the last one is always the promotion (weight 1.0)."""
        interval_s = self.interval_minutes * 60.0
        if self.type == RoutingType.ALL_AT_ONCE:
            return (Step(1.0, 0.0),)
        if self.type == RoutingType.CANARY:
            return (Step(self.percentage / 100, 0.0), Step(1.0, interval_s))
        out: list[Step] = []
        k = 1
        while True:
            percent = min(100, k * self.percentage)
            out.append(Step(percent / 100, (k - 1) * interval_s))
            if percent == 100:
                return tuple(out)
            k += 1

    @property
    def duration_s(self) -> float:
        """Strategy seconds from the first shift to the promotion."""
        return self.steps()[-1].offset_s

    # -- wire --------------------------------------------------------------------------------------
    def to_wire(self) -> dict[str, Any]:
        """CodeDeploy's ``TrafficRoutingConfig`` shape."""
        out: dict[str, Any] = {"Type": self.type.value}
        if self.type == RoutingType.CANARY:
            out["TimeBasedCanary"] = {"CanaryPercentage": self.percentage, "CanaryInterval": self.interval_minutes}
        elif self.type == RoutingType.LINEAR:
            out["TimeBasedLinear"] = {"LinearPercentage": self.percentage, "LinearInterval": self.interval_minutes}
        return out

    @classmethod
    def from_wire(cls, raw: Any) -> TrafficRouting:
        """Parse a ``TrafficRoutingConfig``: ``{"Type": "TimeBasedCanary", "TimeBasedCanary":
        {"CanaryPercentage": 25, "CanaryInterval": 3}}`` (or ``TimeBasedLinear`` with
        ``LinearPercentage``/``LinearInterval``, or ``{"Type": "AllAtOnce"}``)."""
        if not isinstance(raw, dict):
            raise InvalidParameterValue("TrafficRoutingConfig must be an object.")
        kind = raw.get("Type")
        if kind == RoutingType.ALL_AT_ONCE.value:
            return cls(RoutingType.ALL_AT_ONCE)
        if kind == RoutingType.CANARY.value:
            body, keys = raw.get("TimeBasedCanary"), ("CanaryPercentage", "CanaryInterval")
        elif kind == RoutingType.LINEAR.value:
            body, keys = raw.get("TimeBasedLinear"), ("LinearPercentage", "LinearInterval")
        else:
            raise InvalidParameterValue(
                f"Invalid TrafficRoutingConfig.Type {kind!r}: must be one of AllAtOnce, TimeBasedCanary, TimeBasedLinear."
            )
        if not isinstance(body, dict) or keys[0] not in body or keys[1] not in body:
            raise InvalidParameterValue(f"TrafficRoutingConfig.{kind} needs {keys[0]} and {keys[1]}.")
        return cls(RoutingType(kind), body[keys[0]], body[keys[1]])


_NAME_RE = re.compile(
    r"^(?:CodeDeployDefault\.)?(?P<lambda>Lambda)?(?:"
    r"(?P<all>AllAtOnce)"
    r"|Canary(?P<cp>\d{1,3})Percent(?P<ci>\d{1,5})Minutes?"
    r"|Linear(?P<lp>\d{1,3})PercentEvery(?P<li>\d{1,5})Minutes?"
    r")$"
)


def _predefined() -> dict[str, TrafficRouting]:
    table = [TrafficRouting(RoutingType.ALL_AT_ONCE)]
    table += [TrafficRouting(RoutingType.CANARY, 10, m) for m in (5, 10, 15, 30)]
    table += [TrafficRouting(RoutingType.LINEAR, 10, m) for m in (1, 2, 3, 10)]
    return {"Lambda" + t._base_name(): t for t in table}


#: CodeDeploy's predefined Lambda configurations, by name.
PREDEFINED: dict[str, TrafficRouting] = _predefined()


def parse(name: str) -> TrafficRouting:
    """A configuration from its name: predefined (``LambdaCanary10Percent5Minutes``, optionally
    ``CodeDeployDefault.``-prefixed) or custom (``Canary25Percent3Minutes``)."""
    m = _NAME_RE.match(name.strip()) if isinstance(name, str) else None
    if m is None:
        raise InvalidParameterValue(
            f"Unknown deployment configuration {name!r}. Use one of {', '.join(PREDEFINED)}, or a custom "
            "Canary<P>Percent<M>Minutes / Linear<P>PercentEvery<M>Minutes."
        )
    if m["all"]:
        routing = TrafficRouting(RoutingType.ALL_AT_ONCE)
    elif m["cp"] is not None:
        routing = TrafficRouting(RoutingType.CANARY, int(m["cp"]), int(m["ci"]))
    else:
        routing = TrafficRouting(RoutingType.LINEAR, int(m["lp"]), int(m["li"]))
    if m["lambda"] and routing.name not in PREDEFINED:
        raise InvalidParameterValue(
            f"{name!r} is not a predefined configuration (those are {', '.join(PREDEFINED)}); "
            f"drop the 'Lambda' prefix for a custom one: {routing.name}."
        )
    return routing
