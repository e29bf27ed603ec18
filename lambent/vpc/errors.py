"""EC2's error codes for the VPC subset, as LambentError subclasses carrying their code.

Each class names its EC2 code in ``code`` (and the HTTP status EC2 answers it with in ``status``);
:mod:`lambent.api.envelopes` maps them to the EC2 envelope (its EC2 table lists
``{cls: ErrorShape(cls.code, cls.status) for cls in EC2_ERRORS}``). Their bases keep them in the
right family for every other table: a missing resource is a ResourceNotFound, a dependency still
in place a ResourceConflict, a bad value an InvalidParameterValue, an exhausted quota a
LimitExceeded. Codes and wording: the EC2 API reference, "Error codes for the Amazon EC2 API"
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).

    Ec2Error (mixin: code, status)
    ├── not found (ResourceNotFound): InvalidVpcID.NotFound, InvalidSubnetID.NotFound,
    │   InvalidGroup.NotFound, NatGatewayNotFound, InvalidVpcEndpointId.NotFound,
    │   InvalidNetworkInterfaceID.NotFound, InvalidPermission.NotFound,
    │   InvalidSecurityGroupRuleId.NotFound
    ├── malformed (InvalidParameterValue): InvalidVpcID.Malformed, InvalidSubnetID.Malformed,
    │   InvalidGroupId.Malformed, NatGatewayMalformed, InvalidVpcEndpointId.Malformed,
    │   InvalidNetworkInterfaceID.Malformed, InvalidVpc.Range,
    │   InvalidSubnet.Range, InvalidParameterValue, InvalidParameterCombination, MissingParameter,
    │   InvalidServiceName, VPCIdNotSpecified, InvalidPaginationToken
    ├── conflicts (ResourceConflict): InvalidSubnet.Conflict, DependencyViolation,
    │   InvalidPermission.Duplicate, InvalidGroup.Duplicate, CannotDelete, IdempotentParameterMismatch
    ├── quotas (LimitExceeded): VpcLimitExceeded, SubnetLimitExceeded, SecurityGroupLimitExceeded,
    │   RulesPerSecurityGroupLimitExceeded, NatGatewayLimitExceeded, VpcEndpointLimitExceeded,
    │   InsufficientFreeAddressesInSubnet
    └── DryRunOperation (412: the request would have succeeded)
"""

from __future__ import annotations

from typing import ClassVar

from lambent import errors as e


class Ec2Error(e.ClientError):
    """An error EC2 answers with its own code."""

    code: ClassVar[str] = "InvalidParameterValue"
    status: ClassVar[int] = 400


# -- not found -------------------------------------------------------------------------------------
class VpcNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidVpcID.NotFound"


class SubnetNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidSubnetID.NotFound"


class GroupNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidGroup.NotFound"


class NatGatewayNotFound(Ec2Error, e.ResourceNotFound):
    code = "NatGatewayNotFound"


class VpcEndpointNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidVpcEndpointId.NotFound"


class NetworkInterfaceNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidNetworkInterfaceID.NotFound"


class PermissionNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidPermission.NotFound"


class RuleIdNotFound(Ec2Error, e.ResourceNotFound):
    code = "InvalidSecurityGroupRuleId.NotFound"


# -- malformed / out of range ----------------------------------------------------------------------
class InvalidValue(Ec2Error, e.InvalidParameterValue):
    code = "InvalidParameterValue"


class VpcIdMalformed(InvalidValue):
    code = "InvalidVpcID.Malformed"


class SubnetIdMalformed(InvalidValue):
    code = "InvalidSubnetID.Malformed"


class GroupIdMalformed(InvalidValue):
    code = "InvalidGroupId.Malformed"


class NatGatewayMalformed(InvalidValue):
    code = "NatGatewayMalformed"


class VpcEndpointIdMalformed(InvalidValue):
    code = "InvalidVpcEndpointId.Malformed"


