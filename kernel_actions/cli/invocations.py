"""``invoke`` and the ``invocations`` group: start, list, inspect, follow, finish, cancel
and replay invocations."""

from __future__ import annotations

from typing import Any

import click

from .exit_codes import UsageProblem
from .follow import follow, report, resolve, start, stream_format
from .group import cli
from .output import (
    api_url_option,
    clock,
    console,
    escape,
    fit_columns,
    make_client,
    output_options,
    pretty,
    print_json,
    read_json,
    styled_status,
    terminal_width,
    took,
)

__all__ = ["invoke", "invocations", "InvokeCommand", "INVOKE_ALIASES"]

#: Kernel's CLI spells the invocation commands ``kernel invoke history|get|update|browsers``.
INVOKE_ALIASES = {"history": "list", "get": "get", "update": "update", "browsers": "browsers",
                  "delete-browsers": "delete-browsers"}


class InvokeCommand(click.Command):
    """``invoke APP ACTION``, and Kernel's ``invoke history|get|update|browsers …`` spellings,
    which run the ``invocations`` command of the same meaning."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if args and args[0] in INVOKE_ALIASES:
            target = invocations.commands[INVOKE_ALIASES[args[0]]]
            return target.make_context(f"{info_name} {args[0]}", args[1:], parent=parent,
                                       **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@cli.command(cls=InvokeCommand)
@click.argument("app")
@click.argument("action")
@click.option("-p", "--payload", default=None, metavar="JSON", help="The payload, as JSON.")
@click.option("--payload-file", default=None, metavar="FILE",
              help="Read the payload from FILE ('-' reads stdin).")
@click.option("-f", "payload_file_short", default=None, hidden=True)  # old; -f is --follow
@click.option("--version", "version", default=None,
              help="The app version to invoke [default: latest].")
@click.option("-v", "version_short", default=None, hidden=True)  # its old spelling
@click.option("-s", "--sync", is_flag=True,
              help="One request that waits for the result (the API's limit: 100 s), "
                   "instead of async + follow.")
@click.option("--async-timeout", type=click.IntRange(10, 3600), default=None, metavar="N",
              help="Seconds the async invocation may run (10-3600) [default: 900].")
@click.option("--detach", is_flag=True,
              help="Start it, print its id and return without following it.")
@click.option("--since", default=None,
              help="Show the invocation's events since: RFC 3339 or a duration like 5m "
                   "[default: all].")
@output_options(jsonl=True)
@api_url_option
def invoke(app: str, action: str, payload: str | None, payload_file: str | None,
           payload_file_short: str | None, version: str | None, version_short: str | None,
           sync: bool, async_timeout: int | None, detach: bool, since: str | None,
           output_format: str, api_url: str | None) -> None:
    """Invoke ACTION of APP: stream its logs live, then print its output.

    \b
      kernel-actions invoke my-app analyze -p '{"data": "x"}'
      kernel-actions invoke my-app analyze --payload-file payload.json --sync
      echo '{"data": "x"}' | kernel-actions invoke my-app analyze --payload-file -
      kernel-actions invoke my-app long-job --detach
      kernel-actions invoke my-app analyze -o json   # every event as a JSON line

    Invokes asynchronously and follows the invocation: log lines and status changes
    on stderr, the output (pretty JSON) on stdout. Exits 0 when it succeeds, 1 when
    it fails (with its reason). Ctrl-C cancels it and deletes its browsers, as Kernel's
    CLI does, and exits 130.
    """
    version = version or version_short or "latest"
    body = read_json(payload, payload_file or payload_file_short, "payload")
    if detach and sync:
        raise UsageProblem("--detach and --sync don't go together")
    client = make_client(api_url)
    start(client, app=app, action=action, version=version, payload=body, sync=sync,
          async_timeout=async_timeout, detach=detach,
          output_format=stream_format(output_format, sync=sync), api_url=api_url,
          header=f"invocation {{id}} ({app}/{action}, version {version})", since=since)


@cli.group()
def invocations() -> None:
    """List, inspect, follow, finish, cancel and replay invocations.

    \b
      kernel-actions invocations list --app my-app --status failed
      kernel-actions invocations follow ID
      kernel-actions invocations replay ID
    """


@invocations.command("list")
@click.option("--app", "app_name", default=None, help="Only this app.")
@click.option("--action", "action_name", default=None, help="Only this action.")
@click.option("--status", type=click.Choice(["queued", "running", "succeeded", "failed"]),
              default=None, help="Only this status.")
@click.option("--version", "version", default=None, help="Only this app version.")
@click.option("--since", default=None,
              help="Started since: RFC 3339 (2026-01-02T15:04:05Z) or a duration (5m, 2h).")
@click.option("--query", default=None, help="Search ids, app and action names (prefix).")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True,
              help="Invocations per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True,
              help="Invocations to skip.")
@click.option("--all", "all_pages", is_flag=True, help="Every page, not just one.")
@output_options()
@api_url_option
def invocations_list(app_name: str | None, action_name: str | None, status: str | None,
                     version: str | None, since: str | None, query: str | None, limit: int,
                     offset: int, all_pages: bool, output_format: str,
                     api_url: str | None) -> None:
    """List invocations, newest first.

    \b
      kernel-actions invocations list --app my-app --status failed --since 1h
      kernel-actions invocations list --all -o json | jq '.[].id'
    """
    client = make_client(api_url)
    filters: dict[str, Any] = {"app_name": app_name, "action_name": action_name,
                               "status": status, "version": version, "since": since,
                               "query": query, "limit": limit}
    if all_pages:
        items = list(client.iter_invocations(offset=offset, **filters))
        more = False
    else:
        page = client.list_invocations(offset=offset, **filters)
        items, more = page.items, page.has_more
    if output_format == "json":
        print_json(items)
        return
    if not items:
        console().print("no invocations")
        return
    # One line per invocation, fitted to the terminal: the id and status whole, the others
    # cut short when the line is too long, the reason first (`invocations get ID` has it all).
    rows = [["id", "app/action", "version", "status", "started", "took", "reason"]] + [
        [inv["id"], f"{inv['app_name']}/{inv['action_name']}", str(inv.get("version")),
         inv["status"], clock(inv.get("started_at"), date=True), took(inv) or "",
         " ".join((inv.get("status_reason") or "").split())] for inv in items]
    out = console(stderr=False)
    for n, cells in enumerate(fit_columns(rows, terminal_width(), whole=(0, 3))):
        line = [escape(cell) for cell in cells]
        if n:
            line[3] = styled_status(cells[3].rstrip()) + " " * (len(cells[3]) - len(rows[n][3]))
        out.print("  ".join(line).rstrip(), style="bold" if n == 0 else None)
    if more:
        console().print(f"[dim]more: --offset {offset + len(items)}, or --all[/]")


@invocations.command("get")
@click.argument("invocation_id")
@output_options()
@api_url_option
def invocations_get(invocation_id: str, output_format: str, api_url: str | None) -> None:
    """Show one invocation: status, times, payload, output.

    \b
      kernel-actions invocations get ID
      kernel-actions invocations get ID -o json | jq -r .output

    ID may be the start of an id, when only one id starts with it.
    """
    inv = resolve(make_client(api_url), invocation_id, detail=True)
    if output_format == "json":
        print_json(inv)
        return
    from rich.table import Table

    out = console(stderr=False)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | None]] = [
        ("id", inv["id"]),
        ("app", escape(inv.get("app_name", ""))),
        ("action", escape(inv.get("action_name", ""))),
        ("version", escape(str(inv.get("version")))),
        ("status", styled_status(inv["status"])),
        ("reason", escape(inv["status_reason"]) if inv.get("status_reason") else None),
        ("started", clock(inv.get("started_at"), date=True)),
        ("running", clock(inv["running_at"], date=True) if inv.get("running_at") else None),
        ("finished", clock(inv["finished_at"], date=True) if inv.get("finished_at") else None),
        ("took", took(inv)),
        ("mode", None if "async" not in inv else
         ("async" if inv["async"] else "sync")
         + (f", timeout {inv['timeout_seconds']:g} s" if inv.get("timeout_seconds") else "")),
        ("code generation", None if inv.get("code_generation") is None
         else str(inv["code_generation"])),
        ("deployment", inv.get("deployment_id")),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, value)
    out.print(table)
    out.print("[bold]payload[/]")
    click.echo(pretty(inv.get("payload")) if inv.get("payload") is not None else "(none)")
    out.print("[bold]output[/]")
    click.echo(pretty(inv.get("output")) if inv.get("output") is not None else "(none)")


@invocations.command("follow")
@click.argument("invocation_id")
@click.option("--since", default=None,
              help="Replay log lines from: RFC 3339 or a duration like 5m [default: all].")
@output_options(jsonl=True)
@api_url_option
def invocations_follow(invocation_id: str, since: str | None, output_format: str,
                       api_url: str | None) -> None:
    """Stream an invocation's logs until it finishes, then print its output.

    \b
      kernel-actions invocations follow ID
      kernel-actions invocations follow ID -o jsonl

    Exits as `invoke` does: 0 succeeded, 1 failed. Ctrl-C stops following (exit 130)
    and leaves the invocation running.
    """
    client = make_client(api_url)
    inv = resolve(client, invocation_id)
    output_format = stream_format(output_format)
    final = follow(client, inv["id"], output_format, since=since, cancel_on_interrupt=False,
                   api_url=api_url)
    report(final, output_format)


@invocations.command("update")
@click.argument("invocation_id")
@click.option("--status", type=click.Choice(["succeeded", "failed"]), required=True,
              help="The final status to set.")
@click.option("--output", "output", default=None, metavar="JSON",
              help="The output to record, as JSON.")
@output_options(short=False)
@api_url_option
def invocations_update(invocation_id: str, status: str, output: str | None,
                       output_format: str, api_url: str | None) -> None:
    """Finish an invocation from outside: set its final status (and output).

    \b
      kernel-actions invocations update ID --status succeeded --output '{"ok": true}'
      kernel-actions invocations update ID --status failed --output '{"error": "stop"}'

    Failing a running invocation cancels its action. A final status is final:
    updating a finished invocation is refused (conflict, exit 4).
    """
    body = read_json(output, None, "output")
    client = make_client(api_url)
    inv = client.update_invocation(resolve(client, invocation_id)["id"], status, body)
    if output_format == "json":
        print_json(inv)
    else:
        console().print(f"{inv['id']} ● {styled_status(inv['status'])}")


@invocations.command("cancel")
@click.argument("invocation_id")
@output_options()
@api_url_option
def invocations_cancel(invocation_id: str, output_format: str, api_url: str | None) -> None:
    """Cancel a queued or running invocation, as Kernel's CLI does on Ctrl-C.

    \b
      kernel-actions invocations cancel ID

    Sets it failed with output {"error": "Invocation cancelled by user"}.
    """
    client = make_client(api_url)
    inv = client.cancel_invocation(resolve(client, invocation_id)["id"])
    if output_format == "json":
        print_json(inv)
    else:
        console().print(f"cancelled {inv['id']} ● {styled_status(inv['status'])}")


@invocations.command("replay")
@click.argument("invocation_id")
@click.option("--version", "version", default=None,
              help="Run it on this app version instead of the original's.")
@click.option("-v", "version_short", default=None, hidden=True)  # its old spelling
@click.option("-s", "--sync", is_flag=True, help="One request that waits for the result.")
@click.option("--detach", is_flag=True, help="Start it, print its id and return.")
@output_options(jsonl=True)
@api_url_option
def invocations_replay(invocation_id: str, version: str | None, version_short: str | None,
                       sync: bool, detach: bool, output_format: str,
                       api_url: str | None) -> None:
    """Run an invocation again: same app, action, version and payload.

    \b
      kernel-actions invocations replay ID            # e.g. after fixing the code
      kernel-actions invocations replay ID --version 2.0.0  # on another version

    Then follows the new invocation as `invoke` does (same exit codes; Ctrl-C cancels it).
    """
    if detach and sync:
        raise UsageProblem("--detach and --sync don't go together")
    client = make_client(api_url)
    old = resolve(client, invocation_id, detail=True)
    timeout = old.get("timeout_seconds") if old.get("async") else None
    async_timeout = int(timeout) if isinstance(timeout, int | float) and \
        10 <= timeout <= 3600 else None
    target = version or version_short or old["version"]
    start(client, app=old["app_name"], action=old["action_name"], version=target,
          payload=old.get("payload") or None, sync=sync, async_timeout=async_timeout,
          detach=detach, output_format=stream_format(output_format, sync=sync),
          api_url=api_url,
          header=f"replaying {old['id']} as {{id}} ({old['app_name']}/{old['action_name']}, "
                 f"version {target})")


@invocations.command("browsers")
@click.argument("invocation_id")
@output_options()
@api_url_option
def invocations_browsers(invocation_id: str, output_format: str, api_url: str | None) -> None:
    """List the browsers an invocation created (Kernel: `invoke browsers`).

    \b
      kernel-actions invocations browsers ID
      kernel-actions invoke browsers ID -o json
    """
    client = make_client(api_url)
    browsers = client.invocation_browsers(resolve(client, invocation_id)["id"])
    if output_format == "json":
        print_json(browsers)
        return
    if not browsers:
        console().print("no browsers")
        return
    for browser in browsers:
        click.echo(f"{browser.get('session_id', '')}  {browser.get('cdp_ws_url', '')}")


@invocations.command("delete-browsers")
@click.argument("invocation_id")
@api_url_option
def invocations_delete_browsers(invocation_id: str, api_url: str | None) -> None:
    """Delete every browser an invocation created, as Ctrl-C during `invoke` does.

    \b
      kernel-actions invocations delete-browsers ID
    """
    client = make_client(api_url)
    inv_id = resolve(client, invocation_id)["id"]
    client.delete_invocation_browsers(inv_id)
    console().print(f"deleted {inv_id}'s browsers")
