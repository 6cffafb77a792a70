"""Work done from a chosen network namespace: TCP connections for probes, route updates for the CNI.

The agent's httpGet and tcpSocket probes connect to pod IPs, which are
reachable from the node's network namespace. A normal agent runs in that
namespace. An agent that runs outside it (tests that keep each node in a
namespace of its own, and never send pod traffic from the root namespace)
passes the namespace file, such as /run/netns/<name>, and each socket is
then created inside that namespace.

A socket belongs to the namespace its creating thread was in, so
``_socket_in`` switches the calling thread with setns(2), creates the
socket, and switches back before returning, all without awaiting. The
event loop thread is therefore never left in the other namespace across
an await. ``call_in_netns`` runs a blocking function (one that starts
``ip`` processes, say) on a thread of its own that enters the namespace
and ends with the call.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns into a network namespace failed: {os.strerror(error)}")


def _socket_in(netns: Path, family: int) -> socket.socket:
    """Create a TCP socket inside the network namespace ``netns``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns, os.O_RDONLY)
        try:
            _setns(target)
            try:
                return socket.socket(family, socket.SOCK_STREAM)
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


async def open_connection(
    host: str,
    port: int,
    *,
    netns: Path | None,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection to an IP address, from ``netns`` when given (None: this process's namespace)."""
    if netns is None:
        return await asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=host if ssl_context else None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _socket_in(netns, family)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, ssl=ssl_context, server_hostname=host if ssl_context else None)


def call_in_netns(netns: Path | None, function: Callable[[], T]) -> T:
    """Call ``function`` on a new thread that first enters ``netns``; subprocesses it starts inherit the namespace.

    The thread exists only for this call, so no pooled thread is ever left
    in another namespace. With ``netns`` None the function runs on a new
    thread in this process's namespace.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            if netns is not None:
                fd = os.open(netns, os.O_RDONLY)
                try:
                    _setns(fd)
                finally:
                    os.close(fd)
            outcome.append(function())
        except BaseException as error:  # handed to the caller below
            failure.append(error)

    thread = threading.Thread(target=target, name="netns-call", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def run_in_netns(netns: Path | None, function: Callable[[], T]) -> T:
    """Run ``call_in_netns`` without blocking the event loop."""
    return await asyncio.to_thread(call_in_netns, netns, function)
