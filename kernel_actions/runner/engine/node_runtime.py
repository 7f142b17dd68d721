"""Which Node runs a TypeScript or JavaScript app's worker, and how it is started.

Kernel's TypeScript templates need a recent Node: type stripping (TypeScript without a build
step, Node 22.18 and later), a global ``WebSocket`` (22.4), and ``module.registerHooks``
(22.15), through which the worker resolves a bundler-style ``./loop`` import and sees which
copy of ``@onkernel/sdk`` the app loaded. So, in this order:

1. ``KERNEL_ACTIONS_NODE``, when set: the user's explicit choice, used whatever its version.
2. The ``node`` on the ``PATH`` when it is 22.18 or later: the user's own.
3. The Node the Python ``playwright`` wheel ships (the ``[browsers]`` extra; Node 24+).
4. An older ``node`` on the ``PATH``: JavaScript may run; TypeScript is refused with a reason.

Stdlib only (it runs in ``kernel-actions dev``'s head start); a version is asked of a
Node once per process, through the supervisor.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ..supervisor import supervisor

__all__ = ["NODE_ENV", "NODE_SUFFIXES", "TS_SUFFIXES", "NodeRuntime", "NodeUnavailable",
           "MIN_VERSION", "choose_node", "is_node_target", "node_worker_command", "WORKER_SCRIPT"]

#: Names the Node the workers run on, overriding the choice.
NODE_ENV = "KERNEL_ACTIONS_NODE"
#: Entry files a Node worker runs (anything else is Python).
TS_SUFFIXES = (".ts", ".mts", ".cts")
NODE_SUFFIXES = (*TS_SUFFIXES, ".js", ".mjs", ".cjs")
#: The oldest Node taken without being asked for: type stripping on by default.
MIN_VERSION = (22, 18, 0)
WORKER_SCRIPT = Path(__file__).with_name("node_worker.mjs")


class NodeUnavailable(RuntimeError):
    """No Node can run this app; the message says what to install."""


@dataclass(frozen=True)
class NodeRuntime:
    path: str
    version: tuple[int, int, int]
    #: Where it came from: "KERNEL_ACTIONS_NODE", "PATH" or "playwright".
    source: str
    #: Why it was chosen over the others, for the one line ``dev`` prints.
    why: str

    @property
    def version_text(self) -> str:
        return "v" + ".".join(map(str, self.version))

    @property
    def strips_types(self) -> bool:
        major, minor, _ = self.version
        return self.version >= MIN_VERSION if major == 22 else (major, minor) >= (23, 6)

    def describe(self) -> str:
        return f"Node {self.version_text} ({self.path}): {self.why}"


def is_node_target(target: str | None) -> bool:
    """Whether ``target`` (an entrypoint as the pool holds it) is run by a Node worker: a
    ``.ts``/``.js`` family file, or a folder whose ``package.json`` names its entry."""
    if not target:
        return False
    if target.endswith(NODE_SUFFIXES):
        return True
    path = Path(target)
    return path.is_absolute() and path.is_dir() and (path / "package.json").is_file()


def _version_of(node: str) -> tuple[int, int, int] | None:
    try:
        child = supervisor.spawn([node, "--version"], name="node --version",
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    assert child.popen is not None
    try:
        out, _ = child.popen.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return None
    child.poll()
    text = out.decode(errors="replace").strip().lstrip("v")
    try:
        major, minor, patch = (int(p) for p in text.split(".")[:3])
    except ValueError:
        return None
    return major, minor, patch


def playwright_node() -> str | None:
    """The Node the ``playwright`` wheel ships, if it is installed (not imported)."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or not spec.origin:
        return None
    node = Path(spec.origin).parent / "driver" / ("node.exe" if sys.platform == "win32" else "node")
    return str(node) if node.is_file() and os.access(node, os.X_OK) else None


_lock = threading.Lock()
_versions: dict[str, tuple[int, int, int] | None] = {}


def _cached_version(node: str) -> tuple[int, int, int] | None:
    with _lock:
        if node not in _versions:
            _versions[node] = _version_of(node)
        return _versions[node]


def choose_node(env: dict[str, str] | None = None) -> NodeRuntime:
    """The Node to run workers on (see the module's docstring); :class:`NodeUnavailable`
    when there is none. ``env`` is the workers' environment (its ``PATH`` and override)."""
    env = dict(os.environ if env is None else env)
    wanted = env.get(NODE_ENV)
    if wanted:
        path = shutil.which(wanted, path=env.get("PATH")) or wanted
        version = _cached_version(path)
        if version is None:
            raise NodeUnavailable(f"{NODE_ENV}={wanted} is not a Node that runs")
        return NodeRuntime(path, version, NODE_ENV, f"chosen by {NODE_ENV}")
    own = shutil.which("node", path=env.get("PATH"))
    own_version = _cached_version(own) if own else None
    if own and own_version is not None and own_version >= MIN_VERSION:
        return NodeRuntime(own, own_version, "PATH", "your own node (on PATH)")
    bundled = playwright_node()
    bundled_version = _cached_version(bundled) if bundled else None
    if bundled and bundled_version is not None:
        why = ("the one the playwright package ships; your node "
               f"(v{'.'.join(map(str, own_version))}) is older than "
               f"v{'.'.join(map(str, MIN_VERSION))} (no type stripping)" if own_version
               else "the one the playwright package ships (no node on PATH)")
        return NodeRuntime(bundled, bundled_version, "playwright", why)
    if own and own_version is not None:
        return NodeRuntime(own, own_version, "PATH", (
            f"your own node, older than v{'.'.join(map(str, MIN_VERSION))}: TypeScript needs "
            "a newer one (or pip install 'kernel-actions[browsers]', whose playwright ships it)"))
    raise NodeUnavailable(
        "a TypeScript or JavaScript app needs Node: install Node 22.18 or later, or "
        "pip install 'kernel-actions[browsers]' (the playwright package ships a Node)")


def node_worker_command(runtime: NodeRuntime) -> list[str]:
    """The command line of a Node worker on ``runtime``."""
    return [runtime.path, "--disable-warning=ExperimentalWarning", str(WORKER_SCRIPT)]
