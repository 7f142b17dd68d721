"""Loading user code: find every app a file, module or ``path:attr`` defines.

Apps written with this framework (``kernel_actions.App``) and with Kernel's
official SDK (``kernel.App``) are both found; the latter are wrapped so they
are called the way the hosted loader calls them.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .action import Action
from .app import App
from .entrypoint import looks_like_path, split_target
from .errors import ActionDefinitionError, AppLoadError
from .suggest import did_you_mean

__all__ = ["LoadedCode", "load_apps", "split_target"]


@dataclass
class LoadedCode:
    target: str
    module: ModuleType
    apps: list[App] = field(default_factory=list)


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        nearby = [p.name for p in path.parent.glob("*.py")] if path.parent.is_dir() else []
        raise AppLoadError(f"no such file: {path}{did_you_mean(path.name, nearby)}")
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem if path.stem not in sys.modules else f"_kernel_app_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _import(spec: str) -> ModuleType:
    if looks_like_path(spec):
        return _import_file(Path(spec))
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(spec)


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _is_machinery(filename: str) -> bool:
    """A frame of the import system or of this framework, not of the user's code."""
    return (filename.startswith("<frozen ") or "importlib" in filename
            or filename.startswith(_PACKAGE_DIR))


def user_traceback(exc: BaseException) -> str:
    """The traceback of a failed import with only the user's frames (no importlib, no
    kernel-actions). A syntax error keeps none: its own lines show the file, line and caret."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    te.stack = traceback.StackSummary.from_list(
        [frame for frame in te.stack if not _is_machinery(frame.filename)])
    return "".join(te.format())


def _summary(exc: BaseException) -> str:
    """``Type: message``; a syntax error without the ``(file, line N)`` its str adds (the
    location is reported on its own)."""
    if isinstance(exc, SyntaxError) and exc.msg:
        return f"{type(exc).__name__}: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


def _error_location(exc: BaseException) -> str | None:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename and "kernel_actions" not in f.filename]
    last = (user or frames)[-1:] if frames else []
    return f"{last[0].filename}:{last[0].lineno}" if last else None


def _sdk_apps_before() -> set[int]:
    framework = sys.modules.get("kernel.app_framework")
    if framework is None:
        return set()
    return {id(a) for a in framework.app_registry.apps.values()}


def _sdk_apps_after(before: set[int]) -> list[Any]:
    framework = sys.modules.get("kernel.app_framework")
    if framework is None:
        return []
    return [a for a in framework.app_registry.apps.values() if id(a) not in before]


def _is_sdk_app(obj: Any) -> bool:
    framework = sys.modules.get("kernel.app_framework")
    return framework is not None and isinstance(obj, framework.KernelApp)


def from_sdk_app(sdk_app: Any) -> App:
    """Wrap an app made with Kernel's official SDK (``kernel.App``).

    Each action is called through the SDK's own wrapper with
    ``(KernelContext(invocation_id), payload)``, and whatever it returns is
    awaited if awaitable: what the hosted loader does. Payloads are not validated.
    """
    from kernel.app_framework import KernelContext

    app = App(sdk_app.name)
    for sdk_action in sdk_app.get_actions():
        wrapper = sdk_action.handler
        original = getattr(wrapper, "__wrapped__", wrapper)
        try:
            action = Action.from_function(app.name, sdk_action.name, original)
        except ActionDefinitionError:
            # The SDK accepted it; fall back to an unvalidated description.
            action = Action(app.name, sdk_action.name, original, True, False, None, None)
        action.raw = True
        action.is_async = inspect.iscoroutinefunction(original)

        def call(ctx: Any, payload: Any, _wrapper: Any = wrapper, _n: int = len(
            inspect.signature(original).parameters)) -> Any:
            kctx = KernelContext(invocation_id=ctx.invocation_id)
            return _wrapper(kctx, payload) if _n == 2 else _wrapper(kctx)

        action.call = call
        app.add_action(action)
    return app


def load_apps(target: str) -> LoadedCode:
    """Import ``target`` (a file, a module, or either with ``:attr``) and find its apps.

    Raises :class:`AppLoadError` with the file and line of the failure when the
    code does not import, and when it defines no app.
    """
    spec, attr = split_target(target)
    before = _sdk_apps_before()
    try:
        module = _import(spec)
    except AppLoadError:
        raise
    except ActionDefinitionError as exc:
        location = _error_location(exc)
        message = str(exc)
        if location:  # the message names the handler with its file:line; say it once
            message = message.replace(f" ({location})", "", 1)
        raise AppLoadError(message, location=location) from exc
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise AppLoadError(f"no module named {spec!r}") from exc
        raise AppLoadError(
            _summary(exc), location=_error_location(exc),
            detail=user_traceback(exc),
        ) from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise AppLoadError(
            _summary(exc), location=_error_location(exc),
            detail=user_traceback(exc),
        ) from exc

    loaded = LoadedCode(target=target, module=module)
    if attr is not None:
        obj = getattr(module, attr, None)
        if obj is None:
            raise AppLoadError(f"{spec} has no attribute {attr!r}")
        candidates = [obj]
    else:
        candidates = list(vars(module).values()) + _sdk_apps_after(before)
    seen: set[int] = set()
    for obj in candidates:
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, App):
            loaded.apps.append(obj)
        elif _is_sdk_app(obj):
            loaded.apps.append(from_sdk_app(obj))
    if attr is not None and not loaded.apps:
        raise AppLoadError(f"{target}: {attr!r} is not an App")
    if not loaded.apps:
        raise AppLoadError(
            f"{spec} defines no app: create one with `app = App(\"my-app\")` "
            f"from kernel_actions (or kernel)"
        )
    names = [a.name for a in loaded.apps]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise AppLoadError(f"{spec} defines more than one app named {sorted(dupes)[0]!r}")
    return loaded
