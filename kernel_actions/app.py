"""``App``: a named set of actions, the object users decorate their handlers with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .action import Action
from .context import Context, LogSink, capture_output
from .env_contract import parse_env_spec
from .errors import ActionDefinitionError, describe_function
from .ids import new_id
from .outcome import Outcome

__all__ = ["App"]

F = TypeVar("F", bound=Callable[..., Any])

class App:
    """A Kernel app: register actions with ``@app.action("name")``.

    Each ``App`` holds its own actions; nothing is registered globally.
    """

    def __init__(self, name: str, *, env: Iterable[str] = ()) -> None:
        """``env`` names the environment variables the app needs (``"NAME?"``: optional).

        ``dev`` and ``deploy`` check them before any of the app's code runs.
        """
        if not isinstance(name, str) or not name.strip():
            raise ActionDefinitionError(f"App name must be a non-empty string, got {name!r}")
        try:
            self.env = parse_env_spec(env)
        except ValueError as exc:
            raise ActionDefinitionError(f"App {name!r}: {exc}") from None
        self.name = name
        self._actions: dict[str, Action] = {}

    def __repr__(self) -> str:
        return f"App({self.name!r}, actions={list(self._actions)})"

    # -- registration -----------------------------------------------------------------

    def action(self, name: str) -> Callable[[F], F]:
        """Register the decorated function as the action ``name``.

        The function is returned unchanged, so it stays callable in tests.
        """
        if callable(name):
            fn = name
            raise ActionDefinitionError(
                f"{describe_function(fn)}: @app.action needs the action's name: "
                f'write @app.action("{getattr(fn, "__name__", "name")}")'
            )
        if not isinstance(name, str) or not name.strip():
            raise ActionDefinitionError(f"action name must be a non-empty string, got {name!r}")

        def decorator(fn: F) -> F:
            self.add_action(Action.from_function(self.name, name, fn))
            return fn

        return decorator

    def add_action(self, action: Action) -> Action:
        """Register an already-built :class:`Action` (used by loaders and tests)."""
        if action.name in self._actions:
            first = self._actions[action.name]
            raise ActionDefinitionError(
                f"{describe_function(action.fn)}: app {self.name!r} already has an action "
                f"named {action.name!r} ({describe_function(first.fn)}). Give each action a "
                f"distinct name."
            )
        self._actions[action.name] = action
        return action

    # -- lookup -----------------------------------------------------------------------

    @property
    def actions(self) -> Mapping[str, Action]:
        return self._actions

    def __iter__(self) -> Iterator[Action]:
        return iter(self._actions.values())

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def describe(self) -> dict[str, Any]:
        """This app's entry in the manifest."""
        return {"name": self.name, "actions": [a.describe() for a in self._actions.values()],
                "env": [v.describe() for v in self.env]}

    def manifest(self) -> dict[str, Any]:
        """The manifest of this app alone (see :func:`kernel_actions.tooling.manifest.build_manifest`)."""
        return {"apps": [self.describe()]}

    # -- in-process invocation ----------------------------------------------------------

    async def invoke(
        self,
        action: str,
        payload: Any = None,
        *,
        payload_json: str | None = None,
        invocation_id: str | None = None,
        version: str = "latest",
    ) -> Outcome:
        """Run an action in this process, as the runner would, and return its outcome.

        ``payload`` is any JSON-able value (encoded for you); ``payload_json`` passes
        the raw JSON string instead. Logs are captured on ``outcome.logs``.
        """
        from .execution import execute, output_json

        found = self._actions.get(action)
        if found is None:
            raise KeyError(
                f"app {self.name!r} has no action {action!r}; it has: "
                f"{', '.join(sorted(self._actions)) or 'none'}"
            )
        if payload_json is None and payload is not None:
            payload_json = output_json(payload)
        ctx = Context(
            invocation_id=invocation_id or new_id(),
            app_name=self.name,
            action_name=action,
            version=version,
        )
        logs: list[str] = []
        with capture_output():
            outcome = await execute(found, ctx, payload_json, LogSink(logs.append))
        return outcome.with_logs(logs)

    def invoke_sync(self, action: str, payload: Any = None, **kwargs: Any) -> Outcome:
        """:meth:`invoke` for plain (non-async) tests."""
        import anyio

        return anyio.run(lambda: self.invoke(action, payload, **kwargs))

