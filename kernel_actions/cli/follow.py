"""Starting an invocation and following it to its end: what ``invoke``, ``invocations
follow`` and ``invocations replay`` share."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from .exit_codes import ExitCode, UsageProblem
from .output import (
    again,
    clock,
    console,
    escape,
    pretty,
    print_json,
    sigterm_interrupts,
    spinner,
    styled_status,
    took,
)

if TYPE_CHECKING:
    from ..tooling.client import RunnerClient

__all__ = ["report", "resolve", "follow", "start", "stream_format"]


def _failure_detail(output: str | None) -> str | None:
    """What to show under a failure's reason: its traceback, else its output."""
    if not output:
        return None
    try:
        body = json.loads(output)
    except ValueError:
        return output
    if isinstance(body, dict) and isinstance(body.get("traceback"), str):
        return str(body["traceback"]).rstrip()
    return pretty(output)


def report(inv: dict[str, Any], output_format: str) -> None:
    """Print a finished invocation; exit 1 if it failed."""
    succeeded = inv.get("status") == "succeeded"
    if output_format == "json":
        print_json(inv)
    elif output_format == "text":
        err = console()
        spent = took(inv)
        suffix = f" in {spent}" if spent else ""
        if succeeded:
            err.print(f"[green]✓ succeeded{suffix}[/]")
            click.echo(pretty(inv.get("output")))
        else:
            reason = inv.get("status_reason") or "failed"
            err.print(f"[red]✗ failed{suffix}:[/] {escape(reason)}")
            detail = _failure_detail(inv.get("output"))
            if detail:
                err.print(detail, style="dim", markup=False)
    if not succeeded:
        sys.exit(ExitCode.FAILED)


def resolve(client: RunnerClient, ref: str, *, detail: bool = False) -> dict[str, Any]:
    """An invocation by id, or by an unambiguous prefix of its id."""
    from ..tooling.client import ApiFailure

    try:
        return client.get_invocation(ref, detail=detail)
    except ApiFailure as exc:
        if exc.status != 404 or not ref:
            raise
        matches = [i for i in client.list_invocations(query=ref, limit=100).items
                   if i["id"].startswith(ref)]
        if not matches:
            raise
        if len(matches) > 1:
            shown = ", ".join(i["id"] for i in matches[:5])
            raise UsageProblem(f"{ref!r} is the start of {len(matches)} invocation ids ({shown}"
                               f"{', …' if len(matches) > 5 else ''}): give more of it") \
                from None
        return client.get_invocation(matches[0]["id"], detail=detail)


def _interrupted(client: RunnerClient, inv_id: str, cancel: bool, api_url: str | None) -> None:
    """Ctrl-C while following: cancel (when we started it) or just stop; exit 130."""
    from ..tooling.client import ApiFailure, ClientError

    err = console()
    if not cancel:
        err.print(f"stopped following {inv_id}; it keeps running. Follow it again with "
                  f"`kernel-actions invocations follow {inv_id}{again(api_url)}`, cancel it "
                  f"with `kernel-actions invocations cancel {inv_id}{again(api_url)}`")
        sys.exit(ExitCode.INTERRUPTED)
    try:
        client.cancel_invocation(inv_id)
        err.print(f"[yellow]cancelled invocation {inv_id}[/] (Invocation cancelled by user)")
    except ApiFailure as exc:
        if exc.status == 409:
            err.print(f"invocation {inv_id} had already finished: nothing to cancel")
        else:
            err.print(f"[yellow]stopped following; could not cancel {inv_id}:[/] "
                      f"{escape(exc.message)}")
    except (ClientError, KeyboardInterrupt) as exc:
        why = exc.message if isinstance(exc, ClientError) else "interrupted again"
        err.print(f"[yellow]stopped following; could not cancel {inv_id}:[/] {escape(why)}")
    _delete_browsers(client, inv_id)
    sys.exit(ExitCode.INTERRUPTED)


def _delete_browsers(client: RunnerClient, inv_id: str) -> None:
    """After a cancel, delete the invocation's browsers, as Kernel's CLI does."""
    from ..tooling.client import ClientError

    try:
        client.delete_invocation_browsers(inv_id)
    except (ClientError, KeyboardInterrupt) as exc:
        why = exc.message if isinstance(exc, ClientError) else "interrupted again"
        console().print(f"[yellow]could not delete {inv_id}'s browsers:[/] {escape(why)}")


