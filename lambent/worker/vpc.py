"""Environments of functions in a VPC: which network they join, and Lambda's errors when they
cannot.

An environment of a configuration whose ``VpcConfig`` names subnets joins that VPC instead of the
default network: the platform's :data:`VpcPlacer` (over ``lambent.network.vpc.VpcNetwork``) gives
its network (an address in one of the function's subnets, held while the environment lives) and
whether lambent's API is reachable from the VPC (an endpoint or a NAT gateway; the inside
listener answers only then). :class:`VpcEnvironmentNetwork` wraps that network for one
environment and turns its failures into Lambda's Invoke errors:

- every subnet out of addresses (the VPC model's InsufficientFreeAddresses, a LimitExceeded
  carrying ``subnet_id``) -> :class:`~lambent.errors.SubnetIPAddressLimitReached` (502) naming the
  subnet;
- the host's cap on VPC interfaces (``worker.vpc_interfaces_max``) reached ->
  :class:`~lambent.errors.ENILimitReached` (502);
- anything else lambent raises -> :class:`~lambent.errors.VpcAccessFailed` (EC2UnexpectedException).

Abuse case: a function that cold-starts in a loop cannot exhaust the host's links, addresses or
nftables elements: at most ``vpc_interfaces_max`` VPC interfaces exist at once (the count goes up
before an attach and down after its detach, also when the attach failed), and a subnet's
addresses are its own size; the invoke fails (an async event is retried per its policy) and other
functions keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lambent.control.model import FunctionConfig
from lambent.errors import ENILimitReached, LambentError, LimitExceeded, SubnetIPAddressLimitReached, VpcAccessFailed
from lambent.worker.environment import EnvironmentNetwork, NetworkAttachment

__all__ = ["ENI_LIMIT_MESSAGE", "InterfaceCap", "VpcDataPlane", "VpcEnvironmentNetwork", "VpcPlacement", "VpcPlacer",
           "subnet_limit_message", "vpc_placement"]

#: Lambda's wording (as its logs record it) for ENILimitReachedException.
ENI_LIMIT_MESSAGE = ("Lambda was not able to create an ENI in the VPC of the Lambda function because the limit "
                     "for Network Interfaces has been reached.")


def subnet_limit_message(subnet_id: str) -> str:
    """SubnetIPAddressLimitReachedException's message (the model's wording), naming the subnet."""
    return ("Lambda was not able to set up VPC access for the Lambda function because one or more configured "
            f"subnets has no available IP addresses. Subnet: {subnet_id}")


@dataclass(frozen=True)
class VpcPlacement:
    """Where the environments of one VpcConfig go."""

    network: EnvironmentNetwork
    #: Whether lambent's API answers inside the sandbox right now (checked per connection).
    api_reachable: Callable[[], bool]


#: The platform's: the placement of a configuration with an attached VpcConfig (raises a
#: LambentError when the VPC cannot serve it).
VpcPlacer = Callable[[FunctionConfig], VpcPlacement]


class InterfaceCap:
    """The host's VPC interfaces: at most ``limit`` at once. Scope: one per server; event loop only."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("vpc_interfaces_max must be at least 1")
        self.limit = limit
        self.in_use = 0

    def take(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def give(self) -> None:
        self.in_use = max(0, self.in_use - 1)


class VpcEnvironmentNetwork:
    """One environment's VPC network (satisfies EnvironmentNetwork): the placement's network,
    under the host's cap, failing with Lambda's errors. ``detach`` is idempotent."""

    def __init__(self, inner: EnvironmentNetwork, cap: InterfaceCap, function: str) -> None:
        self.inner = inner
        self.cap = cap
        self.function = function
        self._held = False

    @property
    def resolv_conf(self) -> Path:
        return self.inner.resolv_conf

    async def attach(self, env_id: str, pid: int) -> NetworkAttachment:
        if not self.cap.take():
            raise ENILimitReached(ENI_LIMIT_MESSAGE, function=self.function, environment=env_id,
                                  limit=self.cap.limit)
        self._held = True
        try:
            return await self.inner.attach(env_id, pid)
        except BaseException as exc:
            self._give()
            if isinstance(exc, VpcAccessFailed):
                raise
            if isinstance(exc, LimitExceeded) and exc.context.get("subnet_id"):
                subnet = str(exc.context["subnet_id"])
                raise SubnetIPAddressLimitReached(subnet_limit_message(subnet), function=self.function,
                                                  environment=env_id, subnet_id=subnet) from exc
            if isinstance(exc, LambentError):
                raise VpcAccessFailed(f"Lambda was not able to set up VPC access for the Lambda function: {exc.message}",
                                      function=self.function, environment=env_id) from exc
            raise

    async def detach(self, att: NetworkAttachment, /) -> None:
        try:
            await self.inner.detach(att)
        finally:
            self._give()

    def _give(self) -> None:
        if self._held:
            self._held = False
            self.cap.give()


class VpcDataPlane(Protocol):
    """What placing an environment needs of ``lambent.network.vpc.VpcNetwork``."""

    def for_function(self, account_id: str, subnet_ids: Sequence[str],
                     security_group_ids: Sequence[str]) -> EnvironmentNetwork: ...

    def api_reachable(self, account_id: str, vpc_id: str) -> bool: ...


#: Lambda's StateReasonCode for a VpcConfig whose objects went away (by the VPC model's error code).
_REASONS = {"InvalidSubnetID.NotFound": "InvalidSubnet", "InvalidGroup.NotFound": "InvalidSecurityGroup"}


def vpc_placement(plane: VpcDataPlane, cfg: FunctionConfig) -> VpcPlacement:
    """Where environments of ``cfg`` (an attached VpcConfig) go on ``plane``; VpcAccessFailed
    (with Lambda's reason code) when its subnets or groups no longer serve it."""
    vpc = cfg.vpc_config
    if vpc is None or not vpc.attached:
        raise VpcAccessFailed("the configuration joins no VPC", function=cfg.name)
    try:
        network = plane.for_function(vpc.account_id, vpc.subnet_ids, vpc.security_group_ids)
    except LambentError as exc:
        failed = VpcAccessFailed(f"Lambda was not able to set up VPC access for the Lambda function: {exc.message}",
                                 function=cfg.name)
        failed.reason_code = _REASONS.get(str(getattr(exc, "code", "")), "InvalidConfiguration")
        raise failed from exc
    account, vpc_id = vpc.account_id, vpc.vpc_id
    return VpcPlacement(network, lambda: plane.api_reachable(account, vpc_id))
