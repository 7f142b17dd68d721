"""Exit codes of every command, and the errors that carry them (as click's exceptions do).

The table is written once, here: the group's help and the README quote it.
"""

from __future__ import annotations

from enum import IntEnum

import click

__all__ = [
    "ExitCode", "EXIT_CODE_MEANINGS", "exit_code_help", "CliError", "UsageProblem",
    "ApiRefused", "CannotListen", "Failed",
]


class ExitCode(IntEnum):
    """What a ``kernel-actions`` process exit status means."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    API_4XX = 4
    API_5XX = 5
    CANNOT_LISTEN = 6
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILED: "the invocation or deployment failed",
    ExitCode.USAGE: "bad usage, bad payload or code that doesn't load",
    ExitCode.UNREACHABLE: "API unreachable",
    ExitCode.API_4XX: "API error 4xx (printed as `code: message`)",
    ExitCode.API_5XX: "API error 5xx",
    ExitCode.CANNOT_LISTEN: "the runner cannot listen (e.g. its port is taken)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_help(width: int = 78) -> str:
    """The table as lines for a help text (click keeps them as they are after ``\\b``)."""
    import textwrap

    text = "Exit codes: " + "; ".join(f"{int(c)} {m}" for c, m in EXIT_CODE_MEANINGS.items()) + "."
    return "\b\n" + "\n".join(textwrap.wrap(text, width))


class CliError(click.ClickException):
    """An error printed as one line; the process exits with its ``exit_code``."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Failed(CliError):
    """The invocation or deployment failed."""

    exit_code = ExitCode.FAILED


class UsageProblem(CliError):
    """Bad usage, a bad payload, or code that doesn't load."""

    exit_code = ExitCode.USAGE


class CannotListen(CliError):
    """The runner can't listen where it was asked to (not "unreachable": nothing was tried)."""

    exit_code = ExitCode.CANNOT_LISTEN


class ApiRefused(CliError):
    """The API answered 4xx (or the CLI found the same answer on its own)."""

    exit_code = ExitCode.API_4XX
