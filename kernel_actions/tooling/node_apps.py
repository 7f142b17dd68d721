"""TypeScript and JavaScript apps from the outside: what ``schema``, ``package``, ``deploy``
and ``serve`` need to know of them without a runner.

* :func:`scan_node_manifest`: the apps and actions an entry file names, read from its source
  (``kernel.app("x")``, ``app.action("y", ...)``), for code that can't be loaded here (no
  ``node_modules`` yet): Kernel's own CLI uploads a TypeScript app without loading it at all.
* :func:`lock_file` and :func:`install_command`: the package manager the app's lock file
  names (Kernel's templates use pnpm), as ``serve`` installs a deployment's dependencies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..env_contract import example_env

__all__ = ["LOCK_FILES", "NodeScanError", "dependency_file", "install_command", "lock_file",
           "scan_node_manifest"]

#: Lock files, in the order they are looked for, and the command that installs from each.
LOCK_FILES: tuple[tuple[str, list[str]], ...] = (
    ("pnpm-lock.yaml", ["pnpm", "install", "--frozen-lockfile"]),
    ("package-lock.json", ["npm", "ci"]),
    ("yarn.lock", ["yarn", "install", "--frozen-lockfile"]),
    ("bun.lock", ["bun", "install", "--frozen-lockfile"]),
    ("bun.lockb", ["bun", "install", "--frozen-lockfile"]),
)

_COMMENTS = re.compile(r"/\*.*?\*/|(?<![:\"'`])//[^\n]*", re.S)
_QUOTED = r"""(?:"([^"\\\n]+)"|'([^'\\\n]+)'|`([^`\\$\n]+)`)"""
#: ``new KernelApp("x")`` / ``kernel.app("x")`` assigned to a name.
_APP = re.compile(r"(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:new\s+KernelApp|"
                  r"[A-Za-z_$][\w$.()]*\.app)\s*\(\s*" + _QUOTED)
#: ``app.action("y", ...)`` / ``app.action<In, Out>("y", ...)``.
_ACTION = re.compile(r"([A-Za-z_$][\w$]*)\s*\.\s*action\s*(?:<[^()]*?>)?\s*\(\s*" + _QUOTED)


class NodeScanError(Exception):
    """The source names no app the scan recognises."""


def _name(match: re.Match[str], first: int) -> str:
    return next(g for g in match.groups()[first:first + 3] if g is not None)


def scan_node_manifest(path: Path, entrypoint: str) -> dict[str, Any]:
    """The manifest of the apps and actions ``path``'s source names (no schemas)."""
    try:
        source = _COMMENTS.sub("", path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise NodeScanError(f"cannot read {path}: {exc}") from None
    apps: dict[str, str] = {}  # variable -> app name
    for match in _APP.finditer(source):
        apps[match.group(1)] = _name(match, 1)
    if not apps:
        raise NodeScanError(f"{path.name} names no app (kernel.app(\"name\")) the scan found")
    actions: dict[str, list[str]] = {name: [] for name in apps.values()}
    for match in _ACTION.finditer(source):
        app = apps.get(match.group(1))
        name = _name(match, 1)
        if app is not None and name not in actions[app]:
            actions[app].append(name)
    env = example_env(path)
    return {
        "manifest_version": 1,
        "entrypoint": entrypoint,
        "apps": [{"name": app, "env": env, "actions": [
            {"name": a, "description": None, "input_schema": None, "output_schema": None,
             "is_async": True, "takes_payload": True, "payload_required": False}
            for a in names]} for app, names in actions.items()],
    }


def lock_file(folder: Path) -> str | None:
    """The lock file in ``folder``, if any (the first of :data:`LOCK_FILES`)."""
    return next((name for name, _ in LOCK_FILES if (folder / name).is_file()), None)


def install_command(folder: Path) -> list[str] | None:
    """How the app's dependencies install: from its lock file, else ``npm install``;
    ``None`` when its ``package.json`` declares no dependencies."""
    try:
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not manifest.get("dependencies"):
        return None
    lock = lock_file(folder)
    if lock is None:
        return ["npm", "install", "--no-audit", "--no-fund"]
    return next(list(command) for name, command in LOCK_FILES if name == lock)


def dependency_file(folder: Path) -> str | None:
    """What declares the app's dependencies: its lock file, else its package.json."""
    if not (folder / "package.json").is_file():
        return None
    return lock_file(folder) or "package.json"
