"""Scaffolding: new apps from the templates in ``templates/``.

A template is a folder with a ``template.json`` (``name``, ``description``, and
``setup``: the commands that install what the app and its tests need, each with
why) and the files of a runnable app; ``{{app_name}}`` in any file is replaced by the new
app's name. Templates ship inside the package (``kernel_actions/_templates``)
and are read from the repository's ``templates/`` in a checkout.

Python templates sit at ``templates/NAME``; TypeScript ones (apps written with
``@onkernel/sdk``, run by the runner's Node worker) at ``templates/typescript/NAME``, with
``"language": "typescript"`` and their ``"entrypoint"`` (``index.ts``) in ``template.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..env_contract import advisory_env

__all__ = ["TemplateInfo", "SetupStep", "CreatedApp", "ScaffoldError", "list_templates",
           "create_app", "next_steps", "templates_dir", "LANGUAGES", "DEFAULT_TEMPLATES"]

#: The languages templates are written in, and the template each starts from by default.
LANGUAGES = ("python", "typescript")
DEFAULT_TEMPLATES = {"python": "basic", "typescript": "sample-app"}

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ScaffoldError(Exception):
    """A new app can't be created as asked; the message says why."""


@dataclass(frozen=True)
class SetupStep:
    """A command a new app needs run once (installing its own or its tests' packages)."""

    command: str
    why: str


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    path: Path
    setup: tuple[SetupStep, ...] = ()
    language: str = "python"
    #: The file ``kernel-actions dev`` runs.
    entrypoint: str = "main.py"


@dataclass(frozen=True)
class CreatedApp:
    path: Path
    app_name: str
    template: str
    files: list[str]
    setup: tuple[SetupStep, ...] = ()
    language: str = "python"
    entrypoint: str = "main.py"


def templates_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "templates"


def list_templates(language: str | None = "python") -> list[TemplateInfo]:
    """The templates written in ``language`` (every one with ``None``)."""
    out = []
    root = templates_dir()
    for meta in sorted([*root.glob("*/template.json"), *root.glob("typescript/*/template.json")]):
        data = json.loads(meta.read_text())
        setup = tuple(SetupStep(step["command"], step.get("why", ""))
                      for step in data.get("setup", []))
        info = TemplateInfo(data.get("name", meta.parent.name), data.get("description", ""),
                            meta.parent, setup, data.get("language", "python"),
                            data.get("entrypoint", "main.py"))
        if language is None or info.language == language:
            out.append(info)
    return out


def app_name_for(folder: Path) -> str:
    """Kernel-style name from a folder name: lowercase letters, digits and hyphens."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    return name or "my-app"


def create_app(target_dir: Path, template: str | None = None, app_name: str | None = None, *,
               force: bool = False, language: str = "python") -> CreatedApp:
    """Write the ``template`` app (of ``language``; its default template when ``None``) into
    ``target_dir`` (which must be empty unless ``force``)."""
    if language not in LANGUAGES:
        raise ScaffoldError(f"unknown language {language!r}; languages: {', '.join(LANGUAGES)}")
    template = template or DEFAULT_TEMPLATES[language]
    templates = {t.name: t for t in list_templates(language)}
    if template not in templates:
        kind = "" if language == "python" else f"{language} "
        raise ScaffoldError(f"unknown {kind}template {template!r}; templates: "
                            f"{', '.join(sorted(templates)) or 'none found'}")
    target_dir = Path(target_dir)
    name = app_name or app_name_for(target_dir)
    if not _NAME.match(name):
        raise ScaffoldError(f"invalid app name {name!r}: use lowercase letters, digits and "
                            "hyphens (e.g. my-app)")
    if target_dir.exists() and not target_dir.is_dir():
        raise ScaffoldError(f"{target_dir} exists and is not a folder")
    if target_dir.is_dir() and any(target_dir.iterdir()) and not force:
        raise ScaffoldError(f"{target_dir} is not empty; choose another folder or pass --force")
    info = templates[template]
    source = info.path
    written = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if rel.name == "template.json" or {"__pycache__", "node_modules"} & set(rel.parts) \
                or path.is_dir():
            continue
        dest = target_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(path.read_text().replace("{{app_name}}", name))
        written.append(rel.as_posix())
    return CreatedApp(target_dir, name, template, written, info.setup, info.language,
                      info.entrypoint)


def next_steps(created: CreatedApp) -> list[tuple[str, str]]:
    """What to run after ``create``, in order, as (command, why) pairs.

    A new app's tests need pytest, and some templates need packages of their own; saying so
    here spares the user a global pytest that can't import the app.
    """
    steps = [(f"cd {created.path}", "")]
    steps += [(step.command, step.why) for step in created.setup]
    keys = advisory_env(created.path / created.entrypoint)
    if keys:
        names = ", ".join(keys)
        steps += [("cp .env.example .env",
                   f"then set {names} in .env: dev starts without "
                   f"{'it' if len(keys) == 1 else 'them'}, and an action that needs "
                   f"{'it' if len(keys) == 1 else 'one'} names it when it fails")]
    steps += [(f"kernel-actions dev {created.entrypoint}", "run it locally, with hot reload")]
    if created.language == "python":
        steps += [("pytest", "its tests, in-process")]
    return steps
