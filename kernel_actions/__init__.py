"""kernel-actions: author, run and ship actions for Kernel apps.

``import kernel_actions`` is what a user's action module does in every worker,
so this package imports only the authoring framework (pydantic, anyio): never
the server stack. The names below load on first use, so the runner's own process
(``kernel_actions.runner``), which never runs an action, doesn't pay for pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import App
    from .context import Context
    from .errors import ActionDefinitionError, AppLoadError
    from .outcome import Outcome

__all__ = ["App", "Context", "Outcome", "ActionDefinitionError", "AppLoadError", "__version__"]

__version__ = "0.1.0"

_WHERE = {"App": ".app", "Context": ".context", "Outcome": ".outcome",
          "ActionDefinitionError": ".errors", "AppLoadError": ".errors"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'kernel_actions' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
