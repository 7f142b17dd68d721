"""The DevTools WebSocket of each browser, served by the runner: ``cdp_ws_url``.

``ws://HOST:PORT/browsers/{id}/cdp/{token}``: the token is 32 random bytes made when the
browser starts and handed out only in the API's browser object, so the URL itself is the
capability, as Kernel's ``cdp_ws_url`` is (Playwright's ``connect_over_cdp(url)`` and
Puppeteer's ``connect`` send no API key). It is compared in constant time, and it is all
that is asked of the client, whatever ``Origin`` it sends: Stagehand 4 opens the URL from an
extension it puts in the browser (``Origin: chrome-extension://…``), and a web page that
does not hold the token gets the same 404 as for a browser that doesn't exist. On top of it:

* a request that does send ``Authorization`` must send the runner's key;
* a ``Host`` that doesn't name a loopback address when the runner listens on loopback
  (DNS rebinding) is refused.

Refusals are HTTP answers to the upgrade (JSON ``{code, message}``), not open-then-close.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..config import Config, is_loopback
from ..http.common import json_response
from ..http.front_door import TokenWebSocketRoute
from .cdp import CdpClient, CdpError, CdpMux

__all__ = ["cdp_route", "new_token", "cdp_path", "relay"]

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def new_token() -> str:
    """An unguessable token for one browser's ``cdp_ws_url``."""
    return secrets.token_urlsafe(32)


def cdp_path(browser_id: str, token: str) -> str:
    return f"/browsers/{browser_id}/cdp/{token}"


def _header(websocket: WebSocket, name: str) -> str | None:
    return websocket.headers.get(name)


def refusal(websocket: WebSocket, config: Config) -> tuple[int, str, str] | None:
    """Why an upgrade request must be refused (status, code, message), or None."""
    given = _header(websocket, "authorization")
    if given is not None and config.api_key and not hmac.compare_digest(
            given.encode(), f"Bearer {config.api_key}".encode()):
        return 401, "unauthorized", "invalid API key"
    host = urlsplit(f"//{_header(websocket, 'host') or ''}").hostname or ""
    if is_loopback(config.host) and host not in _LOOPBACK_NAMES:
        return 403, "forbidden", (f"Host {host!r} is not this runner's loopback address: "
                                  "connect to 127.0.0.1 or localhost")
    return None


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    response = json_response({"code": code, "message": message}, status,
                             {"x-should-retry": "false"})
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # a server without the denial extension: a close before accept
        await websocket.close(code=1008, reason=message[:120])


def cdp_route(config: Config, lookup: Callable[[str], tuple[str, CdpMux] | None]
              ) -> TokenWebSocketRoute:
    """The route; ``lookup(browser_id)`` gives a ready browser's token and pipe."""

    async def endpoint(websocket: WebSocket) -> None:
        why = refusal(websocket, config)
        if why is not None:
            await _deny(websocket, *why)
            return
        found = lookup(websocket.path_params["id"])
        given = websocket.path_params["token"]
        if found is None or not hmac.compare_digest(given.encode(), found[0].encode()):
            # One answer for "no such browser" and "wrong token": neither is learnt.
            await _deny(websocket, 404, "not_found",
                        "no browser with this DevTools URL: it was closed or the token is "
                        "wrong (use the browser's cdp_ws_url)")
            return
        mux = found[1]
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        try:
            client = await mux.attach(outbox.put_nowait, external=True,
                                      on_close=lambda: outbox.put_nowait(None))
        except CdpError as exc:
            await _deny(websocket, 409, "conflict", f"the browser is closing: {exc}")
            return
        await websocket.accept()

        await relay(websocket, client, outbox)

    return TokenWebSocketRoute("/browsers/{id}/cdp/{token}", endpoint)


async def relay(websocket: WebSocket, client: CdpClient,
                outbox: asyncio.Queue[dict[str, Any] | None]) -> None:
    """Carry DevTools messages between an accepted ``websocket`` and its pipe ``client``
    (whose messages arrive in ``outbox``, ``None`` once it closed) until either side ends."""
    async def pump() -> None:
        while (message := await outbox.get()) is not None:
            await websocket.send_text(json.dumps(message, separators=(",", ":")))
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=1001, reason="the browser closed")

    sender = asyncio.ensure_future(pump())
    try:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            raw = received.get("text")
            if raw is None:
                raw = (received.get("bytes") or b"").decode(errors="replace")
            try:
                message = json.loads(raw)
            except ValueError:
                message = None
            client.send(message)
    except WebSocketDisconnect:
        pass
    finally:
        client.close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
