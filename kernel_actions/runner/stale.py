"""Code whose latest save failed to load, said where clients look.

The runner keeps serving the last generation that loaded (or nothing, when the code never
loaded). Left at that, a client gets the old code's answer with no hint, so:

* invocation responses served by such code carry ``x-kernel-actions-stale: <first line of the
  load error>``, which the CLI turns into a warning line;
* ``GET /apps`` lists code that never loaded too, with its ``load_error``, under the name its
  source gives the app (read without running it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from ..entrypoint import split_target
from ..env_contract import declared_env, example_env
from ..headers import STALE_HEADER
from .engine.app_versions import REGION, app_version_id
from .engine.pool import CodePool

__all__ = ["STALE_HEADER", "stale_headers", "stale_message", "unloaded_summary",
           "guess_app_name"]

#: Longest header value sent: the first line of an error, not a traceback.
MAX_HEADER_CHARS = 300
_UNSAFE = re.compile(r"[^\x20-\x7e]")


def stale_message(pool: CodePool) -> str | None:
    """The first line of the load error of ``pool``'s latest save, or None when it loaded."""
    if pool.load_error is None:
        return None
    lines = str(pool.load_error).strip().splitlines()
    return lines[0] if lines else "the code failed to load"


def stale_headers(pool: CodePool | None) -> dict[str, str]:
    """The header to add to a response served by ``pool`` (none when its code is current)."""
    message = stale_message(pool) if pool is not None else None
    if message is None:
        return {}
    # Header values are Latin-1 on the wire: keep them printable ASCII and bounded.
    value = _UNSAFE.sub("?", message)
    if len(value) > MAX_HEADER_CHARS:
        value = value[:MAX_HEADER_CHARS - 3] + "..."
    return {STALE_HEADER: value}


def guess_app_name(entrypoint: str, cwd: Path) -> str | None:
    """The name in the first ``App("name")`` call of the entrypoint's source, if any.

    Only the file is parsed, never imported: this runs for code that fails to import.
    """
    path_part, _ = split_target(entrypoint)
    path = Path(path_part)
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        path = path / "__init__.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return _scan_text(path)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if name == "App" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _scan_text(path: Path) -> str | None:
    """For source that doesn't parse: the name from a line that spells ``App("name")``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r"""\bApp\(\s*["']([^"'\n]+)["']""", text)
    return found.group(1) if found else None


def unloaded_summary(pool: CodePool, cwd: Path, env_keys: list[str]) -> dict[str, Any]:
    """A ``GET /apps`` item for a pool whose code has never loaded."""
    name = guess_app_name(pool.target, cwd) or Path(split_target(pool.target)[0]).stem
    spec = Path(split_target(pool.target)[0])
    path = spec if spec.is_absolute() else cwd / spec
    found = declared_env(path) if spec.suffix == ".py" else None
    return {
        "id": app_version_id(name, pool.version),
        "app_name": name,
        "version": pool.version,
        "deployment": pool.deployment_id or "local",
        "env_vars": {k: "" for k in env_keys},
        "region": REGION,
        # Read from the source, as dev checks it: the names the app says it needs (else
        # those its .env.example lists, advisory).
        "declared_env": [v.describe() for v in found[0]] if found else (
            example_env(path) if spec.suffix == ".py" else []),
        "actions": [],
        "code_generation": pool.generation,
        "stale": True,
        "load_error": pool.status()["load_error"],
    }
