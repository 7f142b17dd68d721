"""What is never app code: one list, shared by hot reload (not watched) and packaging
(not bundled), so that what reloads the runner and what ships can't drift apart."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NOT_APP_DIRS", "GENERATED_SUFFIXES", "is_not_app_dir", "is_virtualenv"]

#: Folders that are never app code: the runner's data, version control, environments,
#: caches, editor settings and build output.
NOT_APP_DIRS = frozenset({
    ".kernel", ".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "node_modules",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox", ".idea", ".vscode",
    "build", "dist", ".eggs",
})
#: Compiled files and editor droppings.
GENERATED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".swo", "~", ".tmp", ".kate-swp")


def is_virtualenv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").exists()


def is_not_app_dir(name: str) -> bool:
    """A folder name that is never app code (see :data:`NOT_APP_DIRS`, plus ``*.egg-info``)."""
    return name in NOT_APP_DIRS or name.endswith(".egg-info")
