"""Errors the API answers with: ``{"code": ..., "message": ...}`` and an HTTP status.

The engine refuses in its own terms (:mod:`.engine.errors`); :func:`api_error` is the one
place that says which status each of its refusals is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine.errors import Conflict, EngineError, Invalid, NotFound, Unavailable

__all__ = ["ApiError", "bad_request", "not_found", "conflict", "unavailable", "api_error"]


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


def bad_request(message: str, details: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(400, "bad_request", message, details=details)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str) -> ApiError:
    # The SDKs retry a 409 unless told not to: a conflict does not go away by itself.
    return ApiError(409, "conflict", message, headers={"x-should-retry": "false"})


def unavailable(message: str, retry_after: float = 1.0) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": f"{retry_after:g}"})


_STATUS_OF: dict[type[EngineError], Callable[[EngineError], ApiError]] = {
    Invalid: lambda e: bad_request(e.message, e.details),
    NotFound: lambda e: not_found(e.message),
    Conflict: lambda e: conflict(e.message),
    Unavailable: lambda e: unavailable(e.message, getattr(e, "retry_after", 1.0)),
}


def api_error(exc: ApiError | EngineError) -> ApiError:
    """The HTTP answer to an engine's refusal (an :class:`ApiError` stays as it is)."""
    if isinstance(exc, ApiError):
        return exc
    for kind in type(exc).__mro__:
        make = _STATUS_OF.get(kind)
        if make is not None:
            return make(exc)
    return bad_request(exc.message, exc.details)
