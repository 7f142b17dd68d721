"""The ``kernel-actions`` command line.

One module per family of commands, each adding its commands to the root group
(:mod:`.group`): :mod:`.runner_commands` (dev, serve), :mod:`.invocations` (invoke and
``invocations``, following in :mod:`.follow`), :mod:`.logs`, and :mod:`.ship` (apps,
create, schema, package, deploy). Exit codes are in :mod:`.exit_codes`.
"""

from __future__ import annotations

import os
import sys

from . import invocations, logs, runner_commands, ship  # noqa: F401  (they add commands)
from .exit_codes import CliError, ExitCode
from .group import cli

__all__ = ["main", "cli", "CliError", "ExitCode"]


def main() -> None:
    try:
        cli(prog_name="kernel-actions")
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
