"""An app's manifest, built the way the hosted platform will run its code.

The code is loaded in a subprocess (never here), in the app's folder, with the deploy's
environment variables and a placeholder ``KERNEL_API_KEY``/``KERNEL_BASE_URL`` (the
platform sets both; templates build a ``Kernel()`` client at import), and with the app's
own virtualenv when its folder has one. Code that still doesn't load (a dependency not
installed here, a key it reads at import) must not block shipping an app Kernel would
accept: the apps and actions are then found statically and shipped without schemas, with
the reason in :attr:`CodeManifest.fallback_reason`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..entrypoint import Entrypoint
from .node_apps import NodeScanError, scan_node_manifest
from .node_choice import WORKER_SCRIPT, NodeUnavailable, choose_node, is_node_target
from .not_app_code import is_virtualenv
from .static_manifest import StaticScanError, scan_manifest

__all__ = ["CodeManifest", "ManifestError", "read_manifest", "load_manifest",
           "PLACEHOLDER_API_KEY", "PLACEHOLDER_BASE_URL"]

#: What ``KERNEL_API_KEY`` holds while the code is loaded for its manifest, unless set.
PLACEHOLDER_API_KEY = "kernel-actions-manifest-placeholder"
#: ``KERNEL_BASE_URL`` while loading: a loopback port nothing listens on (discard).
PLACEHOLDER_BASE_URL = "http://127.0.0.1:9"
_VENV_NAMES = (".venv", "venv")


class ManifestError(Exception):
    """The code doesn't load (and, from :func:`read_manifest`, its source names no app).

    ``str()`` is the loader's one line (with file and line); ``hint`` says what would help.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class CodeManifest:
    manifest: dict[str, Any]
    #: Why the code didn't load, when the manifest was found statically (no schemas).
    fallback_reason: str | None = None
    #: The Python the code was loaded with (the app's virtualenv or this one).
    python: str | None = None

    @property
    def is_static(self) -> bool:
        return self.fallback_reason is not None

    def warning(self) -> str | None:
        """One line saying the manifest has no schemas, and why; None when it has them."""
        if self.fallback_reason is None:
            return None
        return (f"shipping without input/output schemas: the code does not load here "
                f"({self.fallback_reason}); its apps and actions were found in the source")


def _app_python(app_dir: Path) -> Path | None:
    """The app's own interpreter: a virtualenv in its folder."""
    for name in _VENV_NAMES:
        folder = app_dir / name
        for exe in (folder / "bin" / "python", folder / "Scripts" / "python.exe"):
            if is_virtualenv(folder) and exe.is_file():
                return exe
    return None


def _environment(entry: Entrypoint, env_vars: Mapping[str, str],
                 shim: str | None) -> dict[str, str]:
    env = {**os.environ, **env_vars}
    env.setdefault("KERNEL_API_KEY", PLACEHOLDER_API_KEY)
    env.setdefault("KERNEL_BASE_URL", PLACEHOLDER_BASE_URL)
    env["ENTRYPOINT_RELPATH"] = entry.name
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if shim is not None:  # kernel_actions importable from the app's own interpreter
        env["PYTHONPATH"] = os.pathsep.join(p for p in (shim, env.get("PYTHONPATH")) if p)
        env.pop("VIRTUAL_ENV", None)
    return env


class _ChildFailed(Exception):
    """The loading process gave no answer (it crashed, or couldn't import kernel_actions)."""


