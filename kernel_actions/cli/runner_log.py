"""The runner's own log lines on a terminal: outcomes and reloads in colour.

Plain text when the stream is not a terminal or ``NO_COLOR`` is set (https://no-color.org),
so logs piped to a file or read by tests are unchanged.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["colour_line", "runner_output"]

_RESET = "\x1b[0m"
_STYLES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(succeeded)\b"), "\x1b[32m"),                 # green
    (re.compile(r"^(failed)\b"), "\x1b[31m"),                    # red
    (re.compile(r"^(reload failed)\b"), "\x1b[1;31m"),           # bold red
    (re.compile(r"^(reloaded)\b"), "\x1b[36m"),                  # cyan
    (re.compile(r"^(  [0-9a-z]{8} \|)"), "\x1b[2m"),             # an echoed log line's prefix
    (re.compile(r"^((?:browsers?|worker)\b[^:]*:)"), "\x1b[33m"),  # notices
)


def colour_line(line: str) -> str:
    """``line`` with its leading word (outcome, reload, prefix) coloured with ANSI codes."""
    for pattern, style in _STYLES:
        match = pattern.match(line)
        if match:
            head = match.group(1)
            return f"{style}{head}{_RESET}{line[len(head):]}"
    return line


def runner_output(stream: TextIO | None = None) -> Callable[[str], None]:
    """Where the runner writes its lines: ``stream`` (stderr), coloured on a terminal."""
    out = stream or sys.stderr
    coloured = out.isatty() and not os.environ.get("NO_COLOR")

    def write(line: str) -> None:
        print(colour_line(line) if coloured else line, file=out, flush=True)

    return write
