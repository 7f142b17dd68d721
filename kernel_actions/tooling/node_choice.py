"""Which Node runs a TypeScript or JavaScript app (its workers, and its manifest on ``package``).

Kernel's TypeScript templates need a recent Node: type stripping (TypeScript without a build
step, Node 22.18 and later), a global ``WebSocket`` (22.4), and ``module.registerHooks``
(22.15), through which the worker resolves a bundler-style ``./loop`` import and sees which
copy of ``@onkernel/sdk`` the app loaded. So, in this order:

1. ``KERNEL_ACTIONS_NODE``, when set: the user's explicit choice, used whatever its version.
2. The ``node`` on the ``PATH`` when it is 22.18 or later: the user's own.
3. The Node the Python ``playwright`` wheel ships (a default dependency; Node 24+).
4. An older ``node`` on the ``PATH``: JavaScript may run; TypeScript is refused with a reason.

Stdlib only. Asking a Node its version means starting it: the caller says how (the runner
through its supervisor, the CLI's tooling directly), and each answer is kept per process.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..entrypoint import NODE_SUFFIXES

__all__ = ["NODE_ENV", "NODE_SUFFIXES", "TS_SUFFIXES", "MIN_VERSION", "NodeRuntime",
           "NodeUnavailable", "VersionOf", "choose_node", "is_node_target", "parse_version",
           "playwright_node", "WORKER_SCRIPT"]

#: Names the Node the workers run on, overriding the choice.
NODE_ENV = "KERNEL_ACTIONS_NODE"
TS_SUFFIXES = (".ts", ".mts", ".cts")
#: The oldest Node taken without being asked for: type stripping on by default.
MIN_VERSION = (22, 18, 0)
#: The Node worker (it also prints a manifest: ``node node_worker.mjs --manifest TARGET``).
WORKER_SCRIPT = Path(__file__).resolve().parent.parent / "runner" / "engine" / "node_worker.mjs"

Version = tuple[int, int, int]
#: Runs ``node --version`` for a path and returns what it printed (None when it can't run).
VersionOf = Callable[[str], str | None]


class NodeUnavailable(RuntimeError):
    """No Node can run this app; the message says what to install."""


def _text(version: Version) -> str:
    return "v" + ".".join(map(str, version))


@dataclass(frozen=True)
class NodeRuntime:
    path: str
    version: Version
    #: Where it came from: "KERNEL_ACTIONS_NODE", "PATH" or "playwright".
    source: str
    #: Why it was chosen over the others, for the one line ``dev`` prints.
    why: str

    @property
    def version_text(self) -> str:
        return _text(self.version)

    @property
    def strips_types(self) -> bool:
        major, minor, _ = self.version
        return self.version >= MIN_VERSION if major == 22 else (major, minor) >= (23, 6)

    def describe(self) -> str:
        return f"Node {self.version_text} ({self.path}): {self.why}"


def is_node_target(target: str | None) -> bool:
    """Whether ``target`` (an entrypoint as a pool holds it) is run by a Node worker: a
    ``.ts``/``.js`` family file, or a folder whose ``package.json`` names its entry."""
    if not target:
        return False
    if target.endswith(NODE_SUFFIXES):
        return True
    path = Path(target)
    return path.is_absolute() and path.is_dir() and (path / "package.json").is_file()


def parse_version(text: str | None) -> Version | None:
    """``"v22.18.0"`` → ``(22, 18, 0)``."""
    if not text:
        return None
    try:
        major, minor, patch = (int(p) for p in text.strip().lstrip("v").split(".")[:3])
    except ValueError:
        return None
    return major, minor, patch


def playwright_node() -> str | None:
    """The Node the ``playwright`` wheel ships, if it is installed (found, not imported)."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or not spec.origin:
        return None
    node = Path(spec.origin).parent / "driver" / ("node.exe" if sys.platform == "win32" else "node")
    return str(node) if node.is_file() and os.access(node, os.X_OK) else None


_lock = threading.Lock()
_versions: dict[str, Version | None] = {}


def _version(node: str, version_of: VersionOf) -> Version | None:
    with _lock:
        if node not in _versions:
            _versions[node] = parse_version(version_of(node))
        return _versions[node]


def choose_node(env: Mapping[str, str] | None, version_of: VersionOf) -> NodeRuntime:
    """The Node to run an app on (see the module's docstring); :class:`NodeUnavailable`
    when there is none. ``env`` is the app's environment (its ``PATH`` and the override)."""
    env = os.environ if env is None else env
    wanted = env.get(NODE_ENV)
    if wanted:
        path = shutil.which(wanted, path=env.get("PATH")) or wanted
        version = _version(path, version_of)
        if version is None:
            raise NodeUnavailable(f"{NODE_ENV}={wanted} is not a Node that runs")
        return NodeRuntime(path, version, NODE_ENV, f"chosen by {NODE_ENV}")
    own = shutil.which("node", path=env.get("PATH"))
    own_version = _version(own, version_of) if own else None
    if own and own_version is not None and own_version >= MIN_VERSION:
        return NodeRuntime(own, own_version, "PATH", "your own node (on PATH)")
    bundled = playwright_node()
    bundled_version = _version(bundled, version_of) if bundled else None
    if bundled and bundled_version is not None:
        why = (f"the one the playwright package ships; your node ({_text(own_version)}) is "
               f"older than {_text(MIN_VERSION)} (no type stripping)" if own_version
               else "the one the playwright package ships (no node on PATH)")
        return NodeRuntime(bundled, bundled_version, "playwright", why)
    if own and own_version is not None:
        return NodeRuntime(own, own_version, "PATH", (
            f"your own node, older than {_text(MIN_VERSION)}: TypeScript needs a newer one "
            "(or reinstall kernel-actions, whose playwright dependency ships one)"))
    raise NodeUnavailable(
        "a TypeScript or JavaScript app needs Node: install Node 22.18 or later, or "
        "pip install 'kernel-actions' (its playwright dependency ships a Node)")
