"""A deployment's dependencies: read, checked as PEP 508 requirements, installed with pip.

What a bundle declares reaches pip's command line, so only requirement strings are
accepted (``packaging.requirements.Requirement`` parses them): no pip options
(``--target=/tmp/x``, ``-r``, ``--index-url``), and no local paths or ``file:`` URLs
unless the runner was started with ``--allow-local-deps``. Dependencies the runner's
environment already satisfies are skipped; the rest are installed into a folder
shared by every deployment that declares the same set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..supervisor import DEVNULL, PIPE, STDOUT, supervisor

__all__ = [
    "DependencyError", "Installer", "declared_dependencies", "parse_requirements",
    "unsatisfied",
]

_OWN_PACKAGES = frozenset({canonicalize_name("kernel-actions")})


class DependencyError(ValueError):
    """A declared dependency that is refused, or an install that failed; says which."""


def declared_dependencies(read: Callable[[str], str | None]) -> tuple[str, list[str]]:
    """``(source, requirement strings)`` from ``pyproject.toml`` or ``requirements.txt``.

    ``read(name)`` gives a file's text, or ``None`` when the bundle has no such file (so
    this works on a zip before it is extracted). Lines of ``requirements.txt`` keep their
    comments stripped; anything else is left for :func:`parse_requirements` to judge.
    """
    text = read("pyproject.toml")
    if text is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DependencyError(f"pyproject.toml is not valid TOML: {exc}") from None
        deps = data.get("project", {}).get("dependencies", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise DependencyError("pyproject.toml: [project].dependencies must be a list of "
                                  "requirement strings")
        return "pyproject.toml", deps
    text = read("requirements.txt")
    if text is not None:
        lines = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
        return "requirements.txt", [ln for ln in lines if ln and not ln.startswith("#")]
    return "", []


def parse_requirements(texts: list[str], *, source: str = "dependencies",
                       allow_local: bool = False) -> list[Requirement]:
    """Every text as a PEP 508 requirement, or :class:`DependencyError` naming the bad one."""
    out = []
    for text in texts:
        text = text.strip()
        if text.startswith("-"):
            raise DependencyError(
                f"{source}: {text!r} is a pip option; only requirement strings are accepted "
                "(e.g. 'httpx>=0.27')")
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise DependencyError(
                f"{source}: {text!r} is not a PEP 508 requirement ({exc}); local paths "
                "are not accepted") from None
        if req.url is not None and _is_local(req.url) and not allow_local:
            raise DependencyError(
                f"{source}: {text!r} points at a local path; start the runner with "
                "--allow-local-deps to allow that")
        out.append(req)
    return out


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file") or scheme.endswith("+file")


def unsatisfied(requirements: list[Requirement]) -> list[Requirement]:
    """The requirements this environment does not already satisfy."""
    missing = []
    for req in requirements:
        if canonicalize_name(req.name) in _OWN_PACKAGES:
            continue  # the runner provides the framework itself
        if req.marker is not None and not req.marker.evaluate():
            continue
        if req.url is not None:
            missing.append(req)
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(req)
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            missing.append(req)
    return missing


class Installer:
    """Installs requirement sets into ``root/<hash of the set>``, once per set."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = asyncio.Lock()

    async def install(self, requirements: list[Requirement], tag: str,
                      log: Callable[[str], None]) -> Path:
        """The folder holding ``requirements`` (installed now unless already there)."""
        texts = sorted(str(r) for r in requirements)
        key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
        target = self.root / key
        async with self._lock:
            if (target / ".complete").is_file():
                log(f"reusing installed dependencies: {', '.join(texts)}")
                return target
            log(f"installing {', '.join(texts)}")
            tmp = self.root / f".{key}.{tag}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            # Requirement strings only, after "--": nothing in them can be read as an option.
            proc = await supervisor.start_process(
                [sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                 "--no-input", "--target", str(tmp), "--", *texts],
                name="pip", stdin=DEVNULL, stdout=PIPE, stderr=STDOUT)
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line and not line.startswith("WARNING: Location"):
                    log(line)
            if await proc.wait() != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise DependencyError(f"installing dependencies failed: {', '.join(texts)}")
            (tmp / ".complete").write_text("\n".join(texts))
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
            return target
