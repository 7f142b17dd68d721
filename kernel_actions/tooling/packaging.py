"""Packaging: the zip of an app's folder that the hosted ``POST /deployments`` takes.

Like Kernel's CLI, the bundle is the entrypoint's folder, honouring nested
``.gitignore`` and ``.ignore`` files and keeping other hidden files; unlike it,
virtualenvs, caches, VCS folders, the runner's ``.kernel/`` data, ``.env`` files
and secret-looking files are always left out. The zip is reproducible (sorted
entries, fixed timestamps and permissions) and carries ``kernel-actions.json``,
the manifest of its apps and actions, built by :mod:`kernel_actions.tooling.code_manifest`.
Archives this tool wrote (they carry that manifest) are never bundled again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from ..entrypoint import EntrypointNotFound, resolve_entrypoint
from .bundle import MANIFEST_NAME, is_own_bundle
from .code_manifest import ManifestError, read_manifest
from .node_apps import dependency_file
from .not_app_code import is_not_app_dir, is_virtualenv

__all__ = ["build_bundle", "collect_files", "BundleReport", "PackagingError", "LARGE_BUNDLE_BYTES"]

#: Uncompressed size past which a bundle gets a warning naming its biggest files.
LARGE_BUNDLE_BYTES = 50 * 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)
_IGNORE_FILES = (".gitignore", ".ignore")
_ALWAYS_FILES = ("*.pyc", "*.pyo", ".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*",
                 "*.p12", "*.pfx", ".npmrc", ".pypirc", "credentials*.json", ".DS_Store")
_ALLOWED = (".env.example", ".env.sample", ".env.template")


class PackagingError(Exception):
    """The bundle can't be built; the message says why (and where, for load errors)."""


@dataclass
class BundleReport:
    path: Path
    entrypoint_rel_path: str
    files: list[str]
    excluded: list[tuple[str, str]]
    size_bytes: int
    uncompressed_bytes: int
    dependency_file: str | None
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""


def _always_excluded(rel: Path, is_dir: bool, full: Path) -> str | None:
    name = rel.name
    if is_dir:
        if is_not_app_dir(name):
            return "always left out"
        if is_virtualenv(full):
            return "a virtualenv"
        return None
    if name in _ALLOWED:
        return None
    if name.endswith(".zip") and is_own_bundle(full):
        return "a bundle written by kernel-actions package"
    for pattern in _ALWAYS_FILES:
        if fnmatch.fnmatch(name, pattern):
            return "secret-looking or generated file" if not name.endswith((".pyc", ".pyo")) \
                else "always left out"
    return None


def collect_files(app_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to bundle (relative, sorted) and what was left out, with why."""
    app_dir = app_dir.resolve()
    included: list[Path] = []
    excluded: list[tuple[Path, str]] = []
    # Each folder's ignore rules apply below it, relative to it (as git reads them).
    specs: list[tuple[Path, pathspec.PathSpec]] = []

    def ignored(rel: Path, is_dir: bool) -> bool:
        for base, spec in specs:
            try:
                sub = rel.relative_to(base)
            except ValueError:
                continue
            text = sub.as_posix() + ("/" if is_dir else "")
            if spec.match_file(text):
                return True
        return False

    def walk(folder: Path) -> None:
        rel_folder = folder.relative_to(app_dir)
        for name in _IGNORE_FILES:
            f = folder / name
            if f.is_file():
                lines = f.read_text(errors="replace").splitlines()
                specs.append((rel_folder, pathspec.GitIgnoreSpec.from_lines(lines)))
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            rel = entry.relative_to(app_dir)
            if entry.is_symlink():
                excluded.append((rel, "a symlink"))
                continue
            is_dir = entry.is_dir()
            why = _always_excluded(rel, is_dir, entry)
            if why is None and ignored(rel, is_dir):
                why = "ignored by .gitignore/.ignore"
            if why is not None:
                excluded.append((rel, why))
            elif is_dir:
                walk(entry)
            elif entry.is_file():
                included.append(rel)
        # Rules of this folder don't apply to its siblings.
        while specs and specs[-1][0] == rel_folder and rel_folder != Path("."):
            specs.pop()

    walk(app_dir)
    return sorted(included, key=lambda p: p.as_posix()), excluded


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100644 & 0xFFFF) << 16
    info.create_system = 3  # unix, whatever builds it
    return info


def build_bundle(
    entrypoint: Path, output: Path | None = None, *, manifest: dict[str, Any] | None = None,
    env_vars: Mapping[str, str] | None = None, strict: bool = False,
) -> BundleReport:
    """Zip ``entrypoint``'s folder; ``output`` defaults to ``<app name>.zip`` in the cwd.

    The manifest comes from loading the code with ``env_vars`` (see
    :func:`kernel_actions.tooling.code_manifest.read_manifest`); code that doesn't load here ships
    with the apps and actions its source names and a warning, or, ``strict``, is refused.
    """
    try:
        entry = resolve_entrypoint(Path(entrypoint))
    except EntrypointNotFound:
        raise PackagingError(f"entrypoint {Path(entrypoint).resolve()} not found") from None
    assert entry.path is not None
    entrypoint, app_dir = entry.path, entry.app_dir
    warnings: list[str] = []
    if manifest is None:
        try:
            found = read_manifest(entry, env_vars=env_vars)
        except ManifestError as exc:
            raise PackagingError(f"{entry.name} does not load: {exc}") from None
        if found.is_static and strict:
            raise PackagingError(f"{entry.name} does not load: {found.fallback_reason}")
        manifest = found.manifest
        if found.warning():
            warnings.append(str(found.warning()))
    manifest = {**manifest, "entrypoint_rel_path": entrypoint.name}
    files, excluded = collect_files(app_dir)
    if output is None:
        apps = manifest.get("apps") or [{"name": app_dir.name}]
        output = Path.cwd() / f"{apps[0]['name']}.zip"
    output = Path(output).resolve()
    files = [f for f in files if (app_dir / f).resolve() != output]
    dep = next((n for n in ("pyproject.toml", "requirements.txt") if (app_dir / n).is_file()),
               None) or dependency_file(app_dir)  # a TypeScript app: its lock file
    if dep is None:
        warnings.append("no pyproject.toml or requirements.txt: the bundle declares no "
                        "dependencies beyond what the runner has")
    sizes = {f.as_posix(): (app_dir / f).stat().st_size for f in files}
    total = sum(sizes.values())
    if total > LARGE_BUNDLE_BYTES:
        biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
        listed = ", ".join(f"{n} ({s / 1024 / 1024:.1f} MB)" for n, s in biggest)
        warnings.append(f"the bundle is large ({total / 1024 / 1024:.1f} MB before compression);"
                        f" biggest files: {listed}. Add them to .gitignore or .ignore?")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compresslevel=6) as zf:
        for rel in files:
            zf.writestr(_zip_info(rel.as_posix()), (app_dir / rel).read_bytes())
        zf.writestr(_zip_info(MANIFEST_NAME),
                    json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, output)
    data = output.read_bytes()
    return BundleReport(
        path=output, entrypoint_rel_path=entrypoint.name,
        files=[f.as_posix() for f in files], excluded=[(p.as_posix(), w) for p, w in excluded],
        size_bytes=len(data), uncompressed_bytes=total, dependency_file=dep, manifest=manifest,
        warnings=warnings, sha256=hashlib.sha256(data).hexdigest(),
    )