def _run_child(python: str, entry: Entrypoint, env_vars: Mapping[str, str],
               timeout: float, own: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kernel-actions-shim-") as shim:
        if not own:
            package = Path(__file__).resolve().parent.parent
            (Path(shim) / package.name).symlink_to(package, target_is_directory=True)
        try:
            proc = subprocess.run(
                [python, "-m", "kernel_actions.tooling.manifest_child", entry.target, entry.name],
                cwd=entry.app_dir, capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL,
                env=_environment(entry, env_vars, None if own else shim),
            )
        except subprocess.TimeoutExpired:
            raise ManifestError(f"it took more than {timeout:g} s to import") from None
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise _ChildFailed(f"the loading process exited with code {proc.returncode} "
                           f"({last[0]})")
    return result


def _hint(entry: Entrypoint, missing: str | None) -> str:
    if missing is None:
        return ""
    declared = next((n for n in ("pyproject.toml", "requirements.txt")
                     if (entry.app_dir / n).is_file()), None)
    if declared:
        return f"; a .venv in the app's folder with {declared}'s dependencies gives the schemas"
    return f"; a .venv in the app's folder with {missing} installed gives the schemas"


def load_manifest(entry: Entrypoint, *, env_vars: Mapping[str, str] | None = None,
                  timeout: float = 120.0) -> CodeManifest:
    """Load the code (app's virtualenv first, else this Python) and return its manifest.

    Raises :class:`ManifestError` with the loader's one-line reason when it doesn't load.
    """
    env_vars = dict(env_vars or {})
    if is_node_target(entry.target):
        return _load_node_manifest(entry, env_vars, timeout)
    app_python = _app_python(entry.app_dir)
    if app_python is not None:
        try:
            result = _run_child(str(app_python), entry, env_vars, timeout, own=False)
        except _ChildFailed:
            result = None  # e.g. kernel_actions' own dependencies missing there
        if result is not None:
            if "error" in result:
                raise ManifestError(str(result["error"]))
            return CodeManifest(result["manifest"], python=str(app_python))
    try:
        result = _run_child(sys.executable, entry, env_vars, timeout, own=True)
    except _ChildFailed as exc:
        raise ManifestError(str(exc)) from None
    if "error" in result:
        raise ManifestError(str(result["error"]), _hint(entry, result.get("missing_module")))
    return CodeManifest(result["manifest"], python=sys.executable)


def _node_version(node: str) -> str | None:
    try:
        return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None


def _load_node_manifest(entry: Entrypoint, env_vars: Mapping[str, str],
                        timeout: float) -> CodeManifest:
    """A TypeScript/JavaScript app's manifest: its code loaded by the Node worker's script
    (``--manifest``), with the app's own ``node_modules``."""
    env = _environment(entry, env_vars, None)
    try:
        runtime = choose_node(env, _node_version)
    except NodeUnavailable as exc:
        raise ManifestError(str(exc)) from None
    try:
        proc = subprocess.run(
            [runtime.path, "--disable-warning=ExperimentalWarning", str(WORKER_SCRIPT),
             "--manifest", entry.target, entry.name],
            cwd=entry.app_dir, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise ManifestError(f"it took more than {timeout:g} s to import") from None
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ManifestError(f"the loading process exited with code {proc.returncode} "
                            f"({last[0]})") from None
    if "error" in result:
        hint = ("; once its node_modules is installed, the code loads here"
                if "node_modules" in str(result["error"]) else "")
        raise ManifestError(str(result["error"]), hint)
    return CodeManifest(result["manifest"], python=runtime.path)


def read_manifest(entry: Entrypoint, *, env_vars: Mapping[str, str] | None = None,
                  timeout: float = 120.0) -> CodeManifest:
    """The manifest from loading the code, else from its source (see the module's doc).

    Raises :class:`ManifestError` (the loader's reason) only when the source defines no app
    the scan can find, or can't be parsed.
    """
    try:
        return load_manifest(entry, env_vars=env_vars, timeout=timeout)
    except ManifestError as exc:
        if entry.path is None:
            raise
        try:
            if is_node_target(entry.target):
                manifest = scan_node_manifest(entry.path, entry.name)
            else:
                manifest = scan_manifest(entry.path, entry.name)
        except (StaticScanError, NodeScanError):
            raise exc from None
        reason = f"{exc}{exc.hint}"
        manifest["schemas_missing"] = reason
        return CodeManifest(manifest, fallback_reason=reason)
