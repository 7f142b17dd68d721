"""``logs``: an app's log lines, oldest first; with ``--follow``, every new line as written.

:class:`AppLogs` owns the reading: the backlog since a cutoff, then (following) one tail
thread per running invocation, started as invocations appear on the runner's event
stream (or, on an API without one, by polling).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .exit_codes import ApiRefused, ExitCode, UsageProblem
from .follow import resolve
from .group import cli
from .output import (
    api_url_option,
    clock,
    console,
    escape,
    make_client,
    output_options,
    to_ns,
)

if TYPE_CHECKING:
    from ..tooling.client import RunnerClient

__all__ = ["logs", "LogPrinter", "AppLogs", "runner_events", "LOGS_IDLE_SECONDS"]

#: Without --follow, `logs` stops reading a running invocation after this long without a line.
LOGS_IDLE_SECONDS = 2.0
#: Polling a hosted API for new invocations: how often, and how far back each look goes.
_POLL_SECONDS = 1.0
_POLL_OVERLAP_NS = 10_000_000_000

Event = dict[str, Any]
Invocation = dict[str, Any]


class LogPrinter:
    """Prints log lines from several threads, one whole line at a time."""

    def __init__(self, output_format: str, with_timestamps: bool = False) -> None:
        self.output_format = output_format
        #: The date too, not just the time of day (Kernel's ``--with-timestamps``).
        self.with_timestamps = with_timestamps
        self.console = console(stderr=False)
        self.lock = threading.Lock()
        self.count = 0

    def line(self, inv: Invocation, event: Event) -> None:
        timestamp, message = str(event.get("timestamp", "")), str(event.get("message", ""))
        with self.lock:
            self.count += 1
            if self.output_format == "json":
                click.echo(json.dumps({
                    "timestamp": timestamp, "invocation_id": inv["id"],
                    "action_name": inv.get("action_name"), "message": message,
                }, ensure_ascii=False))
            else:
                stamp = clock(timestamp)
                if self.with_timestamps:
                    stamp = f"{clock(timestamp, date=True)[:10]} {stamp}"
                self.console.print(f"[dim]{stamp}[/] [cyan]{inv['id'][:8]}[/] "
                                   f"{escape(message)}")


def runner_events(client: RunnerClient) -> queue.Queue[Any] | None:
    """Subscribe to the runner's state changes in a thread; None if the API has none."""
    from ..tooling.client import ApiFailure, Unreachable

    events: queue.Queue[Any] = queue.Queue()
    ready = threading.Event()
    unsupported = threading.Event()

    def pump() -> None:
        try:
            for event in client.runner_events():
                ready.set()
                events.put(event)
            events.put(Unreachable(f"{client.base_url} closed its event stream"))
        except ApiFailure as exc:
            if exc.status in (404, 405) and not ready.is_set():
                unsupported.set()
            else:
                events.put(exc)
        except Exception as exc:  # handed to the main thread, which raises it
            events.put(exc)
        finally:
            ready.set()

    threading.Thread(target=pump, daemon=True, name="runner-events").start()
    ready.wait(15)
    return None if unsupported.is_set() else events


class AppLogs:
    """The log lines of one app's invocations (optionally of one version)."""

    def __init__(self, client: RunnerClient, app: str, version: str | None,
                 printer: LogPrinter, began: int,
                 events: queue.Queue[Any] | None = None) -> None:
        self.client = client
        self.app = app
        self.version = version
        self.printer = printer
        #: When we asked: lines of running invocations written later are --follow's job.
        self.began = began
        #: The runner's state changes (None: an API without them); tails' failures join them.
        self.events = events
        self.errors: queue.Queue[Any] = events if events is not None else queue.Queue()
        self.tailed: set[str] = set()

    def replay(self, inv: Invocation, since: str | None, sink: Callable[[Event], None]) -> None:
        """The lines of one invocation; a running one up to now (or its end)."""
        from ..tooling.client import TERMINAL

        running = inv.get("status") not in TERMINAL
        idle = LOGS_IDLE_SECONDS if running else None
        for event in self.client.follow(inv["id"], since=since, idle_timeout=idle):
            if event.get("event") != "log":
                continue
            if running and (to_ns(event.get("timestamp")) or 0) > self.began:
                return
            sink(event)

    def stream(self, inv: Invocation, since: str | None) -> None:
        """Every line of one invocation until it ends."""
        for event in self.client.follow(inv["id"], since=since):
            if event.get("event") == "log":
                self.printer.line(inv, event)

    def backlog(self, cutoff: str) -> dict[str, Invocation]:
        """Invocations started since ``cutoff``, and every one still running."""
        found: dict[str, Invocation] = {}
        for status in (None, "running"):
            for inv in self.client.iter_invocations(
                    app_name=self.app, version=self.version, status=status,
                    since=cutoff if status is None else None, limit=100):
                found.setdefault(inv["id"], inv)
        return found

    def print_past(self, backlog: dict[str, Invocation], cutoff: str, *,
                   skip_running: bool) -> list[Invocation]:
        """Print the backlog's lines since ``cutoff`` in time order; the running ones skipped."""
        from ..tooling.client import TERMINAL

        lines: list[tuple[int, int, Invocation, Event]] = []
        skipped: list[Invocation] = []
        for inv in sorted(backlog.values(), key=lambda i: str(i.get("started_at"))):
            if skip_running and inv.get("status") not in TERMINAL:
                skipped.append(inv)
                continue

            def collect(event: Event, inv: Invocation = inv) -> None:
                lines.append((to_ns(event.get("timestamp")) or 0, len(lines), inv, event))

            self.replay(inv, cutoff, collect)
        for _, _, inv, event in sorted(lines, key=lambda item: item[:2]):
            self.printer.line(inv, event)
        return skipped

    def tail(self, inv: Invocation, since: str | None) -> None:
        """Stream ``inv`` in a thread; its failure is raised by :meth:`follow`."""
        self.tailed.add(inv["id"])

        def run() -> None:
            try:
                self.stream(inv, since)
            except Exception as exc:  # handed to the main thread
                self.errors.put(exc)

        threading.Thread(target=run, daemon=True).start()

    def _is_new(self, inv: Any) -> bool:
        return (isinstance(inv, dict) and inv.get("app_name") == self.app
                and inv.get("id") not in self.tailed
                and (self.version is None or inv.get("version") == self.version))

    def follow(self) -> None:
        """Tail every new invocation, forever: from the runner's events, else by polling."""
        if self.events is not None:
            while True:
                item = self.events.get()
                if isinstance(item, BaseException):
                    raise item
                state = item.get("invocation") if isinstance(item, dict) else None
                if self._is_new(state):
                    self.tail(state, None)
        from ..timeutil import format_ns, now_ns

        while True:
            polled = format_ns(now_ns() - _POLL_OVERLAP_NS)
            time.sleep(_POLL_SECONDS)
            while not self.errors.empty():
                raise self.errors.get()
            for inv in self.client.iter_invocations(app_name=self.app, version=self.version,
                                                    since=polled, limit=100):
                if inv["id"] not in self.tailed:
                    self.tail(inv, None)


