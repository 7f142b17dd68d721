"""What every client command shares: API options, output formats, the console, formatting."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ..limits import MAX_PAYLOAD_BYTES
from .exit_codes import UsageProblem

if TYPE_CHECKING:
    from rich.console import Console

    from ..tooling.client import RunnerClient

__all__ = [
    "api_url_option", "output_options", "console", "fit_columns", "terminal_width", "escape", "spinner", "sigterm_interrupts",
    "make_client", "again", "print_json", "pretty", "read_json", "to_ns", "clock", "took",
    "styled_status", "STATUS_STYLE",
]

STATUS_STYLE = {"queued": "yellow", "running": "cyan", "succeeded": "green", "failed": "red"}

F = TypeVar("F", bound=Callable[..., Any])


def api_url_option(f: F) -> F:
    return click.option(
        "--api-url", metavar="URL", default=None,
        help="API to talk to; overrides $KERNEL_BASE_URL [default: http://127.0.0.1:8484]. "
             "A key, when the API needs one, comes from $KERNEL_API_KEY.")(f)


#: What ``--json`` says where ``-o`` is the one way (it stays, hidden, for old scripts).
JSON_DEPRECATED = "note: --json is deprecated; use -o json"
JSON_DEPRECATED_EVENTS = ("note: --json is deprecated; use -o json (every event as a JSON line, "
                          "the last one holding the final invocation)")


def output_options(*, jsonl: bool = False, short: bool = True,
                   json_help: str = "one JSON document") -> Callable[[F], F]:
    """``-o/--output text|json[|jsonl]``, the one way to choose output, as in Kernel's CLI;
    the command gets ``output_format``.

    With ``jsonl`` (commands that follow an invocation's events), ``-o json`` streams the
    events as Kernel's CLI does: the command gets ``"json-events"`` (see
    :func:`kernel_actions.cli.follow.stream_format`). ``--json`` is a hidden, deprecated
    alias (the final document, as it always was), saying so on stderr. Commands whose
    ``--output`` names something else (``short=False``: ``invocations update``) keep
    ``--json`` as their one visible way.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("output_format") == "json" and jsonl:
                kwargs["output_format"] = "json-events"
            if kwargs.pop("as_json"):
                if short:
                    click.echo(JSON_DEPRECATED_EVENTS if jsonl else JSON_DEPRECATED, err=True)
                kwargs["output_format"] = "json"
            kwargs.setdefault("output_format", "text")
            return f(*args, **kwargs)

        wrapped = click.option("--json", "as_json", is_flag=True, hidden=short,
                               help="Machine-readable output: JSON.")(wrapper)
        if short:
            choices = ["text", "json", "jsonl"] if jsonl else ["text", "json"]
            if jsonl:
                text = ("Output format. json: every event as a JSON line, as Kernel's CLI "
                        "prints them (with --sync: the final invocation); jsonl: every event, "
                        "also with --sync.")
            else:
                text = f"Output format (json: {json_help})."
            wrapped = click.option(
                "-o", "--output", "output_format", type=click.Choice(choices), default="text",
                show_default=True, help=text,
            )(wrapped)
        return cast(F, wrapped)

    return decorate


def console(stderr: bool = True) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    # Not a terminal: no colour, no spinner (rich's defaults) and no wrapping of long lines.
    return Console(file=stream, highlight=False, soft_wrap=True, width=None if tty else 10_000)


def fit_columns(rows: list[list[str]], width: int,
                whole: Collection[int] = ()) -> list[list[str]]:
    """``rows`` (the first is the header) as cells padded to their column, so that the
    lines, joined two spaces apart, stay within ``width`` when they can: the last column is
    cut first, then the others from the right (to no less than 4 characters, ending in
    ``…``); the columns in ``whole`` never. The last cell is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    for i in reversed(range(len(widths))):
        if excess <= 0:
            break
        if i not in whole:
            cut = min(excess, max(0, widths[i] - 4))
            widths[i] -= cut
            excess -= cut
    return [[_cut(cell, w).ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
            + [_cut(row[-1], widths[-1])] for row in rows]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def terminal_width() -> int:
    """The terminal's columns (``$COLUMNS`` first); 120 when output goes to no terminal."""
    return shutil.get_terminal_size((120, 24)).columns


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@contextlib.contextmanager
def spinner(out: Console, message: str, enabled: bool = True) -> Iterator[Any]:
    """A spinner on a terminal; nothing otherwise."""
    if enabled and out.is_terminal:
        with out.status(message, spinner="dots") as status:
            yield status
    else:
        yield None


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While following, SIGTERM acts as Ctrl-C does (as in Kernel's CLI)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def make_client(api_url: str | None) -> RunnerClient:
    from ..tooling.client import RunnerClient

    return RunnerClient(api_url)


def again(api_url: str | None) -> str:
    """The --api-url to repeat in a hint, when one was given."""
    return f" --api-url {api_url}" if api_url else ""


def print_json(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if sys.stdout.isatty():
        console(stderr=False).print_json(text)
    else:
        click.echo(text)


def pretty(raw: str | None) -> str:
    """A JSON string, indented; anything else as it is."""
    if raw is None:
        return "null"
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


def read_json(value: str | None, path: str | None, what: str) -> str | None:
    """The JSON text from an option or a file ('-' = stdin), checked before it is sent."""
    if value is not None and path is not None:
        raise UsageProblem(f"give the {what} either inline or as a file, not both")
    if path is not None:
        source = "stdin" if path == "-" else path
        try:
            value = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageProblem(f"cannot read the {what} from {source}: {reason}") from None
        value = value.strip()
    else:
        source = f"the {what}"
    if value is None or value == "":
        return None
    if len(value.encode()) > MAX_PAYLOAD_BYTES:
        raise UsageProblem(f"the {what} is {len(value.encode())} bytes: the limit is 4.5 MB")
    try:
        json.loads(value)
    except ValueError as exc:
        where = f" ({source})" if path is not None else ""
        raise UsageProblem(f"{what} is not valid JSON{where}: {exc}") from None
    except RecursionError:
        raise UsageProblem(f"{what} is nested too deeply") from None
    return value


def to_ns(timestamp: str | None) -> int | None:
    """An API timestamp in nanoseconds since the epoch; None when absent or unreadable."""
    if not timestamp:
        return None
    from ..timeutil import parse_since

    try:
        return parse_since(timestamp)
    except ValueError:
        return None


def clock(timestamp: str | None, *, date: bool = False) -> str:
    """An API timestamp in local time: ``15:04:05.123``, or with the date."""
    ns = to_ns(timestamp)
    if ns is None:
        return timestamp or "-"
    moment = datetime.fromtimestamp(ns / 1e9).astimezone()
    if date:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%H:%M:%S.%f")[:-3]


def took(inv: dict[str, Any]) -> str | None:
    """How long an invocation ran, for people."""
    start, end = to_ns(inv.get("started_at")), to_ns(inv.get("finished_at"))
    if start is None or end is None:
        return None
    seconds = max(0, end - start) / 1e9
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
