"""One action: a handler and everything derived from it, once, at decoration time."""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import typing_extensions
from pydantic import PydanticSchemaGenerationError, TypeAdapter
from pydantic.errors import PydanticUserError

from .errors import ActionDefinitionError, describe_function

__all__ = ["Action", "MISSING"]

#: A parameter without a default (``payload_default`` when the payload is required).
MISSING: Any = inspect.Parameter.empty


_typeddict_cache: dict[Any, Any] = {}


def _compat(hint: Any) -> Any:
    """Rewrite ``typing.TypedDict`` classes (which pydantic refuses before Python 3.12)
    as ``typing_extensions.TypedDict`` ones, wherever they appear in ``hint``.

    Kernel's own templates type payloads with ``typing.TypedDict``, so they must work.
    """
    if sys.version_info >= (3, 12):
        return hint
    if typing_extensions.is_typeddict(hint) and type(hint).__module__ == "typing":
        if hint not in _typeddict_cache:
            fields = {}
            for key, value in typing.get_type_hints(hint, include_extras=True).items():
                value = _compat(value)
                required = key in hint.__required_keys__
                fields[key] = typing_extensions.Required[value] if required else (
                    typing_extensions.NotRequired[value])
            rebuilt = typing_extensions.TypedDict(hint.__name__, fields)  # type: ignore[operator]
            rebuilt.__module__ = hint.__module__
            rebuilt.__doc__ = hint.__doc__
            _typeddict_cache[hint] = rebuilt
        return _typeddict_cache[hint]
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if not args or origin is None:
        return hint
    new_args = tuple(_compat(a) for a in args)
    if new_args == args:
        return hint
    if origin is typing.Annotated:
        return typing.Annotated[(new_args[0], *hint.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new_args]  # noqa: UP007
    try:
        return origin[new_args] if len(new_args) > 1 else origin[new_args[0]]
    except TypeError:
        return hint


def _adapter(hint: Any, fn: Callable[..., Any], what: str) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(_compat(hint))
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, NameError) as exc:
        raise ActionDefinitionError(
            f"{describe_function(fn)}: the {what} type hint {hint!r} cannot be validated: "
            f"{_pydantic_reason(exc)}. Use a pydantic model, dataclass, TypedDict, or plain "
            f"JSON types (str, int, float, bool, list, dict, None), or drop the hint."
        ) from exc


#: Where pydantic's own advice starts in its errors: it is about pydantic models
#: (``arbitrary_types_allowed``, ``__get_pydantic_core_schema__``), not about an action's hint.
_PYDANTIC_ADVICE = re.compile(r"\.?\s*(?:Set `arbitrary_types_allowed|If you got this error|"
                              r"For further information)")


def _pydantic_reason(exc: BaseException) -> str:
    """The first sentence of pydantic's complaint, without its advice or final full stop."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    return _PYDANTIC_ADVICE.split(first, maxsplit=1)[0].rstrip(" .")


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ActionDefinitionError(
            f"{describe_function(fn)}: its type hints cannot be resolved ({exc}). "
            f"Define the types before the action, or import them at module level."
        ) from exc


def _schema(adapter: TypeAdapter[Any] | None, mode: Any) -> dict[str, Any] | None:
    if adapter is None:
        return None
    try:
        return adapter.json_schema(mode=mode)
    except Exception:  # the hosted API: null if a schema can't be generated
        return None


@dataclass(eq=False)
class Action:
    """A registered action. Built by :meth:`App.action`; see :meth:`from_function`."""

    app_name: str
    name: str
    fn: Callable[..., Any]
    takes_payload: bool
    is_async: bool
    payload_adapter: TypeAdapter[Any] | None
    output_adapter: TypeAdapter[Any] | None
    payload_default: Any = MISSING
    description: str = ""
    #: How the handler is called: ``call(ctx, payload)``; set for foreign handlers (Kernel's SDK).
    call: Callable[[Any, Any], Any] | None = field(default=None, repr=False)
    #: Skip validation and serialisation checks (the official SDK's apps are called as is).
    raw: bool = False
    _schemas: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = field(
        default=None, repr=False
    )

    @classmethod
    def from_function(cls, app_name: str, name: str, fn: Callable[..., Any]) -> Action:
        if not callable(fn):
            raise ActionDefinitionError(f"action {name!r}: {fn!r} is not a function")
        where = describe_function(fn)
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError) as exc:
            raise ActionDefinitionError(f"{where}: cannot read its signature ({exc})") from exc
        positional = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(params) != len(positional) or not 1 <= len(params) <= 2:
            got = ", ".join(p.name for p in params) or "none"
            raise ActionDefinitionError(
                f"{where}: an action handler takes (ctx) or (ctx, payload), "
                f"got parameters: {got}. Write `def {fn.__name__}(ctx, payload): ...`."
            )
        hints = _hints(fn)
        takes_payload = len(params) == 2
        payload_adapter = None
        payload_default = MISSING
        if takes_payload:
            p = params[1]
            payload_adapter = _adapter(hints.get(p.name, Any), fn, f"payload ({p.name!r})")
            payload_default = p.default
        output_adapter = None
        if "return" in hints and hints["return"] is not Any:
            output_adapter = _adapter(hints["return"], fn, "return")
        return cls(
            app_name=app_name,
            name=name,
            fn=fn,
            takes_payload=takes_payload,
            is_async=inspect.iscoroutinefunction(fn),
            payload_adapter=payload_adapter,
            output_adapter=output_adapter,
            payload_default=payload_default,
            description=inspect.cleandoc(fn.__doc__ or ""),
        )

    @property
    def payload_optional(self) -> bool:
        """Whether the action can run without a payload."""
        if not self.takes_payload or self.raw or self.payload_default is not MISSING:
            return True
        assert self.payload_adapter is not None
        try:
            self.payload_adapter.validate_python(None)
        except Exception:
            return False
        return True

    @property
    def input_schema(self) -> dict[str, Any] | None:
        return self._schema_pair()[0]

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self._schema_pair()[1]

    def _schema_pair(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if self._schemas is None:
            self._schemas = (
                _schema(self.payload_adapter, "validation"),
                _schema(self.output_adapter, "serialization"),
            )
        return self._schemas

    def describe(self) -> dict[str, Any]:
        """This action's entry in the manifest (and in ``GET /apps``)."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "is_async": self.is_async,
            "takes_payload": self.takes_payload,
            "payload_required": not self.payload_optional,
        }
