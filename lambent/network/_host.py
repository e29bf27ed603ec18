"""Host-side steps shared by the default network and the VPC networks: the sweep of a server's
links by name prefix, sysctl writes, and the short base-36 numbers in generated link names."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from pathlib import Path

from . import _netlink
from .errors import NetworkSetupFailed

__all__ = ["base36", "delete_links", "links_with_prefix", "write_sysctl"]


def links_with_prefix(prefix: str) -> list[str]:
    """The host's links whose names start with ``prefix`` (in-process: no ``ip`` run)."""
    return [name for _, name in socket.if_nameindex() if name.startswith(prefix)]


def delete_links(names: Iterable[str], on_error: Callable[[str, OSError], object]) -> None:
    """Delete each link in turn over rtnetlink; one that cannot be deleted is handed to
    ``on_error`` with the error, and the sweep goes on."""
    for name in names:
        try:
            _netlink.delete_link(name)
        except OSError as exc:
            on_error(name, exc)


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def write_sysctl(key: str, value: str) -> None:
    """Set ``/proc/sys/<key>`` unless it already reads ``value``."""
    path = Path("/proc/sys") / key
    try:
        if path.read_text().strip() != value:
            path.write_text(value)
    except OSError as exc:
        raise NetworkSetupFailed(f"cannot set {key.replace('/', '.')}={value}", error=str(exc)) from exc
