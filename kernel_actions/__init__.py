"""kernel-actions: author, run and ship actions for Kernel apps.

``import kernel_actions`` is what a user's action module does in every worker,
so this package imports only the authoring framework (pydantic, anyio): never
the server stack.
"""

from .app import App
from .context import Context
from .errors import ActionDefinitionError, AppLoadError
from .outcome import Outcome

__all__ = ["App", "Context", "Outcome", "ActionDefinitionError", "AppLoadError", "__version__"]

__version__ = "0.1.0"