def _one_invocation(client: RunnerClient, app: str, ref: str, since: str | None,
                    follow: bool, reader: AppLogs) -> None:
    inv = resolve(client, ref)
    if inv.get("app_name") != app:
        raise UsageProblem(f"invocation {inv['id']} belongs to app {inv.get('app_name')!r}, "
                           f"not {app!r}")
    if follow:
        reader.stream(inv, since)
    else:
        reader.replay(inv, since, lambda event: reader.printer.line(inv, event))


@cli.command()
@click.argument("app")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines (Ctrl-C stops).")
@click.option("--since", default=None,
              help="How far back: a duration (5m, 2h) or RFC 3339 time "
                   "[default: 5m, or 5s with --follow].")
@click.option("-i", "--invocation", "invocation_ref", default=None, metavar="ID",
              help="Only this invocation (its id or the start of it).")
@click.option("--version", "version", default=None, help="Only invocations of this version.")
@click.option("--with-timestamps", is_flag=True,
              help="Each line's date as well as its time (lines always carry their time).")
# Kernel CLI's short spelling; unlisted, as -t is --template in `create`.
@click.option("-t", "with_timestamps_short", is_flag=True, hidden=True)
@output_options(json_help="one JSON object per line")
@api_url_option
def logs(app: str, follow: bool, since: str | None, invocation_ref: str | None,
         version: str | None, with_timestamps: bool, with_timestamps_short: bool,
         output_format: str, api_url: str | None) -> None:
    """Print APP's log lines, oldest first, each with its time and invocation id.

    \b
      kernel-actions logs my-app                  # the last 5 minutes
      kernel-actions logs my-app --since 1h
      kernel-actions logs my-app -f               # and every new line as it comes
      kernel-actions logs my-app -i ID -f         # one invocation

    Kernel's `logs` semantics: without --follow, lines since --since, then exit; with
    it, keep printing the lines of every invocation of APP as they are written.
    -o json prints one JSON object per line.
    """
    from ..timeutil import format_ns, now_ns, parse_since

    client = make_client(api_url)
    printer = LogPrinter(output_format, with_timestamps or with_timestamps_short)
    began = now_ns()
    try:
        cutoff = format_ns(parse_since(since or ("5s" if follow else "5m")))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if invocation_ref is not None:
        reader = AppLogs(client, app, version, printer, began)
        try:  # without --since: all of its lines
            _one_invocation(client, app, invocation_ref, cutoff if since else None, follow,
                            reader)
        except KeyboardInterrupt:
            sys.exit(ExitCode.INTERRUPTED)
        return
    # Subscribe before listing, so no invocation falls between the two.
    reader = AppLogs(client, app, version, printer, began,
                     events=runner_events(client) if follow else None)
    backlog = reader.backlog(cutoff)
    if not backlog and not follow and not client.list_apps(app_name=app):
        raise ApiRefused(f"not_found: no app {app!r} and no invocations of it at "
                         f"{client.base_url}")
    running = reader.print_past(backlog, cutoff, skip_running=follow)
    if not follow:
        if printer.count == 0 and output_format == "text":
            console().print(f"[dim]no log lines from {escape(app)} since "
                            f"{clock(cutoff, date=True)}[/]")
        return
    for inv in running:
        reader.tail(inv, cutoff)
    if output_format == "text":
        console().print(f"[dim]following {escape(app)}'s logs at {client.base_url} "
                        f"(Ctrl-C stops)[/]")
    try:
        reader.follow()
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
