"""Errors raised while defining or loading actions.

Run-time failures of an invocation are not exceptions the caller sees: they
become a failed :class:`~kernel_actions.outcome.Outcome` (see ``execution``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["ActionDefinitionError", "AppLoadError", "describe_function"]


def describe_function(fn: Callable[..., Any]) -> str:
    """``module.qualname (file:line)``, the way messages name a handler."""
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    try:
        file = inspect.getsourcefile(fn)
        line = inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        return name
    return f"{name} ({file}:{line})"


class ActionDefinitionError(TypeError):
    """An action is declared in a way that cannot work; raised at import time."""


class AppLoadError(Exception):
    """User code could not be loaded (missing file, import error, no app found)."""

    def __init__(self, message: str, *, location: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.detail = detail

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.message}{where}"
