"""The runner's listening socket and the URL it is reached at.

Stdlib only: ``kernel-actions dev`` binds the socket before importing the server
stack, so its first worker can be told the real port (``--port 0`` picks one) and
start at once.
"""

from __future__ import annotations

import socket

__all__ = ["bind", "url_for"]


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, made with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY``
    on every accepted connection (it checks the protocol; a socket made with the default
    protocol 0 would leave Nagle's algorithm on and add ~40 ms to small answers)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    """The URL clients (and workers) use for a runner listening on ``host:port``."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
