"""The ``/browsers/{id_or_name}/computer/*`` endpoints, as the official SDKs call them.

Every one is a ``POST`` with a JSON body (screenshot's and the readers' may be
empty). Actions answer ``204``; ``screenshot`` answers ``image/png``;
``get_mouse_position``, ``clipboard/read`` and ``cursor`` answer JSON. An
unknown browser is a 404; a bad field a 400 naming it. Every answer about a browser
says which kind of screen served it in ``x-kernel-actions-display`` (``xvfb`` or
``emulated``, see :mod:`.screen`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ApiError
from ..http.common import guard, json_response, read_json_body
from .computer import Fields
from .screen import DISPLAY_HEADER, Screen


class LocalBrowser(Protocol):
    """What the computer routes need of a browser (``browser.LocalBrowser`` provides it)."""

    id: str
    last_active: float
    screen: Screen | None

__all__ = ["computer_routes"]

PREFIX = "/browsers/{id}/computer"


def computer_routes(find: Callable[[str], LocalBrowser]) -> list[BaseRoute]:
    """The routes, finding browsers by id or name with ``find`` (a 404 when there is none)."""

    def screen_of(request: Request) -> Screen:
        browser = find(request.path_params["id"])
        browser.last_active = time.monotonic()  # in use, as with a CDP connection
        if browser.screen is None:
            raise ApiError(409, "no_display", (
                f"browser {browser.id} has no virtual display, so it has no computer controls: "
                "install Xvfb (Debian: apt install xvfb) and create the browser again"),
                headers={"x-should-retry": "false"})
        return browser.screen

    async def body_of(request: Request) -> Fields:
        raw = await request.body()
        return Fields(await read_json_body(request) if raw.strip() else {})

    def action(run: Callable[[Screen, Fields], Awaitable[None]]) -> Callable[
            [Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            screen = screen_of(request)
            fields = await body_of(request)
            async with screen.input_lock:
                await run(screen, fields)
            return Response(status_code=204)

        return handler

    async def screenshot(request: Request) -> Response:
        screen = screen_of(request)
        png = await screen.screenshot(await body_of(request))
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def mouse_position(request: Request) -> Response:
        screen = screen_of(request)
        await body_of(request)
        x, y = await screen.mouse_position()
        return json_response({"x": x, "y": y})

    async def read_clipboard(request: Request) -> Response:
        screen = screen_of(request)
        await body_of(request)
        return json_response({"text": await screen.read_clipboard()})

    async def cursor(request: Request) -> Response:
        screen = screen_of(request)
        await screen.set_cursor(await body_of(request))
        return json_response({"ok": True})

    def labelled(handler: Callable[[Request], Awaitable[Response]]) -> Callable[
            [Request], Awaitable[Response]]:
        """``handler`` guarded, its answers (errors included) naming the display mode."""
        async def wrapped(request: Request) -> Response:
            try:
                screen = find(request.path_params["id"]).screen
            except ApiError:
                screen = None
            label = {DISPLAY_HEADER: screen.mode} if screen is not None else {}
            try:
                response = await handler(request)
            except ApiError as exc:
                exc.headers = {**exc.headers, **label}
                raise
            response.headers.update(label)
            return response

        wrapped.__name__ = handler.__name__
        return guard(wrapped)

    routes: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
        ("/screenshot", screenshot),
        ("/click_mouse", action(lambda s, f: s.click_mouse(f))),
        ("/move_mouse", action(lambda s, f: s.move_mouse(f))),
        ("/drag_mouse", action(lambda s, f: s.drag_mouse(f))),
        ("/scroll", action(lambda s, f: s.scroll(f))),
        ("/type", action(lambda s, f: s.type_text(f))),
        ("/press_key", action(lambda s, f: s.press_key(f))),
        ("/batch", action(lambda s, f: s.batch(f))),
        ("/clipboard/write", action(lambda s, f: s.write_clipboard(f))),
        ("/clipboard/read", read_clipboard),
        ("/get_mouse_position", mouse_position),
        ("/cursor", cursor),
    ]
    return [Route(PREFIX + path, labelled(handler), methods=["POST"])
            for path, handler in routes]
