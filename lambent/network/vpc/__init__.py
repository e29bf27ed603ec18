"""VPCs as real Linux networking (issue 11, part 2; docs/network.md "VPCs").

``VpcNetwork`` is the Linux side of every VPC of every account of one server: a bridge per subnet
(its gateway address on it), security groups as nftables chains keyed on interface addresses,
NAT gateways as masquerading, VPC endpoints as ``api_reachable``. ``FunctionVpcNetwork`` gives one
function's environments an interface in one of its subnets (it satisfies
``lambent.worker.environment.EnvironmentNetwork``).

    ruleset.py   the nftables text of all VPCs (pure)
    names.py     link and table names of one server (pure)
    manager.py   VpcNetwork, FunctionVpcNetwork, VpcAttachment
"""

from .manager import FunctionVpcNetwork, VpcAttachment, VpcNetwork

__all__ = ["FunctionVpcNetwork", "VpcAttachment", "VpcNetwork"]
