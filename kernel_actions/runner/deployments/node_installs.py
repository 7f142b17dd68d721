"""A TypeScript or JavaScript deployment's dependencies: installed into its own folder from
the lock file it ships, as the hosted platform does (Kernel's templates use pnpm).

Dependencies already resolvable from the deployment's folder (a ``node_modules`` in it or
above it) are not installed again. The package manager the lock file names is used when it
is on the ``PATH``; else ``npm install`` (which reads ``package.json``), and the log says so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ...tooling.node_apps import install_command, lock_file
from ..supervisor import DEVNULL, PIPE, STDOUT, supervisor
from .installs import DependencyError

__all__ = ["declared_node_dependencies", "unresolved", "install_node_dependencies"]


def declared_node_dependencies(folder: Path) -> list[str]:
    """The package names ``folder/package.json`` lists under ``dependencies``."""
    try:
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    deps = manifest.get("dependencies") if isinstance(manifest, dict) else None
    return sorted(deps) if isinstance(deps, dict) else []


def unresolved(folder: Path, names: list[str]) -> list[str]:
    """Those of ``names`` that no ``node_modules`` in ``folder`` or above it holds."""
    def found(name: str) -> bool:
        for base in (folder, *folder.parents):
            if (base / "node_modules" / name / "package.json").is_file():
                return True
        return False

    return [n for n in names if not found(n)]


async def install_node_dependencies(folder: Path, log: Callable[[str], None]) -> None:
    """Install what ``folder``'s package.json declares and nothing resolves yet."""
    declared = declared_node_dependencies(folder)
    if not declared:
        log("no dependencies declared (package.json)")
        return
    missing = unresolved(folder, declared)
    if not missing:
        log(f"all {len(declared)} declared dependencies already installed")
        return
    command = install_command(folder) or ["npm", "install"]
    if shutil.which(command[0]) is None:
        lock = lock_file(folder)
        if shutil.which("npm") is None:
            raise DependencyError(f"installing {', '.join(missing)} needs {command[0]} or npm "
                                  "on the runner's PATH")
        log(f"{command[0]} is not on the PATH: installing with npm install"
            + (f" (it reads package.json, not {lock})" if lock else ""))
        command = ["npm", "install"]
    if command[0] == "npm":
        command = [*command, "--no-audit", "--no-fund", "--loglevel=error"]
    log(f"installing {', '.join(missing)}: {' '.join(command)}")
    proc = await supervisor.start_process(command, name=command[0], cwd=folder,
                                          stdin=DEVNULL, stdout=PIPE, stderr=STDOUT)
    assert proc.stdout is not None
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        if line:
            log(line)
    if await proc.wait() != 0:
        raise DependencyError(f"installing dependencies failed: {' '.join(command)}")
