"""Which local user opened a loopback TCP connection: the uid owning the client's socket.

Both ends of a loopback connection live on this machine, so the kernel knows the client's
socket, and who owns it, by its address: the socket whose local end is the connection's
remote address (``getpeername()``) and whose remote end is its local one. Linux answers
that question two ways, tried in this order:

- ``sock_diag`` over netlink: one exact lookup of that socket (a few microseconds,
  whatever the number of sockets on the machine);
- ``/proc/net/tcp`` and ``/proc/net/tcp6``: the same tables as text, read through (where
  netlink is not allowed, as in some sandboxes).

Elsewhere (macOS, Windows) the peer can't be known: :func:`peer_uid_supported` says so.
Stdlib only.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
from typing import Any

__all__ = ["PeerUnknown", "peer_uid", "peer_uid_supported"]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_ALL_STATES = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")
#: ``inet_diag_msg``: family, state, timer, retrans, the socket id (48 bytes), expires,
#: rqueue, wqueue, uid, inode.
_UID_OFFSET = _HEADER.size + 4 + 48 + 12
#: TCP states that are not a connected socket of a process: TIME_WAIT, LISTEN, NEW_SYN_RECV.
_NOT_CONNECTED = frozenset({6, 10, 12})
_PROC_NOT_CONNECTED = frozenset({"06", "0A", "0C"})


class PeerUnknown(Exception):
    """The owner of the other end could not be found (the message says why)."""


def peer_uid_supported() -> bool:
    """Whether this system can tell who owns the other end of a loopback connection."""
    if not sys.platform.startswith("linux"):
        return False
    if _Netlink.get() is not None:
        return True
    try:
        with open("/proc/net/tcp", "rb"):
            return True
    except OSError:
        return False


def _family_and_address(host: str) -> tuple[int, bytes]:
    """The socket family and packed address a client socket at ``host`` has."""
    if ":" not in host:
        return socket.AF_INET, socket.inet_pton(socket.AF_INET, host)
    packed = socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        # An IPv4 client of a dual-stack socket: its own socket is an IPv4 one.
        return socket.AF_INET, packed[12:]
    return socket.AF_INET6, packed


def peer_uid(local: Any, remote: Any) -> int:
    """The uid owning the client socket of the connection at ``local`` (our end, as
    ``getsockname()`` gives it) from ``remote`` (``getpeername()``). Raises
    :class:`PeerUnknown` when no such socket is found."""
    try:
        family, client = _family_and_address(remote[0])
        _, server = _family_and_address(local[0])
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise PeerUnknown(f"not a TCP/IP address: {remote!r}") from exc
    if len(server) != len(client):
        raise PeerUnknown(f"addresses of different families: {remote!r}, {local!r}")
    ports = (int(remote[1]), int(local[1]))
    netlink = _Netlink.get()
    if netlink is not None:
        uid = netlink.uid(family, client, server, *ports)
        if uid is not None:
            return uid
    return _proc_uid(family, client, server, *ports)


class _Netlink:
    """One ``NETLINK_SOCK_DIAG`` socket, shared, asked one question at a time."""

    _instance: _Netlink | None = None
    _probed = False
    _lock = threading.Lock()

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seq = 0
        self.lock = threading.Lock()

    @classmethod
    def get(cls) -> _Netlink | None:
        if not cls._probed:
            with cls._lock:
                if not cls._probed:
                    cls._instance = cls._open()
                    cls._probed = True
        return cls._instance

    @classmethod
    def _open(cls) -> _Netlink | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,  # type: ignore[attr-defined]
                                 _NETLINK_SOCK_DIAG)
        except OSError:
            return None
        sock.settimeout(1.0)
        sock.set_inheritable(False)
        found = cls(sock)
        # A lookup of our own socket's end proves it answers (a sandbox may refuse).
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname()):
                accepted, _ = server.accept()
                with accepted:
                    lo, hi = accepted.getsockname(), accepted.getpeername()
                    packed = socket.inet_aton("127.0.0.1")
                    try:
                        uid = found.uid(socket.AF_INET, packed, packed, hi[1], lo[1])
                    except PeerUnknown:
                        uid = None
        if uid is None:
            sock.close()
            return None
        return found

    def uid(self, family: int, client: bytes, server: bytes, client_port: int,
            server_port: int) -> int | None:
        """The owner's uid; ``None`` when netlink gave no answer (try ``/proc``)."""
        with self.lock:
            self.seq = (self.seq + 1) & 0xFFFFFFFF
            request = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, _ALL_STATES)
                       + struct.pack("!HH", client_port, server_port)
                       + client.ljust(16, b"\0") + server.ljust(16, b"\0")
                       + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE))
            message = _HEADER.pack(_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY,
                                   _NLM_F_REQUEST, self.seq, 0) + request
            try:
                self.sock.send(message)
                while True:
                    data = self.sock.recv(65536)
                    if len(data) < _HEADER.size:
                        return None
                    _, kind, _, seq, _ = _HEADER.unpack_from(data)
                    if seq == self.seq:
                        break
            except OSError:
                return None
        if kind == _NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, _HEADER.size)
            if error == -2:  # ENOENT: no such socket (it is gone)
                raise PeerUnknown("the client's socket is gone")
            return None
        if len(data) < _UID_OFFSET + 4:
            return None
        if data[_HEADER.size + 1] in _NOT_CONNECTED:
            raise PeerUnknown("the client's socket is not connected")
        (uid,) = struct.unpack_from("=I", data, _UID_OFFSET)
        return int(uid)


def _proc_address(family: int, packed: bytes, port: int) -> str:
    """An address as ``/proc/net/tcp{,6}`` writes it: 32-bit words in host order, in hex."""
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"


def _proc_uid(family: int, client: bytes, server: bytes, client_port: int,
              server_port: int) -> int:
    local = _proc_address(family, client, client_port)
    remote = _proc_address(family, server, server_port)
    table = "/proc/net/tcp" if family == socket.AF_INET else "/proc/net/tcp6"
    try:
        with open(table, encoding="ascii") as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if len(fields) > 7 and fields[1] == local and fields[2] == remote:
                    if fields[3] in _PROC_NOT_CONNECTED:
                        continue
                    with contextlib.suppress(ValueError):
                        return int(fields[7])
    except OSError as exc:
        raise PeerUnknown(f"cannot read {table}: {exc}") from exc
    raise PeerUnknown("the client's socket was not found")
