"""The package's layers, read from the source: every import of every module,
including those under ``TYPE_CHECKING`` and inside functions (an import that
only runs later is still an arrow between modules).

* no import cycle between the package's modules;
* the engine (``runner/engine``) knows nothing of HTTP, features or the server, and
  refuses in its own errors (``engine/errors.py``), never the API's ``ApiError``;
* the package root (what an app imports) reaches no tooling, runner or CLI module, and
  ``tooling/`` no runner or CLI module;
* no module imports another module's underscore names;
* what ``import kernel_actions`` runs reaches none of the runner or CLI.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "kernel_actions"


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (a package's module, or a third-party one)
    names: tuple[str, ...]  # names taken from it by ``from target import ...``
    line: int
    top_level: bool  # runs when the importer is imported (not in a function, not typing-only)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


MODULES = package_modules()


def _typing_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, top_level: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, False)
        elif isinstance(child, ast.If) and _typing_only(child):
            for stmt in child.body:
                yield stmt, False
                yield from _walk(stmt, False)
            for stmt in child.orelse:
                yield stmt, top_level
                yield from _walk(stmt, top_level)
        else:
            yield child, top_level
            yield from _walk(child, top_level)


def imports_of(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found = []
    for node, top in _walk(tree, True):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, (), node.lineno, top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = tuple(alias.name for alias in node.names)
            submodules = [n for n in names if f"{source}.{n}" in MODULES]
            for sub in submodules:  # ``from . import background`` imports a module
                found.append(Import(name, f"{source}.{sub}", (), node.lineno, top))
            rest = tuple(n for n in names if n not in submodules)
            if rest or not submodules:
                found.append(Import(name, source, rest, node.lineno, top))
    return found


IMPORTS = {name: imports_of(name, path) for name, path in MODULES.items()}


def graph(*, top_level_only: bool = False) -> dict[str, set[str]]:
    return {
        name: {i.target for i in found if i.target in MODULES and i.target != name
               and (i.top_level or not top_level_only)}
        for name, found in IMPORTS.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges) + 100))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_is_read(tmp_path: Path) -> None:
    """The parser sees the arrows the layout is built on (so the tests below can fail)."""
    edges = graph()
    assert "kernel_actions.runner.http.api" in edges["kernel_actions.runner.server"]
    assert "kernel_actions.runner.engine.background" in edges[
        "kernel_actions.runner.engine.scheduler"]  # ``from . import background``
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "if TYPE_CHECKING:\n"
        "    from .runner.server import Runner\n"
        "def later():\n"
        "    from .runner.http import sse\n"
        "    from .action import MISSING as _missing\n")
    found = {(i.target, i.names, i.top_level) for i in imports_of("kernel_actions.probe", probe)}
    assert found == {
        ("typing", ("TYPE_CHECKING",), True), ("json", (), True),
        ("kernel_actions.runner.server", ("Runner",), False),  # typing-only counts
        ("kernel_actions.runner.http.sse", (), False),  # function-local counts
        ("kernel_actions.action", ("MISSING",), False),
    }
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


ENGINE = "kernel_actions.runner.engine"
ABOVE_ENGINE = ("kernel_actions.runner.http", "kernel_actions.runner.browsers",
                "kernel_actions.runner.deployments", "kernel_actions.runner.server",
                "kernel_actions.runner.services", "kernel_actions.runner.reload",
                "kernel_actions.cli", "starlette", "uvicorn")


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_engine_imports_nothing_above_it() -> None:
    upward = [
        f"{i.importer}:{i.line} imports {i.target}"
        for name, found in IMPORTS.items() if _within(name, (ENGINE,))
        for i in found if _within(i.target, ABOVE_ENGINE)
    ]
    assert upward == []


def test_the_engine_raises_no_http_errors() -> None:
    """Its refusals are ``engine.errors``; only the HTTP layer knows their statuses."""
    http_errors = [
        f"{i.importer}:{i.line} imports {', '.join(i.names) or i.target}"
        for name, found in IMPORTS.items() if _within(name, (ENGINE,))
        for i in found if i.target == "kernel_actions.runner.errors" or "ApiError" in i.names
    ]
    assert http_errors == []
    statuses = [
        f"{name}:{node.lineno}" for name, path in MODULES.items() if _within(name, (ENGINE,))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Name) and node.id == "ApiError"
    ]
    assert statuses == []


def test_every_engine_refusal_has_a_status() -> None:
    from kernel_actions.runner.engine import errors as engine_errors
    from kernel_actions.runner.errors import api_error

    kinds = [getattr(engine_errors, n) for n in engine_errors.__all__]
    statuses = {kind.__name__: api_error(kind("x")).status for kind in kinds}
    assert statuses == {"EngineError": 400, "Invalid": 400, "NotFound": 404,
                        "Conflict": 409, "Unavailable": 503}


ROOT_MODULES = tuple(n for n, p in MODULES.items() if p.parent == ROOT / PACKAGE)
TOOLING = "kernel_actions.tooling"


def test_the_root_holds_the_framework_and_tooling_sits_below_the_runner() -> None:
    """An app's imports (the root) reach no tooling; tooling reaches no runner or CLI."""
    assert {"kernel_actions.app", "kernel_actions.context", "kernel_actions.outcome"} <= set(
        ROOT_MODULES)
    assert not any("manifest" in n or "packag" in n for n in ROOT_MODULES)
    upward = [
        f"{i.importer}:{i.line} imports {i.target}"
        for name, found in IMPORTS.items() if name in ROOT_MODULES
        for i in found if _within(i.target, (TOOLING, "kernel_actions.runner",
                                             "kernel_actions.cli"))
    ] + [
        f"{i.importer}:{i.line} imports {i.target}"
        for name, found in IMPORTS.items() if _within(name, (TOOLING,))
        for i in found if _within(i.target, ("kernel_actions.runner", "kernel_actions.cli"))
    ]
    assert upward == []


def test_features_and_routes_do_not_import_the_server() -> None:
    """Features and route modules get collaborators; only the CLI wires a server."""
    lower = ("kernel_actions.runner.http", "kernel_actions.runner.browsers",
             "kernel_actions.runner.deployments", "kernel_actions.runner.services")
    upward = [
        f"{i.importer}:{i.line} imports {i.target}"
        for name, found in IMPORTS.items() if _within(name, lower)
        for i in found if _within(i.target, ("kernel_actions.runner.server", "kernel_actions.cli"))
    ]
    assert upward == []


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_another_modules_underscore_names() -> None:
    sources = {**MODULES}
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            sources[module_name(path)] = path
    private = [
        f"{name}:{i.line} imports {', '.join(filter(_private, i.names))} from {i.target}"
        for name, path in sources.items()
        for i in (IMPORTS.get(name) or imports_of(name, path))
        if any(_private(n) for n in i.names)
    ]
    assert private == []


def test_importing_the_framework_reaches_no_runner_module() -> None:
    """What ``import kernel_actions`` executes, read statically: the runtime check of the
    same rule is ``test_framework``'s, which sees third-party modules too."""
    edges = graph(top_level_only=True)
    reached: set[str] = set()
    todo = [PACKAGE]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        todo += edges.get(module, ())
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing a module imports its package first
    heavy = sorted(m for m in reached if _within(m, (
        "kernel_actions.runner", "kernel_actions.cli", "kernel_actions.tooling")))
    assert heavy == []
    third_party = sorted({i.target.split(".")[0] for m in reached for i in IMPORTS[m]
                          if i.top_level} & {"starlette", "uvicorn", "httpx", "click", "rich",
                                             "watchfiles", "sqlite3"})
    assert third_party == []
