"""Finding apps and actions in source code without running it.

The fallback when code can't be loaded where it is shipped from: ``App("…")`` /
``kernel.App("…")`` assignments and ``@app.action("…")`` decorators, read with :mod:`ast`.
The manifest it builds has every app and action, and no schemas.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ..env_contract import example_env, literal_env

__all__ = ["scan_manifest", "StaticScanError"]


class StaticScanError(Exception):
    """The source can't be parsed, or defines no app the scan recognises."""


def _string_arg(call: ast.Call, keyword: str) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant) \
                and isinstance(kw.value.value, str):
            return kw.value.value
    return None


_APP_CLASSES = frozenset({"App", "KernelApp"})


def _app_name(value: ast.expr | None, constructors: frozenset[str]) -> str | None:
    """``"x"`` for ``App("x")``, ``kernel.App("x")``, ``kernel_actions.App(name="x")``."""
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    if isinstance(func, ast.Name):
        called = func.id in constructors
    else:
        called = isinstance(func, ast.Attribute) and func.attr in _APP_CLASSES
    return _string_arg(value, "name") if called else None


def _constructors(tree: ast.AST) -> frozenset[str]:
    """The names ``App`` is called by here: itself, and ``from … import App as X``."""
    names = set(_APP_CLASSES)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.update(a.asname for a in node.names if a.name in _APP_CLASSES and a.asname)
    return frozenset(names)


def _action(decorator: ast.expr) -> tuple[str, str] | None:
    """``(app variable, action name)`` for ``@app.action("name")``."""
    if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
        return None
    if decorator.func.attr != "action" or not isinstance(decorator.func.value, ast.Name):
        return None
    name = _string_arg(decorator, "name")
    return (decorator.func.value.id, name) if name is not None else None


def _describe(fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> dict[str, Any]:
    params = [*fn.args.posonlyargs, *fn.args.args]
    return {
        "name": name,
        "description": ast.get_docstring(fn),
        "input_schema": None,
        "output_schema": None,
        "is_async": isinstance(fn, ast.AsyncFunctionDef),
        "takes_payload": len(params) >= 2,
        "payload_required": False,
    }


def scan_manifest(path: Path, entrypoint: str | None = None) -> dict[str, Any]:
    """The manifest of ``path`` found in its source: apps and actions, without schemas."""
    from .manifest import MANIFEST_VERSION

    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError) as exc:
        raise StaticScanError(f"cannot read {path.name}: {exc}") from None
    apps: dict[str, dict[str, Any]] = {}  # app name -> its entry, in source order
    variables: dict[str, str] = {}  # variable -> app name
    constructors = _constructors(tree)
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        name = _app_name(value, constructors)
        if name is None:
            continue
        assert isinstance(value, ast.Call)  # _app_name found a constructor call
        apps.setdefault(name, {"name": name, "actions": [], "env": [v.describe() for v in literal_env(value) or ()]})
        for target in targets:
            if isinstance(target, ast.Name):
                variables[target.id] = name
    functions = sorted((n for n in ast.walk(tree)
                        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)),
                       key=lambda n: (n.lineno, n.col_offset))
    for fn in functions:
        for decorator in fn.decorator_list:
            found = _action(decorator)
            if found is None or found[0] not in variables:
                continue
            actions = apps[variables[found[0]]]["actions"]
            actions[:] = [a for a in actions if a["name"] != found[1]]
            actions.append(_describe(fn, found[1]))
    if not apps:
        raise StaticScanError(f"{path.name} defines no App(\"…\") the source scan can find")
    if not any(app["env"] for app in apps.values()):
        names = example_env(path)
        for app in apps.values():
            app["env"] = names
    return {"manifest_version": MANIFEST_VERSION, "entrypoint": entrypoint,
            "apps": list(apps.values())}
