"""``GET /browsers/{id}/logs/stream``: a file of the browser, or one of its processes'
output, as SSE ``log`` events (``{event: "log", message, timestamp}``).

``source=path`` reads a file of the browser's file system (``path``, see :mod:`.files`);
``source=supervisor`` reads the output of one of the processes that make the browser
(``supervisor_process``; locally there is one, ``chromium``). ``follow=true`` keeps
sending what is appended until the client leaves or the browser closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ...timeutil import format_ns, now_ns
from ..errors import bad_request, not_found
from ..http.common import guard, sse_event
from .files import Sandbox

__all__ = ["log_routes", "SUPERVISED"]

#: The browser's processes whose output can be streamed locally.
SUPERVISED = ("chromium",)
MAX_LINE_BYTES = 64 * 1024
_POLL_S = 0.2


def log_routes(browser_files: Callable[[str], tuple[Path, Sandbox]],
               alive: Callable[[str], bool]) -> list[BaseRoute]:
    """``browser_files(id_or_name)`` gives a running browser's Chromium log and sandbox."""

    async def stream(request: Request) -> Response:
        key = request.path_params["id"]
        chromium_log, box = browser_files(key)
        q = request.query_params
        source = q.get("source")
        if source == "path":
            target = box.resolve(q.get("path"))
            if not target.is_file():
                raise not_found(f"{q.get('path')!r} is not a file of the browser")
        elif source == "supervisor":
            process = q.get("supervisor_process") or ""
            if process not in SUPERVISED:
                raise not_found(f"no supervised process {process!r}: the local browser has "
                                f"{', '.join(SUPERVISED)}")
            target = chromium_log
        else:
            raise bad_request(f"'source' must be 'path' or 'supervisor', got {source!r}")
        follow = q.get("follow") in ("true", "1")

        async def events() -> AsyncIterator[bytes]:
            with open(target, "rb") as f:
                pending = b""
                while True:
                    chunk = f.read(1024 * 1024)
                    if chunk:
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            yield _event(line)
                        if len(pending) > MAX_LINE_BYTES:
                            yield _event(pending)
                            pending = b""
                        continue
                    if not follow or not alive(key) or await request.is_disconnected():
                        if pending:
                            yield _event(pending)
                        return
                    await asyncio.sleep(_POLL_S)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return [Route("/browsers/{id}/logs/stream", guard(stream), methods=["GET"])]


def _event(line: bytes) -> bytes:
    text = line[:MAX_LINE_BYTES].decode(errors="replace").rstrip("\r")
    return sse_event({"event": "log", "message": text, "timestamp": format_ns(now_ns())})
