"""The nftables ruleset of one server's default network, as ``nft -f`` text (pure; no I/O).

From a sandbox (traffic entering from the bridge), in order:

- to the server itself (input): only DNS to the gateway (at most ``dns_rate_per_s`` packets or
  connections a second per sandbox, dropped by the kernel past that), and replies to what the
  host opened;
  every other address of the host (its loopback services included) is unreachable;
- between sandboxes: dropped on the bridge (ports are also ``isolated``) and in forwarding;
- forwarded: link-local (169.254.0.0/16: the metadata address) and the subnet itself always
  dropped; then ``allow`` accepted, ``deny`` dropped, the rest accepted and masqueraded;
- towards a sandbox, forwarded or from the host itself (output): only replies (``ct state
  established,related``): nothing can open a connection to a function.

Both tables are named after the server (``lambent_<id>``), so a server only ever replaces or
deletes its own: the text starts by creating then deleting each (atomic in one ``nft -f``).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

__all__ = ["Ruleset", "delete_text"]

LINK_LOCAL = IPv4Network("169.254.0.0/16")


def _elements(nets: tuple[IPv4Network, ...]) -> str:
    return f"elements = {{ {', '.join(str(n) for n in nets)} }}" if nets else ""


@dataclass(frozen=True)
class Ruleset:
    table: str
    bridge: str
    port_prefix: str
    subnet: IPv4Network
    gateway: IPv4Address
    deny: tuple[IPv4Network, ...]
    allow: tuple[IPv4Network, ...]
    #: Per sandbox address, DNS packets (UDP) and connections (TCP) a second the kernel lets
    #: reach the forwarder: a flood is dropped before it can fill the shared socket's buffer.
    dns_rate_per_s: int = 50

    def text(self) -> str:
        br = f'"{self.bridge}"'
        ports = f'"{self.port_prefix}*"'
        rate = self.dns_rate_per_s
        return f"""table inet {self.table} {{}}
delete table inet {self.table}
table bridge {self.table} {{}}
delete table bridge {self.table}
table inet {self.table} {{
  set deny {{ type ipv4_addr; flags interval; {_elements(self.deny)} }}
  set allow {{ type ipv4_addr; flags interval; {_elements(self.allow)} }}
  set dns_udp {{ type ipv4_addr; flags dynamic; timeout 60s; size 65536; }}
  set dns_tcp {{ type ipv4_addr; flags dynamic; timeout 60s; size 65536; }}
  chain input {{
    type filter hook input priority filter - 10; policy accept;
    iifname {br} udp dport 53 update @dns_udp {{ ip saddr limit rate over {rate}/second burst {rate} packets }} drop
    iifname {br} tcp dport 53 ct state new update @dns_tcp {{ ip saddr limit rate over {rate}/second burst {rate} packets }} drop
    iifname {br} ct state established,related accept
    iifname {br} ip daddr {self.gateway} udp dport 53 accept
    iifname {br} ip daddr {self.gateway} tcp dport 53 accept
    iifname {br} drop
  }}
  chain output {{
    type filter hook output priority filter - 10; policy accept;
    oifname {br} ct state established,related accept
    oifname {br} drop
  }}
  chain forward {{
    type filter hook forward priority filter - 10; policy accept;
    iifname {br} oifname {br} drop
    oifname {br} ct state established,related accept
    oifname {br} drop
    iifname {br} ip saddr != {self.subnet} drop
    iifname {br} meta nfproto ipv6 drop
    iifname {br} ip daddr {LINK_LOCAL} drop
    iifname {br} ip daddr {self.subnet} drop
    iifname {br} ip daddr @allow accept
    iifname {br} ip daddr @deny drop
    iifname {br} accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {self.subnet} oifname != {br} masquerade
  }}
}}
table bridge {self.table} {{
  chain forward {{
    type filter hook forward priority filter - 10; policy accept;
    iifname {ports} oifname {ports} drop
  }}
}}
"""


def delete_text(table: str) -> str:
    """Removes both tables of ``table`` whether they exist or not."""
    return (f"table inet {table} {{}}\ndelete table inet {table}\n"
            f"table bridge {table} {{}}\ndelete table bridge {table}\n")
