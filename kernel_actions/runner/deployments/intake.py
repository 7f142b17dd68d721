"""What is checked of an uploaded bundle before any of it is extracted or run.

``POST /deployments`` answers 400 (or 409) at once for a bundle the runner would
refuse anyway: not a zip, over the extraction limits, no entrypoint, dependencies
that are not plain requirements, or app names that already have the version. The
app names come from the bundle's ``kernel-actions.json`` manifest, or else from the
``App("name")`` calls in the entrypoint's source, read, never run. Reading a zip
with many entries takes time, so callers run :func:`inspect_bundle` in a thread.
"""

from __future__ import annotations

import ast
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from packaging.requirements import Requirement

from ...tooling.bundle import UnsafeBundleError, check_bundle, read_bundle_manifest
from .installs import declared_dependencies, parse_requirements

__all__ = ["BundleInfo", "BundleRefused", "inspect_bundle", "app_names_in_source"]

#: Largest entrypoint or dependency file read for these checks.
_MAX_READ = 4 * 1024 * 1024


class BundleRefused(ValueError):
    """The upload is refused before anything of it is kept; the message says why."""


@dataclass
class BundleInfo:
    entrypoint: str
    #: App names read without running code; empty when they can't be known that way.
    app_names: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    requirements: list[Requirement] = field(default_factory=list)


def app_names_in_source(source: str) -> list[str]:
    """Names given to ``App("…")`` (or ``App(name="…")``) as literals in ``source``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        if called != "App":
            continue
        arg = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and (
                arg.value not in names):
            names.append(arg.value)
    return names


def inspect_bundle(data: bytes, entrypoint: str | None, *, allow_local_deps: bool = False
                   ) -> BundleInfo:
    """Check ``data`` (a zip) without extracting it; :class:`BundleRefused` says what's wrong."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise BundleRefused("'file' is not a zip archive")
    try:
        check_bundle(data)
        manifest = read_bundle_manifest(data)
    except UnsafeBundleError as exc:
        raise BundleRefused(f"refused the bundle: {exc}") from None
    if not entrypoint:
        entrypoint = str((manifest or {}).get("entrypoint_rel_path") or "main.py")
    rel = PurePosixPath(entrypoint)
    if rel.is_absolute() or ".." in rel.parts or "\\" in entrypoint:
        raise BundleRefused("'entrypoint_rel_path' must be a path inside the bundle")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {m.filename: m for m in archive.infolist() if not m.is_dir()}

        def read(name: str) -> str | None:
            info = members.get(name)
            if info is None:
                return None
            if info.file_size > _MAX_READ:
                raise BundleRefused(f"{name} is over {_MAX_READ // 1024 // 1024} MB")
            try:
                return archive.read(info).decode()
            except UnicodeDecodeError:
                raise BundleRefused(f"{name} is not UTF-8 text") from None

        source = read(rel.as_posix())
        if source is None:
            raise BundleRefused(f"entrypoint {entrypoint!r} is not in the bundle")
        try:
            where, texts = declared_dependencies(read)
            requirements = parse_requirements(texts, source=where or "dependencies",
                                              allow_local=allow_local_deps)
        except ValueError as exc:  # DependencyError
            raise BundleRefused(str(exc)) from None
    names = [str(a.get("name")) for a in (manifest or {}).get("apps", [])
             if isinstance(a, dict)] or app_names_in_source(source)
    return BundleInfo(entrypoint=entrypoint, app_names=names, manifest=manifest,
                      requirements=requirements)
