"""The Node a TypeScript or JavaScript app's workers run on, and their command line.

The choice itself (the user's own Node when new enough, else the ``playwright`` wheel's) is
:mod:`kernel_actions.tooling.node_choice`'s; here a Node is asked its version through the
runner's supervisor, as every process the runner starts is.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from ...tooling.node_choice import (
    NODE_ENV,
    NODE_SUFFIXES,
    TS_SUFFIXES,
    WORKER_SCRIPT,
    NodeRuntime,
    NodeUnavailable,
    is_node_target,
)
from ...tooling.node_choice import choose_node as _choose
from ..supervisor import supervisor

__all__ = ["NODE_ENV", "NODE_SUFFIXES", "TS_SUFFIXES", "WORKER_SCRIPT", "NodeRuntime",
           "NodeUnavailable", "choose_node", "is_node_target", "node_worker_command"]


def _version_of(node: str) -> str | None:
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
    return out.decode(errors="replace")


def choose_node(env: Mapping[str, str] | None = None) -> NodeRuntime:
    """The Node to run workers on, for workers with environment ``env`` (see
    :func:`kernel_actions.tooling.node_choice.choose_node`)."""
    return _choose(env, _version_of)


def node_worker_command(runtime: NodeRuntime) -> list[str]:
    """The command line of a Node worker on ``runtime``."""
    return [runtime.path, "--disable-warning=ExperimentalWarning", str(WORKER_SCRIPT)]
