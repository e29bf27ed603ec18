"""Create a listening TCP socket, or a bound UDP one, inside another process's network namespace.

A socket belongs to the namespace it was created in, for its whole life, whichever thread later
uses it. So a thread enters the sandbox's namespace (``setns`` is per thread), creates and binds
the socket, and returns; the host's event loop then serves the socket while it stays reachable
only from inside the sandbox.

Each call uses a fresh, dedicated thread: should switching back to the host namespace fail, that
thread ends with the call instead of being reused by an executor in the wrong namespace. Cost is
one thread start, about 0.3 ms.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

from .errors import SandboxError

_CLONE_NEWNET = 0x40000000
# Linux IP_FREEBIND: bind even if 127.0.0.1 is not configured yet (bwrap brings lo up later,
# during sandbox setup, possibly after we bind).
_IP_FREEBIND = 15


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _create_in_netns(pid: int, kind: socket.SocketKind, host: str, port: int, backlog: int) -> socket.socket:
    """Runs in the dedicated thread: a socket of ``kind`` bound in ``pid``'s netns; a TCP one
    (``SOCK_STREAM``) also listens, with ``backlog``."""
    stream = kind == socket.SOCK_STREAM
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            sock = socket.socket(socket.AF_INET, kind)
            try:
                if stream:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_IP, _IP_FREEBIND, 1)
                sock.bind((host, port))
                if stream:
                    sock.listen(backlog)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
        finally:
            # If this raises, the thread dies with it: nothing else ever runs on it.
            _setns(own)
    finally:
        os.close(own)
    return sock


def _socket_in_netns(
    pid: int, kind: socket.SocketKind, *, host: str, port: int, backlog: int, failure: str, thread: str
) -> asyncio.Future[socket.socket]:
    """Start creating a socket of ``kind`` in ``pid``'s netns on a thread named ``thread``; a
    failure is a :class:`SandboxError` reading ``failure`` followed by the cause."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[socket.socket] = loop.create_future()

    def deliver(sock: socket.socket | None, error: BaseException | None) -> None:
        if result.done():
            if sock is not None:
                sock.close()
            return
        if sock is not None:
            result.set_result(sock)
        else:
            result.set_exception(SandboxError(f"{failure}: {error}"))

    def work() -> None:
        sock: socket.socket | None = None
        error: BaseException | None = None
        try:
            sock = _create_in_netns(pid, kind, host, port, backlog)
        except BaseException as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(deliver, sock, error)
        except RuntimeError:  # the loop closed meanwhile; nobody is waiting any more
            if sock is not None:
                sock.close()

    threading.Thread(target=work, name=thread, daemon=True).start()
    return result


def listen_in_netns(pid: int, *, port: int, host: str = "127.0.0.1", backlog: int = 64) -> asyncio.Future[socket.socket]:
    """Start creating a non-blocking listening socket on ``host:port`` in ``pid``'s netns.

    Returns at once (the work runs on its own thread) so the caller can do other setup
    meanwhile. The caller bounds the wait; if it cancels the future, the socket is closed
    once created.
    """
    return _socket_in_netns(
        pid,
        socket.SOCK_STREAM,
        host=host,
        port=port,
        backlog=backlog,
        failure=f"cannot listen on {host}:{port} in the sandbox network",
        thread=f"netns-listen-{pid}",
    )


def udp_in_netns(pid: int, *, port: int, host: str = "127.0.0.1") -> asyncio.Future[socket.socket]:
    """Like :func:`listen_in_netns`, for a bound UDP socket (the X-Ray daemon's)."""
    return _socket_in_netns(
        pid,
        socket.SOCK_DGRAM,
        host=host,
        port=port,
        backlog=0,
        failure=f"cannot bind udp {host}:{port} in the sandbox network",
        thread=f"netns-udp-{pid}",
    )
