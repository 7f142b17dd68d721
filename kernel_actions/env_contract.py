"""The environment variables an app needs, declared once and checked before its code runs.

One rule. Names an app declares where it is defined, ``App("my-app", env=["OPENAI_API_KEY",
"MODEL?"])`` (``?`` marks an optional one), are required: ``dev`` and ``deploy`` read the
declaration *without running the code* (from the source, with :mod:`ast`), and a missing one
blocks loading with one line that names it and where to set it, not a traceback from the
app's import. Names only listed in the folder's ``.env.example`` are advisory: ``dev`` says
in one line which of them are unset and loads the app anyway, and if an action then fails
on one (a ``KeyError`` for it, or an error that names it), its failure says which variable
is unset and where to set it (:func:`unset_env_hint`). Values are never printed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ADVISORY_ENV", "EnvVar", "advisory_env", "advisory_message", "declared_env",
           "example_env", "literal_env", "missing_env", "missing_message", "parse_env_spec",
           "unset_env_hint"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Set by the platform (hosted or local) for every app; never the deployer's to give.
PLATFORM_SET = frozenset({"KERNEL_API_KEY", "KERNEL_BASE_URL", "ENTRYPOINT_RELPATH"})
#: Set in a worker's environment: the advisory names (``.env.example``'s), comma-separated,
#: so a failure that names an unset one can say so.
ADVISORY_ENV = "KERNEL_ACTIONS_ADVISORY_ENV"


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
    """The names, as the manifest lists them (advisory: never required), that the
    ``.env.example`` beside ``entrypoint`` lists for apps whose source declares none."""
    if _declared_in_source(entrypoint) is not None:
        return []
    return [{"name": v.name, "required": False} for v in _listed(entrypoint)]


def _listed(entrypoint: Path) -> tuple[EnvVar, ...]:
    listed = _declared_in_example(entrypoint.parent / ".env.example") or ()
    declared = {v.name for v in _declared_in_source(entrypoint) or ()}
    return tuple(v for v in listed if v.name not in declared | PLATFORM_SET)


def advisory_env(entrypoint: Path) -> tuple[str, ...]:
    """The names the ``.env.example`` beside ``entrypoint`` lists as needed (not marked
    optional) that its source doesn't declare: advisory, never blocking."""
    return tuple(v.name for v in _listed(entrypoint) if v.required)


def advisory_message(unset: list[str], where_to_set: str) -> str:
    """The one line ``dev`` says at start about advisory names that are unset."""
    names = ", ".join(unset)
    one = len(unset) == 1
    return (f"note: {names} (listed in .env.example) {'is' if one else 'are'} not set; "
            f"the app loads, and an action that needs {'it' if one else 'them'} will fail "
            f"until you set {'it' if one else 'them'} {where_to_set}")


def unset_env_hint(exc: BaseException, environ: Mapping[str, str]) -> str | None:
    """When ``exc`` is a ``KeyError`` for an advisory name that is unset, or its message
    names one: which variable, and where it is listed; otherwise None."""
    names = [n for n in environ.get(ADVISORY_ENV, "").split(",") if n and not environ.get(n)]
    if not names:
        return None
    if isinstance(exc, KeyError) and exc.args and exc.args[0] in names:
        culprit = exc.args[0]
    else:
        text = str(exc)
        culprit = next((n for n in names if re.search(rf"\b{re.escape(n)}\b", text)), None)
    if culprit is None:
        return None
    return (f"the environment variable {culprit} is not set (.env.example lists it): set it "
            f"in the app's .env or in the environment of kernel-actions dev")


def _declared_in_example(path: Path) -> tuple[EnvVar, ...] | None:
    """The names in an ``.env.example``. A name is optional when its own line's comment says
    ``optional``, or the comment lines above it do (``# Optional override`` heading a group of
    lines, up to the next blank line or comment). All of them are advisory (never blocking);
    optional ones are not mentioned when unset."""
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
    """What the app at ``entrypoint`` declares with ``App(env=[...])``, and where: ``None``
    when it declares nothing (an ``.env.example`` is advisory: :func:`advisory_env`)."""
    in_source = _declared_in_source(entrypoint)
    if in_source is not None:
        return in_source, entrypoint.name
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