class _Stream:
    """One pass over an invocation's event stream, remembering what was already shown."""

    def __init__(self, client: RunnerClient, inv_id: str, output_format: str,
                 since: str | None) -> None:
        self.client = client
        self.inv_id = inv_id
        self.jsonl = output_format == "jsonl"
        self.err = console()
        self.seen: set[tuple[str, str]] = set()
        self.cursor = since
        self.last_status: str | None = None
        self.final: dict[str, Any] | None = None

    def emit(self, event: dict[str, Any]) -> None:
        if self.jsonl:
            click.echo(json.dumps(event, ensure_ascii=False))

    def read(self, status_line: Any) -> bool:
        """Read the stream once (until it ends or the invocation does); True if it moved."""
        from ..tooling.client import TERMINAL

        progressed = False
        for event in self.client.follow(self.inv_id, since=self.cursor):
            kind = event.get("event")
            if kind == "log":
                key = (str(event.get("timestamp", "")), str(event.get("message", "")))
                if key in self.seen:
                    continue
                self.seen.add(key)
                self.cursor = key[0] or self.cursor
                progressed = True
                self.emit(event)
                if not self.jsonl:
                    self.err.print(f"[dim]{clock(key[0])}[/] {escape(key[1])}")
            elif kind == "invocation_state":
                inv = event.get("invocation") or {}
                status = str(inv.get("status"))
                if status == self.last_status:
                    continue
                self.last_status = status
                progressed = True
                self.emit(event)
                if status in TERMINAL:
                    self.final = inv
                    return True
                if not self.jsonl:
                    self.err.print(f"● {styled_status(status)}")
                if status_line is not None:
                    status_line.update(f"{status}…")
            elif kind == "error":
                # The final state follows with the reason; an overflowed stream ends
                # here and is picked up again by the caller.
                self.emit(event)
        return progressed


def follow(client: RunnerClient, inv_id: str, output_format: str, *, since: str | None = None,
           cancel_on_interrupt: bool, api_url: str | None) -> dict[str, Any]:
    """Stream an invocation's logs and state changes until it is terminal; return it.

    Log lines and transitions go to stderr (stdout is for the output), or every event to
    stdout as JSON lines with ``jsonl``. A dropped stream is picked up again from the
    last line seen. Ctrl-C cancels the invocation (``cancel_on_interrupt``) or stops.
    """
    from ..tooling.client import TERMINAL, ClientError, Unreachable

    stream = _Stream(client, inv_id, output_format, since)
    hint = f"follow it again with `kernel-actions invocations follow {inv_id}{again(api_url)}`"
    fruitless = 0
    try:
        with sigterm_interrupts(), \
                spinner(stream.err, "waiting…", enabled=not stream.jsonl) as status_line:
            while stream.final is None:
                try:
                    progressed = stream.read(status_line)
                except Unreachable as exc:
                    fruitless += 1
                    if fruitless > 3:
                        raise Unreachable(f"{exc.message}; {hint}") from None
                    time.sleep(0.5 * fruitless)
                    continue
                if stream.final is not None:
                    break
                fruitless = 0 if progressed else fruitless + 1
                if fruitless > 3:
                    current = client.get_invocation(inv_id)
                    if current.get("status") not in TERMINAL:
                        raise ClientError(f"the event stream of {inv_id} keeps ending while it "
                                          f"is {current.get('status')}; {hint}")
                    stream.final = current
    except KeyboardInterrupt:
        _interrupted(client, inv_id, cancel_on_interrupt, api_url)
    assert stream.final is not None
    return stream.final


def stream_format(output_format: str, *, sync: bool = False) -> str:
    """What ``-o json`` means for a following command: every event as a JSON line, as
    Kernel's ``invoke -o json`` prints them; with ``--sync``, the final invocation (Kernel
    prints its one response). The deprecated ``--json`` stays the final document."""
    if output_format == "json-events":
        return "json" if sync else "jsonl"
    return output_format


def warn_if_stale(client: RunnerClient) -> None:
    """One line on stderr when the answer came from old code (the latest save failed to load)."""
    if client.stale:
        console().print(f"[yellow]warning:[/] the latest save failed to load, so this ran the "
                        f"last code that did: {escape(client.stale)}")


def start(client: RunnerClient, *, app: str, action: str, version: str, payload: str | None,
          sync: bool, async_timeout: int | None, detach: bool, output_format: str,
          api_url: str | None, header: str, since: str | None = None) -> None:
    """Create an invocation, then follow it to the end (or not, with ``detach``)."""
    from ..tooling.client import ClientError

    err = console()
    quiet = output_format == "jsonl"
    if sync:
        try:
            with spinner(err, f"running {app}/{action} (sync)…", enabled=not quiet):
                created = client.create_invocation(app, action, version=version,
                                                   payload=payload)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted:[/] a synchronous invocation has no id until it "
                      "answers, so it may still be running; see `kernel-actions invocations "
                      f"list --app {app}{again(api_url)}`")
            sys.exit(ExitCode.INTERRUPTED)
        warn_if_stale(client)
        if not quiet:
            err.print(f"{header.format(id=created['id'])}")
        try:  # replay its logs, and get the whole invocation
            final = follow(client, created["id"], output_format, cancel_on_interrupt=False,
                           api_url=api_url)
        except ClientError:
            final = {**created, **client.get_invocation(created["id"])}
        report(final, output_format)
        return
    created = client.create_invocation(app, action, version=version, payload=payload,
                                       is_async=True, async_timeout=async_timeout)
    inv_id = created["id"]
    warn_if_stale(client)
    if detach:
        if output_format == "text":
            click.echo(inv_id)
            err.print(f"follow it with: kernel-actions invocations follow {inv_id}"
                      f"{again(api_url)}")
        elif output_format == "json":
            print_json(created)
        else:
            click.echo(json.dumps(created))
        return
    if not quiet:
        err.print(header.format(id=inv_id))
    final = follow(client, inv_id, output_format, since=since, cancel_on_interrupt=True,
                   api_url=api_url)
    report(final, output_format)
