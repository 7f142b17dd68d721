"""The root ``kernel-actions`` group: its help, and how failures become exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from .exit_codes import CliError, ExitCode, exit_code_help

__all__ = ["cli", "RootGroup"]

_HELP = """Write, run and ship actions for Kernel apps.

Start the local runner on your app with `kernel-actions dev main.py`, then
invoke its actions with `kernel-actions invoke APP ACTION -p '{...}'` or any
Kernel SDK pointed at the runner's URL.

\b
  kernel-actions dev main.py                  # runner on :8484, reloads on save
  kernel-actions invoke my-app greet -p '{"name": "Ada"}'
  kernel-actions invocations list --app my-app
  kernel-actions logs my-app -f

Client commands talk to the local runner (http://127.0.0.1:8484) unless
KERNEL_BASE_URL (or --api-url) names another Kernel-compatible API;
KERNEL_API_KEY is sent as a bearer token.

"""


class RootGroup(click.Group):
    """API failures become one line and their exit code; Ctrl-C is 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except Exception as exc:
            # The client module is imported only by commands that talk to an API.
            client = sys.modules.get("kernel_actions.tooling.client")
            if client is not None and isinstance(exc, client.ClientError):
                raise CliError(exc.message, exc.exit_code) from None
            raise


@click.group(cls=RootGroup, help=_HELP + exit_code_help(),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="kernel-actions")
def cli() -> None:
    pass
