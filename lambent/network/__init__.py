"""The default network of functions: bridge, veth per environment, NAT, deny list, DNS
(docs/network.md)."""

from .addresses import AddressPool, parse_cidrs, pick_subnet
from .dns import DnsForwarder
from .errors import NetworkSetupFailed
from .manager import Attachment, DefaultNetwork, names_for
from .ruleset import Ruleset

__all__ = ["AddressPool", "Attachment", "DefaultNetwork", "DnsForwarder", "NetworkSetupFailed", "Ruleset",
           "names_for", "parse_cidrs", "pick_subnet"]
