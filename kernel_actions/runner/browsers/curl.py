"""``POST /browsers/{id}/curl``: an HTTP request made by the browser itself.

Kernel sends it through Chrome's own network stack, so it carries the browser's cookies,
TLS and headers. Here the runner opens a background tab in the browser's default context
and has it load the URL with the DevTools ``Fetch`` domain holding the request: the
method, body and extra headers are set on it (``Fetch.continueRequest``), redirects are
followed by Chromium, and the final response's status, headers and body are read
(``Fetch.getResponseBody``) before the load is cancelled. No page script runs, so CORS
does not apply, as for a request typed in the address bar.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ApiError, bad_request
from ..http.common import guard, json_response, read_json_body
from .cdp import CdpConnection, CdpError, CdpMux

__all__ = ["curl_routes", "browser_curl"]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 300_000


def _failed(message: str) -> ApiError:
    return ApiError(400, "request_failed", message, headers={"x-should-retry": "false"})


async def browser_curl(mux: CdpMux, body: dict[str, Any]) -> dict[str, Any]:
    url = body.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise bad_request(f"'url' must be an http or https URL, got {url!r}")
    method = body.get("method") or "GET"
    if method not in METHODS:
        raise bad_request(f"'method' must be one of {', '.join(METHODS)}, got {method!r}")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise bad_request("'headers' must be an object of string values")
    payload = body.get("body")
    if payload is not None and not isinstance(payload, str):
        raise bad_request("'body' must be a string")
    encoding = body.get("response_encoding") or "utf8"
    if encoding not in ("utf8", "base64"):
        raise bad_request("'response_encoding' must be 'utf8' or 'base64'")
    timeout_ms = body.get("timeout_ms") or DEFAULT_TIMEOUT_MS
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not (
            1 <= timeout_ms <= MAX_TIMEOUT_MS):
        raise bad_request(f"'timeout_ms' must be an integer between 1 and {MAX_TIMEOUT_MS}")

    started = time.monotonic()
    try:
        connection = await mux.connect()
    except CdpError as exc:
        raise ApiError(409, "conflict", f"the browser is closing: {exc}",
                       headers={"x-should-retry": "false"}) from None
    target_id: str | None = None
    try:
        target_id = (await connection.send("Target.createTarget",
                                           {"url": "about:blank", "background": True}))["targetId"]
        session = (await connection.send("Target.attachToTarget",
                                         {"targetId": target_id, "flatten": True}))["sessionId"]
        paused: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def on_paused(params: dict[str, Any], sid: str | None) -> None:
            if sid == session:
                paused.put_nowait(params)

        connection.on("Fetch.requestPaused", on_paused)
        await connection.send("Fetch.enable", {"patterns": [
            {"urlPattern": "*", "requestStage": "Request"},
            {"urlPattern": "*", "requestStage": "Response"}]}, session)
        navigation = asyncio.ensure_future(connection.send("Page.navigate", {"url": url},
                                                           session))
        try:
            result = await asyncio.wait_for(
                _exchange(connection, session, paused, navigation, method, headers, payload),
                timeout_ms / 1000)
        except TimeoutError:
            raise _failed(f"no response from {url} within {timeout_ms} ms") from None
        finally:
            navigation.cancel()
        status, response_headers, raw = result
        return {
            "status": status,
            "headers": response_headers,
            "body": base64.b64encode(raw).decode() if encoding == "base64"
            else raw.decode(errors="replace"),
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
    except CdpError as exc:
        raise _failed(f"the browser could not make the request: {exc}") from None
    finally:
        if target_id is not None:
            with contextlib.suppress(CdpError):
                await connection.send("Target.closeTarget", {"targetId": target_id})
        connection.close()


async def _exchange(connection: CdpConnection, session: str,
                    paused: asyncio.Queue[dict[str, Any]], navigation: asyncio.Future[Any],
                    method: str, headers: dict[str, str], payload: str | None
                    ) -> tuple[int, dict[str, list[str]], bytes]:
    first = True
    while True:
        getter = asyncio.ensure_future(paused.get())
        await asyncio.wait([getter, navigation], return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            error = None
            with contextlib.suppress(Exception):
                error = navigation.result().get("errorText")
            raise _failed(f"the request failed: {error or 'no response'}")
        event = getter.result()
        request_id = event["requestId"]
        if "responseStatusCode" not in event and "responseErrorReason" not in event:
            params: dict[str, Any] = {"requestId": request_id}
            if first:  # the request itself; what follows are its redirects
                first = False
                merged = {**(event.get("request", {}).get("headers") or {}), **headers}
                params.update({"method": method, "headers": [
                    {"name": k, "value": v} for k, v in merged.items()]})
                if payload is not None:
                    params["postData"] = base64.b64encode(payload.encode()).decode()
            await connection.send("Fetch.continueRequest", params, session)
            continue
        if "responseErrorReason" in event:
            raise _failed(f"the request failed: {event['responseErrorReason']}")
        status = int(event["responseStatusCode"])
        grouped: dict[str, list[str]] = {}
        for header in event.get("responseHeaders") or []:
            grouped.setdefault(header["name"], []).append(header["value"])
        if 300 <= status < 400 and any(k.lower() == "location" for k in grouped):
            await connection.send("Fetch.continueRequest", {"requestId": request_id}, session)
            continue
        raw = b""
        if method != "HEAD":
            with contextlib.suppress(CdpError):
                got = await connection.send("Fetch.getResponseBody", {"requestId": request_id},
                                            session)
                raw = (base64.b64decode(got["body"]) if got.get("base64Encoded")
                       else got.get("body", "").encode())
        with contextlib.suppress(CdpError):
            await connection.send("Fetch.failRequest", {"requestId": request_id,
                                                        "errorReason": "Aborted"}, session)
        return status, grouped, raw


def curl_routes(find: Callable[[str], CdpMux]) -> list[BaseRoute]:
    """``find(id_or_name)`` gives a running browser's DevTools pipe."""

    async def curl(request: Request) -> Response:
        mux = find(request.path_params["id"])
        return json_response(await browser_curl(mux, await read_json_body(request)))

    return [Route("/browsers/{id}/curl", guard(curl), methods=["POST"])]
