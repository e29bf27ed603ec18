"""The per-environment link steps over rtnetlink, without a process per step.

``add_veth`` (host side) creates the pair with its inner end directly in the sandbox's network
namespace, named ``eth0``, and the host end up on the bridge, then makes that port isolated and
non-learning. ``configure_inner`` enters the namespace on a dedicated thread (``setns`` is per
thread; the thread ends with the call, so it is never reused in the wrong namespace), gives
``eth0`` its address, brings it up and adds the default route. Errors are OSError with the
kernel's errno.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
from ipaddress import IPv4Address

__all__ = ["add_veth", "configure_inner", "delete_link"]

_NETLINK_ROUTE = 0
_RTM_NEWLINK, _RTM_DELLINK, _RTM_SETLINK, _RTM_NEWADDR, _RTM_NEWROUTE = 16, 17, 19, 20, 24
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_EXCL, _NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
_NLMSG_ERROR = 2
_NLA_F_NESTED = 0x8000
_IFLA_IFNAME, _IFLA_MASTER, _IFLA_PROTINFO, _IFLA_LINKINFO, _IFLA_NET_NS_PID = 3, 10, 12, 18, 19
_IFLA_INFO_KIND, _IFLA_INFO_DATA = 1, 2
_VETH_INFO_PEER = 1
_IFLA_BRPORT_LEARNING, _IFLA_BRPORT_ISOLATED = 8, 33
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_RTA_OIF, _RTA_GATEWAY = 4, 5
_IFF_UP = 0x1
_AF_BRIDGE = 7
_CLONE_NEWNET = 0x40000000


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _ifinfo(family: int = 0, index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", family, 0, index, flags, change)


class _Socket:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """Send one request and wait for its acknowledgement; OSError(errno) if refused."""
        self.seq += 1
        header = struct.pack("=IHHII", 16 + len(body), kind, _NLM_F_REQUEST | _NLM_F_ACK | flags, self.seq, 0)
        self.sock.send(header + body)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, mtype, _flags, seq, _pid = struct.unpack_from("=IHHII", data, offset)
                if mtype == _NLMSG_ERROR and seq == self.seq:
                    (error,) = struct.unpack_from("=i", data, offset + 16)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return
                offset += max(16, (length + 3) & ~3)


def add_veth(host_link: str, bridge: str, pid: int) -> None:
    master = socket.if_nametoindex(bridge)
    peer = _ifinfo() + _attr(_IFLA_IFNAME, b"eth0\0") + _attr(_IFLA_NET_NS_PID, struct.pack("=I", pid))
    info = _attr(_IFLA_INFO_KIND, b"veth") + _attr(_IFLA_INFO_DATA | _NLA_F_NESTED, _attr(_VETH_INFO_PEER, peer))
    nl = _Socket()
    try:
        nl.request(_RTM_NEWLINK, _NLM_F_CREATE | _NLM_F_EXCL,
                   _ifinfo(flags=_IFF_UP, change=_IFF_UP) + _attr(_IFLA_IFNAME, host_link.encode() + b"\0")
                   + _attr(_IFLA_MASTER, struct.pack("=I", master)) + _attr(_IFLA_LINKINFO | _NLA_F_NESTED, info))
        index = socket.if_nametoindex(host_link)
        port = _attr(_IFLA_BRPORT_ISOLATED, b"\x01") + _attr(_IFLA_BRPORT_LEARNING, b"\x00")
        nl.request(_RTM_SETLINK, 0, _ifinfo(_AF_BRIDGE, index) + _attr(_IFLA_PROTINFO | _NLA_F_NESTED, port))
    finally:
        nl.close()


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _inner(pid: int, address: IPv4Address, prefix: int, gateway: IPv4Address) -> None:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            index = socket.if_nametoindex("eth0")
            nl = _Socket()
        finally:
            _setns(own)  # if this raises, the thread ends with the call
    finally:
        os.close(own)
    try:
        packed = address.packed
        nl.request(_RTM_NEWADDR, _NLM_F_CREATE | _NLM_F_EXCL,
                   struct.pack("=BBBBI", socket.AF_INET, prefix, 0, 0, index)
                   + _attr(_IFA_LOCAL, packed) + _attr(_IFA_ADDRESS, packed))
        nl.request(_RTM_NEWLINK, 0, _ifinfo(index=index, flags=_IFF_UP, change=_IFF_UP))
        # rtmsg: family, dst_len, src_len, tos, table main (254), proto boot (3), scope universe, unicast
        nl.request(_RTM_NEWROUTE, _NLM_F_CREATE | _NLM_F_EXCL,
                   struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0)
                   + _attr(_RTA_GATEWAY, gateway.packed) + _attr(_RTA_OIF, struct.pack("=I", index)))
    finally:
        nl.close()


def configure_inner(pid: int, address: IPv4Address, prefix: int, gateway: IPv4Address) -> None:
    """Blocking; runs the namespace part on its own thread and waits for it."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _inner(pid, address, prefix, gateway)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=work, name=f"netns-configure-{pid}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def delete_link(name: str) -> bool:
    """Delete the link ``name`` of the host; False if there is none."""
    try:
        index = socket.if_nametoindex(name)
    except OSError:
        return False
    nl = _Socket()
    try:
        nl.request(_RTM_DELLINK, 0, _ifinfo(index=index))
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == 19:  # ENODEV: gone meanwhile (with its namespace)
            return False
        raise
    finally:
        nl.close()
    return True
