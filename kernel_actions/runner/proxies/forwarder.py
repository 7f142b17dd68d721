"""A browser's way to a proxy that wants credentials: a small forwarding proxy in the runner.

Chromium's ``--proxy-server`` takes no user name or password, and asks for them the way
a person would be asked (an auth dialog, or CDP's ``Fetch.authRequired`` to a client that
intercepts every request). So a browser created with a custom proxy that has
credentials is pointed at a forwarder on loopback instead, one per browser, which relays
each request to the upstream proxy with ``Proxy-Authorization`` added:

* ``CONNECT host:port`` (every HTTPS site, WebSockets): the ``CONNECT`` goes upstream with
  the credentials, then bytes flow both ways untouched (TLS stays end to end);
* a plain HTTP request: its head goes upstream with the credentials and
  ``Connection: close``, its body and the answer flow through, and the connection ends
  with the answer (one request per connection, so none goes up without credentials).

Why here and not through DevTools: ``Fetch.authRequired`` is only sent to a client that
pauses *every* request (``Fetch.enable`` with ``handleAuthRequests``), so each request of
every tab, worker and extension would wait on a round trip over the browser's DevTools
pipe, and that interception would sit beside (and could collide with) the user's own
Playwright routes on the same browser. The forwarder costs nothing per request on the
browser's side and covers whatever Chromium's network stack sends.

Only the runner's own user may use a forwarder (the peer of each loopback connection is
checked, as the API does), so the credentials it adds serve no one else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from ..peer_uid import PeerUnknown, peer_uid, peer_uid_supported
from .store import ProxyTarget
from .upstream import HeadError, auth_header, open_upstream, read_head, split_head

__all__ = ["ProxyForwarder"]

#: How long an upstream proxy may take to accept a connection, and a client to send a head.
CONNECT_TIMEOUT_S = 30.0
HEAD_TIMEOUT_S = 60.0
_HOP_BY_HOP = {b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive"}
_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of file, then half-close the other side."""
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


def _answer(writer: asyncio.StreamWriter, status: bytes, message: str) -> None:
    body = message.encode()
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nConnection: close"
                 b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class ProxyForwarder:
    """One forwarding proxy on ``127.0.0.1``, for one browser, to ``target``."""

    def __init__(self, target: ProxyTarget, log: Callable[[str], None]) -> None:
        self.target = target
        self.log = log
        self._auth = auth_header(target)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._complained = False
        self.port = 0

    @property
    def address(self) -> str:
        """What Chromium's ``--proxy-server`` gets."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0,
                                                  limit=256 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError, HeadError, TimeoutError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    def _allowed(self, writer: asyncio.StreamWriter) -> bool:
        try:
            uid = peer_uid(writer.get_extra_info("sockname"), writer.get_extra_info("peername"))
        except PeerUnknown:
            return not peer_uid_supported()  # where no one can be told apart, as the API
        return uid == os.geteuid()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._allowed(writer):
            _answer(writer, b"403 Forbidden", "this proxy serves the runner's browsers only")
            return
        head = await asyncio.wait_for(read_head(reader), HEAD_TIMEOUT_S)
        line, fields = split_head(head)
        connect = line.upper().startswith(b"CONNECT ")
        kept = [(k, v) for k, v in fields if k.lower() not in _HOP_BY_HOP]
        extra = [] if connect else [(b"Connection", b"close")]
        out = [line, *(k + b": " + v for k, v in [*kept, *extra])]
        if self._auth is not None:
            out.append(self._auth)
        try:
            up_reader, up_writer = await open_upstream(self.target, CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            if not self._complained:
                self._complained = True
                self.log(f"proxy {self.target.host}:{self.target.port} unreachable: {exc}")
            _answer(writer, b"502 Bad Gateway", f"the proxy {self.target.host}:"
                                                f"{self.target.port} is unreachable: {exc}")
            return
        try:
            up_writer.write(b"\r\n".join(out) + b"\r\n\r\n")
            await up_writer.drain()
            upload = asyncio.ensure_future(_pipe(reader, up_writer))
            try:
                if not connect:
                    # The answer's head, told the connection ends with it.
                    status, answer_fields = split_head(await read_head(up_reader))
                    writer.write(b"\r\n".join([status, *(
                        k + b": " + v for k, v in answer_fields
                        if k.lower() not in _HOP_BY_HOP), b"Connection: close"]) + b"\r\n\r\n")
                await _pipe(up_reader, writer)
            finally:
                upload.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upload
        finally:
            up_writer.close()
