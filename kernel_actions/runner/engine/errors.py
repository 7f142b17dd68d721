"""What the engine refuses, in its own words: no HTTP status here.

The engine says *why* it refuses a request (the invocation is not there, its state is
final, a field is not valid text, the runner is stopping); the HTTP layer decides what
each means on the wire, in one place (:func:`kernel_actions.runner.errors.api_error`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EngineError", "Invalid", "NotFound", "Conflict", "Unavailable"]


class EngineError(Exception):
    """A request the engine refuses; ``message`` is said to the caller as it is."""

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(EngineError):
    """The request's content can't be taken (a field that is not valid text, say)."""


class NotFound(EngineError):
    """What the request names (an app, action, version or invocation) does not exist."""


class Conflict(EngineError):
    """The request contradicts the current state (a final state is final)."""


class Unavailable(EngineError):
    """The engine takes nothing new right now (it is shutting down); retry later."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
