"""Which local users may use a runner without an API key: its owner, and root.

On loopback without ``--api-key``, every user of the machine can reach the runner's port,
and the runner runs code as the developer (actions, ``playwright.execute``, deployments,
DevTools of every browser). So each connection is checked once, when it opens: the uid
owning the client's socket (:mod:`..peer_uid`) must be the runner's own or root's. A
connection from anyone else is answered, whatever it asks (HTTP, ``POST /invocations``
served straight from the connection, a WebSocket upgrade), with one JSON 403
``{code, message}`` that says how to let others in, and closed.

With ``--api-key`` the key decides (any user who has it may connect); with
``--allow-other-users`` every local user may. Where the system can't tell who is on the
other end (not Linux), the runner says so once at start and recommends ``--api-key``.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Any

from ..peer_uid import PeerUnknown, peer_uid, peer_uid_supported

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["LocalUsers", "OwnerOnly"]

_HOW = ("To let other local users in, start the runner with --api-key KEY (then the key "
        "decides who may use it) or with --allow-other-users.")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


class LocalUsers:
    """The rule: who may connect, and the answer to anyone else."""

    def __init__(self, *, enforced: bool, owner: int | None = None,
                 unknown_note: str | None = None) -> None:
        #: Whether connections are checked at all.
        self.enforced = enforced
        if owner is None:
            owner = os.geteuid() if hasattr(os, "geteuid") else 0
        self.owner = owner
        #: Said once at start where the peer can't be known.
        self.unknown_note = unknown_note

    @classmethod
    def for_config(cls, config: Config) -> LocalUsers:
        if config.api_key or config.allow_other_users:
            return cls(enforced=False)
        if not peer_uid_supported():
            return cls(enforced=False, unknown_note=(
                "note: this system does not tell which local user opens a connection, so "
                "every user of this machine can use this runner (and run code as you); "
                "start it with --api-key KEY to require a key"))
        return cls(enforced=True)

    def allows(self, uid: int) -> bool:
        return uid == self.owner or uid == 0

    def refusal(self, local: Any, remote: Any) -> bytes | None:
        """The whole HTTP answer for a connection from ``remote`` to ``local`` (socket
        addresses), or ``None`` when its owner may use the runner."""
        if not self.enforced:
            return None
        try:
            uid = peer_uid(local, remote)
        except PeerUnknown as exc:
            why = (f"the runner could not tell which local user opened this connection "
                   f"({exc}), and it serves only {self._whom()}. {_HOW}")
            return _answer(why)
        if self.allows(uid):
            return None
        return _answer(f"this runner serves only {self._whom()}; this connection comes "
                       f"from another local user, {_user_name(uid)}. {_HOW}")

    def _whom(self) -> str:
        owner = f"the user who started it, {_user_name(self.owner)}"
        return owner if self.owner == 0 else f"{owner}, and root"


def _answer(message: str) -> bytes:
    body = json.dumps({"code": "forbidden", "message": message},
                      separators=(",", ":")).encode()
    return (b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"x-should-retry: false\r\nconnection: close\r\n\r\n" + body)


class OwnerOnly:
    """Mixed into the runner's HTTP protocol (before uvicorn's): a connection from a user
    :class:`LocalUsers` refuses gets its 403 for whatever it sends, and nothing of what
    it sends is parsed. The answer leaves with a FIN; what the client still sends is read
    and dropped (closing with unread data would reset the connection, and the client could
    lose the answer) until it closes, or the head deadline closes it."""

    users: LocalUsers | None = None
    transport: asyncio.Transport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The answer this connection gets (``b""`` once sent), ``None`` when it may pass.
        self._refused: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        users = self.users
        if users is not None and users.enforced:
            self._refused = users.refusal(transport.get_extra_info("sockname"),
                                          transport.get_extra_info("peername"))

    def data_received(self, data: bytes) -> None:
        refused = self._refused
        if refused is None:
            super().data_received(data)  # type: ignore[misc]
            return
        if refused and not self.transport.is_closing():
            self._refused = b""
            self.transport.write(refused)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            else:  # pragma: no cover - every TCP transport can
                self.transport.close()
