"""The Linux side of VPCs: see the package docstring (contract: /work/briefs/vpc_contract.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from lambent.settings import NetworkSettings
from lambent.vpc.service import VpcService

__all__ = ["FunctionVpcNetwork", "VpcAttachment", "VpcNetwork"]


@dataclass(frozen=True)
class VpcAttachment:
    env_id: str
    account_id: str
    vpc_id: str
    subnet_id: str
    #: the ENI DescribeNetworkInterfaces shows (VpcService.lease_address)
    interface_id: str
    address: IPv4Address
    gateway: IPv4Address
    host_link: str


class VpcNetwork:
    """One per server: the Linux side of every VPC of every account (bridges per subnet, routes,
    security groups in nftables, NAT gateways, endpoints). Listens to VpcService changes."""

    def __init__(self, settings: NetworkSettings, vpcs: VpcService, *, data_dir: Path, files_dir: Path) -> None:
        self.settings = settings
        self.vpcs = vpcs
        self.data_dir = data_dir
        self.files_dir = files_dir

    async def start(self) -> None:
        """Remove leftovers, rebuild what vpc.db says should exist."""
        raise NotImplementedError  # filled in on this branch

    async def close(self) -> None:
        """Remove everything lambent created."""
        raise NotImplementedError

    def for_function(self, account_id: str, subnet_ids: Sequence[str],
                     security_group_ids: Sequence[str]) -> FunctionVpcNetwork:
        raise NotImplementedError

    def api_reachable(self, account_id: str, vpc_id: str) -> bool:
        """True while the VPC has a VPC endpoint for lambda (lambent's API) or a NAT gateway."""
        raise NotImplementedError

    async def attach_namespace(self, account_id: str, subnet_id: str, netns: str) -> tuple[IPv4Address, IPv4Address]:
        """(address, gateway) of a new interface of ``subnet_id`` in the named netns."""
        raise NotImplementedError

    async def detach_namespace(self, account_id: str, subnet_id: str, netns: str) -> None:
        raise NotImplementedError

    async def attach_host(self, account_id: str, subnet_id: str) -> tuple[IPv4Address, IPv4Address]:
        """(address, gateway) of an address of ``subnet_id`` for the host itself."""
        raise NotImplementedError

    async def detach_host(self, account_id: str, subnet_id: str) -> None:
        raise NotImplementedError


class FunctionVpcNetwork:
    """Satisfies lambent.worker.environment.EnvironmentNetwork for one function's VpcConfig."""

    vpc_id: str

    @property
    def resolv_conf(self) -> Path:
        raise NotImplementedError

    async def attach(self, env_id: str, pid: int) -> VpcAttachment:
        """Leases an address (VpcService.lease_address, InterfaceType.LAMBDA, the function's groups)
        in the function's subnet with the most free addresses; when every subnet is full raises
        lambent.vpc.errors.InsufficientFreeAddresses (its subnet_id detail names one subnet);
        NetworkSetupFailed (lambent.network.errors) when Linux refuses; nothing left behind."""
        raise NotImplementedError

    async def detach(self, att: object, /) -> None:
        """Idempotent, gives the address back."""
        raise NotImplementedError
