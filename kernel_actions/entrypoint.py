"""What an entrypoint names: a file (``main.py``, ``app/main.py``), a module (``pkg.mod``),
either with ``:attr``; or a TypeScript/JavaScript app (``index.ts``, ``app.mjs``, or a folder
whose ``package.json`` names its entry, as ``main`` or ``module``). Decided here once, for the loader, the runner's config, ``schema``
and packaging alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Entrypoint", "EntrypointNotFound", "NODE_SUFFIXES", "resolve_entrypoint", "split_target",
           "looks_like_path", "package_entry"]


def split_target(target: str) -> tuple[str, str | None]:
    """``"main.py:app"`` → ``("main.py", "app")``; a Windows drive letter is not an attr."""
    head, sep, attr = target.rpartition(":")
    if not sep or not head or "/" in attr or "\\" in attr or (len(head) == 1 and head.isalpha()):
        return target, None
    return head, attr or None


#: Entry files of TypeScript and JavaScript apps (run by a Node worker).
NODE_SUFFIXES = (".ts", ".mts", ".cts", ".js", ".mjs", ".cjs")


def looks_like_path(spec: str) -> bool:
    """A file rather than a module: ends in ``.py`` (or ``.ts``...), has a separator, or exists."""
    return (spec.endswith((".py", *NODE_SUFFIXES)) or "/" in spec or "\\" in spec
            or Path(spec).exists())


def package_entry(folder: Path) -> Path | None:
    """The entry file a folder's ``package.json`` names (``main``, else ``module``, else an
    ``index.ts``/``index.js`` beside it); ``None`` when it is no Node package."""
    import json

    try:
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(manifest, dict):
        for field in ("main", "module"):
            value = manifest.get(field)
            if isinstance(value, str) and (folder / value).is_file():
                return (folder / value).resolve()
    for name in ("index.ts", "index.mts", "index.js", "index.mjs"):
        if (folder / name).is_file():
            return (folder / name).resolve()
    return None


@dataclass(frozen=True)
class Entrypoint:
    """A resolved entrypoint.

    ``target`` is what :func:`kernel_actions.loader.load_apps` takes (an absolute file path
    for files), ``app_dir`` the app's folder (a file's parent; else the working folder),
    ``name`` what the bundle records as ``entrypoint_rel_path`` (a file's basename).
    """

    spec: str
    attr: str | None
    path: Path | None
    app_dir: Path

    @property
    def is_file(self) -> bool:
        return self.path is not None

    @property
    def target(self) -> str:
        base = str(self.path) if self.path is not None else self.spec
        return base + (f":{self.attr}" if self.attr else "")

    @property
    def name(self) -> str:
        if self.path is None:
            return self.spec
        try:  # a folder's entry may sit below it (``src/index.ts``)
            return self.path.relative_to(self.app_dir).as_posix()
        except ValueError:
            return self.path.name


class EntrypointNotFound(ValueError):
    """The entrypoint names a file that does not exist."""


def resolve_entrypoint(target: str | Path, cwd: Path | None = None) -> Entrypoint:
    """Resolve ``target`` against ``cwd``; raise :class:`EntrypointNotFound` for a missing file."""
    base = (cwd or Path.cwd()).resolve()
    if isinstance(target, Path):
        spec, attr = str(target), None
    else:
        spec, attr = split_target(target)
    if isinstance(target, Path) or looks_like_path(spec):
        path = (base / spec).resolve()
        entry = package_entry(path) if path.is_dir() else None
        if entry is not None:  # a TypeScript/JavaScript app's folder
            return Entrypoint(spec=spec, attr=attr, path=entry, app_dir=path)
        if not path.is_file():
            from .suggest import did_you_mean

            nearby = [p.name for p in path.parent.glob("*.py")] if path.parent.is_dir() else []
            raise EntrypointNotFound(f"entrypoint {spec} not found: no such file"
                                     f"{did_you_mean(path.name, nearby)}")
        return Entrypoint(spec=spec, attr=attr, path=path, app_dir=path.parent)
    return Entrypoint(spec=spec, attr=attr, path=None, app_dir=base)

