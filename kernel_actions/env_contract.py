"""The environment variables an app needs, declared once and checked before its code runs.

An app declares them where it is defined, ``App("my-app", env=["OPENAI_API_KEY", "MODEL?"])``
(``?`` marks an optional one), or, with no declaration, they are the names in its folder's
``.env.example`` (a line whose comment says ``optional`` is optional). ``dev`` and ``deploy``
read the declaration *without running the code* (from the source, with :mod:`ast`), so a
missing key is one line that names it and where to set it, not a traceback from the app's
import. Values are never printed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EnvVar", "declared_env", "example_env", "literal_env", "missing_env",
           "missing_message", "parse_env_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Set by the platform (hosted or local) for every app; never the deployer's to give.
PLATFORM_SET = frozenset({"KERNEL_API_KEY", "KERNEL_BASE_URL", "ENTRYPOINT_RELPATH"})


@dataclass(frozen=True)
class EnvVar:
    name: str
    required: bool = True

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "required": self.required}


def parse_env_spec(specs: Iterable[str]) -> tuple[EnvVar, ...]:
    """``["A", "B?"]`` → ``(EnvVar("A"), EnvVar("B", required=False))``; bad names raise."""
    if isinstance(specs, str):
        raise ValueError(f"env must be a list of variable names, not the string {specs!r}")
    out: list[EnvVar] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise ValueError(f"env entries must be strings, got {spec!r}")
        name, optional = (spec[:-1], True) if spec.endswith("?") else (spec, False)
        if not _NAME.match(name):
            raise ValueError(f"{spec!r} is not an environment variable name "
                             "(letters, digits and _, not starting with a digit; ? = optional)")
        if any(v.name == name for v in out):
            raise ValueError(f"{name!r} is declared twice in env")
        out.append(EnvVar(name, required=not optional))
    return tuple(out)


def _declared_in_source(path: Path) -> tuple[EnvVar, ...] | None:
    """The literal ``env=[...]`` of ``App(...)``/``kernel_actions.App(...)`` calls in a file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    found: list[EnvVar] = []
    declared = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        if name != "App":
            continue
        parsed = literal_env(node)
        if parsed is not None:
            declared = True
            found += [v for v in parsed if all(f.name != v.name for f in found)]
    return tuple(found) if declared else None


def literal_env(call: ast.Call) -> tuple[EnvVar, ...] | None:
    """The literal ``env=[...]`` of an ``App(...)`` call; None when it has none, or one that
    is not valid (the import will say what is wrong, with its line)."""
    for kw in call.keywords:
        if kw.arg != "env" or not isinstance(kw.value, ast.List | ast.Tuple):
            continue
        values = [e.value for e in kw.value.elts
                  if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        try:
            return parse_env_spec(values)
        except ValueError:
            return None
    return None


def example_env(entrypoint: Path) -> list[dict[str, object]]:
    """The names, as the manifest lists them, that the ``.env.example`` beside
    ``entrypoint`` declares for apps whose source declares none; [] otherwise."""
    found = declared_env(entrypoint)
    if found is None or found[1] != ".env.example":
        return []
    return [v.describe() for v in found[0]]


def _declared_in_example(path: Path) -> tuple[EnvVar, ...] | None:
    """The names in an ``.env.example``. A name is optional when its own line's comment says
    ``optional``, or the comment lines above it do (``# Optional override`` heading a group of
    lines, up to the next blank line or comment)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    found: list[EnvVar] = []
    heading_optional = False  # the comment block above the current group says "optional"
    in_group = False  # a name has been read since that comment block
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            heading_optional = in_group = False
            continue
        if line.startswith("#"):
            if in_group:
                heading_optional = in_group = False
            heading_optional = heading_optional or "optional" in line.lower()
            continue
        if "=" not in line:
            continue
        in_group = True
        key = line.split("=", 1)[0].strip()
        key = key.removeprefix("export ").strip()
        if _NAME.match(key) and all(f.name != key for f in found):
            inline = "optional" in line.split("#", 1)[1].lower() if "#" in line else False
            found.append(EnvVar(key, required=not (inline or heading_optional)))
    return tuple(found)


def declared_env(entrypoint: Path) -> tuple[tuple[EnvVar, ...], str] | None:
    """What the app at ``entrypoint`` declares, and where: ``None`` when it declares nothing."""
    in_source = _declared_in_source(entrypoint)
    if in_source is not None:
        return in_source, entrypoint.name
    example = entrypoint.parent / ".env.example"
    in_example = _declared_in_example(example)
    if in_example:
        return in_example, ".env.example"
    return None


def missing_env(declared: Iterable[EnvVar], available: Mapping[str, str]) -> list[str]:
    """Required names that ``available`` lacks or leaves empty (the platform's own aside)."""
    return [v.name for v in declared
            if v.required and v.name not in PLATFORM_SET and not available.get(v.name)]


def missing_message(missing: list[str], source: str, where_to_set: str) -> str:
    """One line: what is missing, who asks for it, and where to set it (never a value)."""
    names = ", ".join(missing)
    noun = "variable" if len(missing) == 1 else "variables"
    return (f"missing environment {noun} {names} (required by {source}): "
            f"set {'it' if len(missing) == 1 else 'them'} {where_to_set}")