class NetworkInterfaceIdMalformed(InvalidValue):
    code = "InvalidNetworkInterfaceID.Malformed"


class VpcRange(InvalidValue):
    code = "InvalidVpc.Range"


class SubnetRange(InvalidValue):
    code = "InvalidSubnet.Range"


class ParameterCombination(InvalidValue):
    code = "InvalidParameterCombination"


class MissingParameter(InvalidValue):
    code = "MissingParameter"


class InvalidServiceName(InvalidValue):
    code = "InvalidServiceName"


class VpcIdNotSpecified(InvalidValue):
    code = "VPCIdNotSpecified"


class InvalidPaginationToken(InvalidValue):
    code = "InvalidPaginationToken"


# -- conflicts -------------------------------------------------------------------------------------
class SubnetConflict(Ec2Error, e.ResourceConflict):
    code = "InvalidSubnet.Conflict"


class DependencyViolation(Ec2Error, e.ResourceConflict):
    code = "DependencyViolation"


class PermissionDuplicate(Ec2Error, e.ResourceConflict):
    code = "InvalidPermission.Duplicate"


class GroupDuplicate(Ec2Error, e.ResourceConflict):
    code = "InvalidGroup.Duplicate"


class CannotDelete(Ec2Error, e.ResourceConflict):
    code = "CannotDelete"


class IdempotentMismatch(Ec2Error, e.ResourceConflict):
    """A client token reused with other arguments."""

    code = "IdempotentParameterMismatch"


# -- quotas ----------------------------------------------------------------------------------------
class VpcLimitExceeded(Ec2Error, e.LimitExceeded):
    code = "VpcLimitExceeded"


class SubnetLimitExceeded(Ec2Error, e.LimitExceeded):
    code = "SubnetLimitExceeded"


class SecurityGroupLimitExceeded(Ec2Error, e.LimitExceeded):
    code = "SecurityGroupLimitExceeded"


class RulesLimitExceeded(Ec2Error, e.LimitExceeded):
    code = "RulesPerSecurityGroupLimitExceeded"


class NatGatewayLimitExceeded(Ec2Error, e.LimitExceeded):
    code = "NatGatewayLimitExceeded"


class VpcEndpointLimitExceeded(Ec2Error, e.LimitExceeded):
    code = "VpcEndpointLimitExceeded"


class InsufficientFreeAddresses(Ec2Error, e.LimitExceeded):
    """A subnet has no free address left (what the network layer turns into Lambda's
    SubnetIPAddressLimitReachedException for an invoke)."""

    code = "InsufficientFreeAddressesInSubnet"


class DryRunOperation(Ec2Error):
    """EC2's answer to ``DryRun=true`` when the call would have succeeded (412, a client error)."""

    code = "DryRunOperation"
    status = 412


#: Every class with its own code, for the EC2 error table.
EC2_ERRORS: tuple[type[Ec2Error], ...] = (
    VpcNotFound, SubnetNotFound, GroupNotFound, NatGatewayNotFound, VpcEndpointNotFound,
    NetworkInterfaceNotFound, PermissionNotFound, RuleIdNotFound, InvalidValue, VpcIdMalformed, SubnetIdMalformed,
    GroupIdMalformed, NatGatewayMalformed, VpcEndpointIdMalformed, NetworkInterfaceIdMalformed,
    VpcRange, SubnetRange, ParameterCombination, MissingParameter,
    InvalidServiceName, VpcIdNotSpecified, InvalidPaginationToken, SubnetConflict,
    DependencyViolation, PermissionDuplicate, GroupDuplicate, CannotDelete, IdempotentMismatch, VpcLimitExceeded,
    SubnetLimitExceeded, SecurityGroupLimitExceeded, RulesLimitExceeded, NatGatewayLimitExceeded,
    VpcEndpointLimitExceeded, InsufficientFreeAddresses, DryRunOperation,
)
