"""Errors the API answers with: ``{"code": ..., "message": ...}`` and an HTTP status."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "bad_request", "not_found", "conflict"]


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
