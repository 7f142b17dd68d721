"""What every route module of the HTTP layer shares: JSON responses and bodies,
query parameters, paging headers, SSE framing and the ``ApiError`` guard."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...limits import MAX_PAYLOAD_BYTES
from ..engine.errors import EngineError
from ..errors import ApiError, api_error, bad_request

__all__ = [
    "PathPatterns",
    "MAX_OFFSET", "MAX_PAYLOAD_BYTES", "Handler", "error_response", "guard", "int_param",
    "compact_json", "json_object", "json_response", "page_headers", "paged", "parse_json", "read_json_body",
    "sse_event",
]

MAX_BODY_BYTES = 3 * MAX_PAYLOAD_BYTES  # a JSON-escaped payload inside the request body
#: Largest list offset accepted (SQLite integers are 64-bit).
MAX_OFFSET = 10**12


#: Built once: ``json.dumps`` with options builds an encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact_json(value: Any) -> str:
    """``value`` as JSON text without spaces (what every answer body is)."""
    return _COMPACT.encode(value)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        compact_json(body),
        status_code=status, headers=headers, media_type="application/json",
    )


def error_response(exc: ApiError | EngineError) -> Response:
    """The JSON answer to a refusal, the engine's mapped to its status (``api_error``)."""
    exc = api_error(exc)
    return json_response(exc.body(), exc.status, exc.headers)


async def read_json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body.

    The body's size is capped while it arrives (``BodyLimits``, in the front door of
    every route); this checks again for an app built without it.
    """
    return json_object(await request.body())


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, parsed (400s that say what is wrong)."""
    if len(raw) > MAX_BODY_BYTES:
        raise bad_request(f"request body too large: the payload limit is 4.5 MB "
                          f"({MAX_PAYLOAD_BYTES} bytes)")
    if not raw:
        raise bad_request("request body is empty: send a JSON object")
    body = parse_json(raw, "request body")
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def parse_json(raw: str | bytes, what: str) -> Any:
    """``json.loads``, with every way it can fail (bad syntax, bad UTF-8, nesting deeper than
    Python's recursion limit) turned into a 400 that names ``what``."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise bad_request(f"{what} is nested too deeply to parse") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise bad_request(f"{what} is not valid JSON: {exc}") from None


def int_param(request: Request, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name!r} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise bad_request(f"{name!r} must be {bound}, got {value}")
    return value


def sse_event(event: dict[str, Any]) -> bytes:
    if "_generation" in event:  # runner-internal, never on an invocation's own stream
        event = {k: v for k, v in event.items() if k != "_generation"}
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def page_headers(limit: int, offset: int, count: int, has_more: bool) -> dict[str, str]:
    """The hosted API's paging headers for a page of ``count`` items at ``offset``."""
    return {
        "X-Limit": str(limit),
        "X-Offset": str(offset),
        "X-Has-More": "true" if has_more else "false",
        "X-Next-Offset": str(offset + count) if has_more else "0",
    }


def paged(items: list[Any], limit: int, offset: int) -> tuple[list[Any], dict[str, str]]:
    """One page of an in-memory list, newest first already, and its headers."""
    page = items[offset:offset + limit]
    return page, page_headers(limit, offset, len(page), offset + limit < len(items))


Handler = Callable[[Request], Awaitable[Response]]


def guard(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except (ApiError, EngineError) as exc:
            return error_response(exc)

    wrapped.__name__ = handler.__name__
    return wrapped


class PathPatterns:
    """Request paths like ``/browsers/{id}/fs/upload`` (a ``{name}`` is one path segment),
    each with a value: which paths take uploads, and their body limits.

    The patterns are tried as one regular expression (one match per lookup, however
    many patterns there are)."""

    def __init__(self, values: Mapping[str, int]) -> None:
        self.exact = {k: v for k, v in values.items() if "{" not in k}
        patterns = [(k, v) for k, v in values.items() if "{" in k]
        self.values = [v for _, v in patterns]
        self.pattern = re.compile("|".join(
            "(" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(k)) + ")"
            for k, _ in patterns)) if patterns else None

    def get(self, path: str) -> int | None:
        found = self.exact.get(path)
        if found is not None or self.pattern is None:
            return found
        match = self.pattern.fullmatch(path)
        if match is None:
            return None
        return self.values[match.lastindex - 1]  # type: ignore[operator]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None
