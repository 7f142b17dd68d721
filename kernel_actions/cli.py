"""The ``kernel-actions`` command line."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from . import __version__
from .limits import MAX_PAYLOAD_BYTES

if TYPE_CHECKING:
    from rich.console import Console

    from .client import RunnerClient
    from .packaging import BundleReport

__all__ = ["main", "cli"]


class CliError(click.ClickException):
    """An error with its own exit code, printed as one line."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # per instance, on purpose


class _Cli(click.Group):
    """The root group: API failures become one line and their exit code; Ctrl-C is 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            client = sys.modules.get("kernel_actions.client")
            if client is not None and isinstance(exc, client.ClientError):
                raise CliError(exc.message, exc.exit_code) from None
            raise


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kernel-actions")
def cli() -> None:
    """Write, run and ship actions for Kernel apps.

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

    \b
    Exit codes: 0 ok; 1 the invocation or deployment failed; 2 bad usage,
    bad payload or code that doesn't load; 3 API unreachable; 4 API error 4xx
    (printed as `code: message`); 5 API error 5xx; 130 interrupted (Ctrl-C).
    """


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=None, type=int, help="Port to listen on [default: 8484; 0 picks a free one].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where invocations are stored [default: .kernel/ in the app's folder].")
@click.option("--version", "app_version", default="latest", show_default=True,
              help="Version label the live code is served as.")
@click.option("--sync-timeout", default=100.0, show_default=True, type=float,
              help="Seconds a synchronous invocation may run.")
@click.option("--max-concurrency", default=50, show_default=True, type=int,
              help="Invocations running at once.")
@click.option("--api-key", envvar="KERNEL_ACTIONS_API_KEY", default=None,
              help="Require this bearer token on every request (needed off loopback).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME[:PORT]",
              help="Also accept requests addressed to this host name (repeatable; * for any). "
                   "See README: Security model.")
@click.option("--reload/--no-reload", default=True, show_default=True,
              help="Load new code on every save.")
@click.option("--echo-logs", is_flag=True, help="Print every invocation's log lines here too.")
@click.option("--worker-memory-limit", type=float, default=None, metavar="MB",
              help="Kill a worker whose memory passes MB (its invocations fail as crashed).")
@click.option("--max-browsers", default=5, show_default=True, type=int,
              help="Local Chromium browsers (POST /browsers) running at once.")
@click.option("--browser-path", type=click.Path(dir_okay=False), default=None,
              help="Chromium or Chrome to start for POST /browsers [default: $KERNEL_ACTIONS_BROWSER, "
                   "else chromium or chrome on PATH, else Playwright's download].")
@click.option("--allow-local-deps", is_flag=True,
              help="Let deployments declare local paths and file: URLs as dependencies.")
def dev(
    entrypoint: str, host: str, port: int | None, data_dir: Path | None, app_version: str,
    sync_timeout: float, max_concurrency: int, api_key: str | None, reload: bool,
    echo_logs: bool, worker_memory_limit: float | None, max_browsers: int,
    browser_path: str | None, allow_local_deps: bool, allowed_hosts: tuple[str, ...] = (),
) -> None:
    """Run the local runner on ENTRYPOINT (a file, module, or path:attr) with hot reload."""
    import anyio

    from .runner.config import DEFAULT_PORT, Config, ConfigError
    from .runner.server import Runner, serve

    try:
        config = Config.for_entrypoint(
            entrypoint, host=host, port=DEFAULT_PORT if port is None else port,
            data_dir=data_dir, version=app_version, sync_timeout=sync_timeout,
            max_concurrency=max_concurrency, api_key=api_key, reload=reload,
            echo_logs=echo_logs, worker_memory_mb=worker_memory_limit,
            max_browsers=max_browsers, browser_path=browser_path,
            allow_local_deps=allow_local_deps, allowed_hosts=allowed_hosts,
        )
        config.validate()
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None

    def started(runner: Runner) -> None:
        live = runner.live
        apps = runner.app_summaries()
        click.echo(f"kernel-actions runner listening on {runner.url}", err=True)
        if live is not None and live.load_error is not None:
            click.echo(f"  code failed to load: {live.load_error}", err=True)
        for app in apps:
            names = ", ".join(a["name"] for a in app["actions"])
            click.echo(f"  app {app['app_name']} ({app['version']}): {names}", err=True)
        click.echo(f"  dashboard: {runner.url}/", err=True)
        click.echo(f"  data: {config.data_dir}", err=True)
        click.echo(f"  try: KERNEL_BASE_URL={runner.url} kernel-actions invoke "
                   f"{apps[0]['app_name'] if apps else 'APP'} ACTION", err=True)

    watcher = None
    if reload:
        from .runner.reload import watch_and_reload

        watcher = watch_and_reload

    try:
        runner = anyio.run(lambda: serve(config, started=started, watcher=watcher))
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{config.port}: {exc.strerror or exc}", 3) from None
    except KeyboardInterrupt:
        sys.exit(130)
    if runner.forced_exit:
        sys.exit(130)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=None, type=int, help="Port to listen on [default: 8484; 0 picks a free one].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".kernel"),
              show_default=True, help="Where deployments and invocations are stored.")
@click.option("--sync-timeout", default=100.0, show_default=True, type=float,
              help="Seconds a synchronous invocation may run.")
@click.option("--max-concurrency", default=50, show_default=True, type=int,
              help="Invocations running at once.")
@click.option("--api-key", envvar="KERNEL_ACTIONS_API_KEY", default=None,
              help="Require this bearer token on every request (needed off loopback).")
@click.option("--worker-memory-limit", type=float, default=None, metavar="MB",
              help="Kill a worker whose memory passes MB (its invocations fail as crashed).")
@click.option("--max-browsers", default=5, show_default=True, type=int,
              help="Local Chromium browsers (POST /browsers) running at once.")
@click.option("--browser-path", type=click.Path(dir_okay=False), default=None,
              help="Chromium or Chrome to start for POST /browsers [default: $KERNEL_ACTIONS_BROWSER, "
                   "else chromium or chrome on PATH, else Playwright's download].")
@click.option("--allow-local-deps", is_flag=True,
              help="Let deployments declare local paths and file: URLs as dependencies.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME[:PORT]",
              help="Also accept requests addressed to this host name (repeatable; * for any). "
                   "See README: Security model.")
def serve(host: str, port: int | None, data_dir: Path, sync_timeout: float,
          max_concurrency: int, api_key: str | None, worker_memory_limit: float | None,
          max_browsers: int, browser_path: str | None, allow_local_deps: bool,
          allowed_hosts: tuple[str, ...] = ()) -> None:
    """Run the runner without live code, hosting the versions deployed to it.

    Deploy to it with `kernel-actions deploy main.py --api-url http://127.0.0.1:8484`
    (or any client's POST /deployments); deployed versions survive restarts.
    """
    import anyio

    from .runner.config import DEFAULT_PORT, Config, ConfigError
    from .runner.server import Runner
    from .runner.server import serve as run_server

    try:
        config = Config(
            entrypoint=None, host=host, port=DEFAULT_PORT if port is None else port,
            data_dir=data_dir, sync_timeout=sync_timeout, max_concurrency=max_concurrency,
            api_key=api_key, reload=False, worker_memory_mb=worker_memory_limit,
            max_browsers=max_browsers, browser_path=browser_path,
            allow_local_deps=allow_local_deps, allowed_hosts=allowed_hosts,
        )
        config.validate()
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None

    def started(runner: Runner) -> None:
        click.echo(f"kernel-actions runner listening on {runner.url}", err=True)
        for app in runner.app_summaries():
            names = ", ".join(a["name"] for a in app["actions"])
            click.echo(f"  app {app['app_name']} ({app['version']}): {names}", err=True)
        click.echo(f"  dashboard: {runner.url}/", err=True)
        click.echo(f"  data: {config.data_dir}", err=True)
        click.echo(f"  deploy: kernel-actions deploy main.py --api-url {runner.url}", err=True)

    try:
        runner = anyio.run(lambda: run_server(config, started=started))
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{config.port}: {exc.strerror or exc}", 3) from None
    except KeyboardInterrupt:
        sys.exit(130)
    if runner.forced_exit:
        sys.exit(130)


# -- client commands ----------------------------------------------------------------------
#
# Every command below talks to a Kernel-compatible API: the local runner by default,
# KERNEL_BASE_URL / KERNEL_API_KEY when set (the SDKs' conventions), --api-url over both.
# Exit codes: 0 success; 1 the invocation or deployment failed; 2 bad usage, bad payload or
# an entrypoint that doesn't load; 3 the API can't be reached; 4 the API answered 4xx
# (printed `code: message`); 5 it answered 5xx or not as the API; 130 interrupted (Ctrl-C).

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Largest payload the hosted API takes (4.5 MB).
#: Without --follow, `logs` stops reading a running invocation after this long without a line.
LOGS_IDLE_SECONDS = 2.0

STATUS_STYLE = {"queued": "yellow", "running": "cyan", "succeeded": "green", "failed": "red"}

F = TypeVar("F", bound=Callable[..., Any])


def api_url_option(f: F) -> F:
    return click.option(
        "--api-url", metavar="URL", default=None,
        help="API to talk to; overrides $KERNEL_BASE_URL [default: http://127.0.0.1:8484]. "
             "A key, when the API needs one, comes from $KERNEL_API_KEY.")(f)


def output_options(*, jsonl: bool = False, short: bool = True,
                   json_help: str = "one JSON document") -> Callable[[F], F]:
    """``-o/--output text|json[|jsonl]`` and ``--json``; the command gets ``output_format``."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs.pop("as_json"):
                kwargs["output_format"] = "json"
            kwargs.setdefault("output_format", "text")
            return f(*args, **kwargs)

        wrapped = click.option(
            "--json", "as_json", is_flag=True,
            help="Machine-readable output" + (" (same as -o json)." if short else ": JSON."),
        )(wrapper)
        if short:
            choices = ["text", "json", "jsonl"] if jsonl else ["text", "json"]
            extra = "; jsonl: every event as a JSON line, as Kernel's CLI prints them" \
                if jsonl else ""
            wrapped = click.option(
                "-o", "--output", "output_format", type=click.Choice(choices), default="text",
                show_default=True, help=f"Output format (json: {json_help}{extra}).",
            )(wrapped)
        return cast(F, wrapped)

    return decorate


def _console(stderr: bool = True) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    # Not a terminal: no colour, no spinner (rich's defaults) and no wrapping of long lines.
    return Console(file=stream, highlight=False, soft_wrap=True, width=None if tty else 10_000)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextlib.contextmanager
def _spinner(console: Console, message: str, enabled: bool = True) -> Iterator[Any]:
    """A spinner on a terminal; nothing otherwise."""
    if enabled and console.is_terminal:
        with console.status(message, spinner="dots") as status:
            yield status
    else:
        yield None


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
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


def _client(api_url: str | None) -> RunnerClient:
    from .client import RunnerClient

    return RunnerClient(api_url)


def _again(api_url: str | None) -> str:
    """The --api-url to repeat in a hint, when one was given."""
    return f" --api-url {api_url}" if api_url else ""


def _print_json(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if sys.stdout.isatty():
        _console(stderr=False).print_json(text)
    else:
        click.echo(text)


def _pretty(raw: str | None) -> str:
    """A JSON string, indented; anything else as it is."""
    if raw is None:
        return "null"
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


def _read_json(value: str | None, path: str | None, what: str) -> str | None:
    """The JSON text from an option or a file ('-' = stdin), checked before it is sent."""
    if value is not None and path is not None:
        raise CliError(f"give the {what} either inline or as a file, not both", EXIT_USAGE)
    if path is not None:
        source = "stdin" if path == "-" else path
        try:
            value = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CliError(f"cannot read the {what} from {source}: {reason}", EXIT_USAGE) \
                from None
        value = value.strip()
    else:
        source = f"the {what}"
    if value is None or value == "":
        return None
    if len(value.encode()) > MAX_PAYLOAD_BYTES:
        raise CliError(f"the {what} is {len(value.encode())} bytes: the limit is 4.5 MB",
                       EXIT_USAGE)
    try:
        json.loads(value)
    except ValueError as exc:
        where = f" ({source})" if path is not None else ""
        raise CliError(f"{what} is not valid JSON{where}: {exc}", EXIT_USAGE) from None
    except RecursionError:
        raise CliError(f"{what} is nested too deeply", EXIT_USAGE) from None
    return value


def _ns(timestamp: str | None) -> int | None:
    if not timestamp:
        return None
    from .timeutil import parse_since

    try:
        return parse_since(timestamp)
    except ValueError:
        return None


def _clock(timestamp: str | None, *, date: bool = False) -> str:
    """An API timestamp in local time: ``15:04:05.123``, or with the date."""
    ns = _ns(timestamp)
    if ns is None:
        return timestamp or "-"
    moment = datetime.fromtimestamp(ns / 1e9).astimezone()
    if date:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%H:%M:%S.%f")[:-3]


def _took(inv: dict[str, Any]) -> str | None:
    start, end = _ns(inv.get("started_at")), _ns(inv.get("finished_at"))
    if start is None or end is None:
        return None
    seconds = max(0, end - start) / 1e9
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


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
    return _pretty(output)


def _report(inv: dict[str, Any], output_format: str) -> None:
    """Print a finished invocation; exit 1 if it failed."""
    succeeded = inv.get("status") == "succeeded"
    if output_format == "json":
        _print_json(inv)
    elif output_format == "text":
        err = _console()
        took = _took(inv)
        suffix = f" in {took}" if took else ""
        if succeeded:
            err.print(f"[green]✓ succeeded{suffix}[/]")
            click.echo(_pretty(inv.get("output")))
        else:
            reason = inv.get("status_reason") or "failed"
            err.print(f"[red]✗ failed{suffix}:[/] {_escape(reason)}")
            detail = _failure_detail(inv.get("output"))
            if detail:
                err.print(detail, style="dim", markup=False)
    if not succeeded:
        sys.exit(EXIT_FAILED)


def _resolve(client: RunnerClient, ref: str, *, detail: bool = False) -> dict[str, Any]:
    """An invocation by id, or by an unambiguous prefix of its id."""
    from .client import ApiFailure

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
            raise CliError(f"{ref!r} is the start of {len(matches)} invocation ids ({shown}"
                           f"{', …' if len(matches) > 5 else ''}): give more of it",
                           EXIT_USAGE) from None
        return client.get_invocation(matches[0]["id"], detail=detail)


def _interrupted(client: RunnerClient, inv_id: str, cancel: bool, api_url: str | None) -> None:
    """Ctrl-C while following: cancel (when we started it) or just stop; exit 130."""
    from .client import ApiFailure, ClientError

    err = _console()
    if not cancel:
        err.print(f"stopped following {inv_id}; it keeps running. Follow it again with "
                  f"`kernel-actions invocations follow {inv_id}{_again(api_url)}`, cancel it "
                  f"with `kernel-actions invocations cancel {inv_id}{_again(api_url)}`")
        sys.exit(EXIT_INTERRUPTED)
    try:
        client.cancel_invocation(inv_id)
        err.print(f"[yellow]cancelled invocation {inv_id}[/] (Invocation cancelled by user)")
    except ApiFailure as exc:
        if exc.status == 409:
            err.print(f"invocation {inv_id} had already finished: nothing to cancel")
        else:
            err.print(f"[yellow]stopped following; could not cancel {inv_id}:[/] "
                      f"{_escape(exc.message)}")
    except (ClientError, KeyboardInterrupt) as exc:
        why = exc.message if isinstance(exc, ClientError) else "interrupted again"
        err.print(f"[yellow]stopped following; could not cancel {inv_id}:[/] {_escape(why)}")
    sys.exit(EXIT_INTERRUPTED)


def _follow(client: RunnerClient, inv_id: str, output_format: str, *, since: str | None = None,
            cancel_on_interrupt: bool, api_url: str | None) -> dict[str, Any]:
    """Stream an invocation's logs and state changes until it is terminal; return it.

    Log lines and transitions go to stderr (stdout is for the output), or every event to
    stdout as JSON lines with ``jsonl``. A dropped stream is picked up again from the
    last line seen. Ctrl-C cancels the invocation (``cancel_on_interrupt``) or stops.
    """
    from .client import TERMINAL, ClientError, Unreachable

    err = _console()
    jsonl = output_format == "jsonl"
    seen: set[tuple[str, str]] = set()
    cursor = since
    last_status: str | None = None
    final: dict[str, Any] | None = None
    fruitless = 0
    try:
        with _sigterm_interrupts(), _spinner(err, "waiting…", enabled=not jsonl) as spinner:
            while final is None:
                progressed = False
                try:
                    for event in client.follow(inv_id, since=cursor):
                        kind = event.get("event")
                        if kind == "log":
                            key = (str(event.get("timestamp", "")), str(event.get("message", "")))
                            if key in seen:
                                continue
                            seen.add(key)
                            cursor = key[0] or cursor
                            progressed = True
                            if jsonl:
                                click.echo(json.dumps(event, ensure_ascii=False))
                            else:
                                err.print(f"[dim]{_clock(key[0])}[/] {_escape(key[1])}")
                        elif kind == "invocation_state":
                            inv = event.get("invocation") or {}
                            status = str(inv.get("status"))
                            if status == last_status:
                                continue
                            last_status = status
                            progressed = True
                            if jsonl:
                                click.echo(json.dumps(event, ensure_ascii=False))
                            if status in TERMINAL:
                                final = inv
                                break
                            if not jsonl:
                                err.print(f"● {_status(status)}")
                            if spinner is not None:
                                spinner.update(f"{status}…")
                        elif kind == "error":
                            if jsonl:
                                click.echo(json.dumps(event, ensure_ascii=False))
                            # The final state follows with the reason; an overflowed
                            # stream ends here and is picked up again below.
                except Unreachable as exc:
                    fruitless += 1
                    if fruitless > 3:
                        raise Unreachable(
                            f"{exc.message}; follow it again with `kernel-actions invocations "
                            f"follow {inv_id}{_again(api_url)}`") from None
                    time.sleep(0.5 * fruitless)
                    continue
                if final is None:
                    fruitless = 0 if progressed else fruitless + 1
                    if fruitless > 3:
                        current = client.get_invocation(inv_id)
                        if current.get("status") in TERMINAL:
                            final = current
                        else:
                            raise ClientError(
                                f"the event stream of {inv_id} keeps ending while it is "
                                f"{current.get('status')}; follow it again with "
                                f"`kernel-actions invocations follow {inv_id}{_again(api_url)}`")
    except KeyboardInterrupt:
        _interrupted(client, inv_id, cancel_on_interrupt, api_url)
    assert final is not None
    return final


def _start(client: RunnerClient, *, app: str, action: str, version: str, payload: str | None,
           sync: bool, async_timeout: int | None, detach: bool, output_format: str,
           api_url: str | None, header: str) -> None:
    """Create an invocation, then follow it to the end (or not, with ``detach``)."""
    from .client import ClientError

    err = _console()
    quiet = output_format == "jsonl"
    if sync:
        try:
            with _spinner(err, f"running {app}/{action} (sync)…", enabled=not quiet):
                created = client.create_invocation(app, action, version=version,
                                                   payload=payload)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted:[/] a synchronous invocation has no id until it "
                      "answers, so it may still be running; see `kernel-actions invocations "
                      f"list --app {app}{_again(api_url)}`")
            sys.exit(EXIT_INTERRUPTED)
        if not quiet:
            err.print(f"{header.format(id=created['id'])}")
        try:  # replay its logs, and get the whole invocation
            final = _follow(client, created["id"], output_format, cancel_on_interrupt=False,
                            api_url=api_url)
        except ClientError:
            final = {**created, **client.get_invocation(created["id"])}
        _report(final, output_format)
        return
    created = client.create_invocation(app, action, version=version, payload=payload,
                                       is_async=True, async_timeout=async_timeout)
    inv_id = created["id"]
    if detach:
        if output_format == "text":
            click.echo(inv_id)
            err.print(f"follow it with: kernel-actions invocations follow {inv_id}"
                      f"{_again(api_url)}")
        else:
            _print_json(created) if output_format == "json" else click.echo(json.dumps(created))
        return
    if not quiet:
        err.print(header.format(id=inv_id))
    final = _follow(client, inv_id, output_format, cancel_on_interrupt=True, api_url=api_url)
    _report(final, output_format)


@cli.command()
@click.argument("app")
@click.argument("action")
@click.option("-p", "--payload", default=None, metavar="JSON", help="The payload, as JSON.")
@click.option("-f", "--payload-file", default=None, metavar="FILE",
              help="Read the payload from FILE ('-' reads stdin).")
@click.option("-v", "--version", "version", default="latest", show_default=True,
              help="The app version to invoke.")
@click.option("-s", "--sync", is_flag=True,
              help="One request that waits for the result (the API's limit: 100 s), "
                   "instead of async + follow.")
@click.option("--async-timeout", type=click.IntRange(10, 3600), default=None, metavar="N",
              help="Seconds the async invocation may run (10-3600) [default: 900].")
@click.option("--detach", is_flag=True,
              help="Start it, print its id and return without following it.")
@output_options(jsonl=True)
@api_url_option
def invoke(app: str, action: str, payload: str | None, payload_file: str | None, version: str,
           sync: bool, async_timeout: int | None, detach: bool, output_format: str,
           api_url: str | None) -> None:
    """Invoke ACTION of APP: stream its logs live, then print its output.

    \b
      kernel-actions invoke my-app analyze -p '{"data": "x"}'
      kernel-actions invoke my-app analyze -f payload.json --sync
      echo '{"data": "x"}' | kernel-actions invoke my-app analyze -f -
      kernel-actions invoke my-app long-job --detach

    Invokes asynchronously and follows the invocation: log lines and status changes
    on stderr, the output (pretty JSON) on stdout. Exits 0 when it succeeds, 1 when
    it fails (with its reason). Ctrl-C cancels it, as Kernel's CLI does, and exits 130.
    """
    body = _read_json(payload, payload_file, "payload")
    if detach and sync:
        raise CliError("--detach and --sync don't go together", EXIT_USAGE)
    client = _client(api_url)
    _start(client, app=app, action=action, version=version, payload=body, sync=sync,
           async_timeout=async_timeout, detach=detach, output_format=output_format,
           api_url=api_url, header=f"invocation {{id}} ({app}/{action}, version {version})")


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
      kernel-actions invocations list --all --json | jq '.[].id'
    """
    client = _client(api_url)
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
        _print_json(items)
        return
    if not items:
        _console().print("no invocations")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "app/action", "version", "status", "started", "took", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for inv in items:
        table.add_row(inv["id"], f"{inv['app_name']}/{inv['action_name']}",
                      _escape(str(inv.get("version"))), _status(inv["status"]),
                      _clock(inv.get("started_at"), date=True), _took(inv) or "",
                      _escape(inv.get("status_reason") or ""))
    _console(stderr=False).print(table)
    if more:
        _console().print(f"[dim]more: --offset {offset + len(items)}, or --all[/]")


@invocations.command("get")
@click.argument("invocation_id")
@output_options()
@api_url_option
def invocations_get(invocation_id: str, output_format: str, api_url: str | None) -> None:
    """Show one invocation: status, times, payload, output.

    \b
      kernel-actions invocations get ID
      kernel-actions invocations get ID --json | jq -r .output

    ID may be the start of an id, when only one id starts with it.
    """
    inv = _resolve(_client(api_url), invocation_id, detail=True)
    if output_format == "json":
        _print_json(inv)
        return
    from rich.table import Table

    out = _console(stderr=False)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | None]] = [
        ("id", inv["id"]),
        ("app", _escape(inv.get("app_name", ""))),
        ("action", _escape(inv.get("action_name", ""))),
        ("version", _escape(str(inv.get("version")))),
        ("status", _status(inv["status"])),
        ("reason", _escape(inv["status_reason"]) if inv.get("status_reason") else None),
        ("started", _clock(inv.get("started_at"), date=True)),
        ("running", _clock(inv["running_at"], date=True) if inv.get("running_at") else None),
        ("finished", _clock(inv["finished_at"], date=True) if inv.get("finished_at") else None),
        ("took", _took(inv)),
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
    click.echo(_pretty(inv.get("payload")) if inv.get("payload") is not None else "(none)")
    out.print("[bold]output[/]")
    click.echo(_pretty(inv.get("output")) if inv.get("output") is not None else "(none)")


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
    client = _client(api_url)
    inv = _resolve(client, invocation_id)
    final = _follow(client, inv["id"], output_format, since=since, cancel_on_interrupt=False,
                    api_url=api_url)
    _report(final, output_format)


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
    body = _read_json(output, None, "output")
    client = _client(api_url)
    inv = client.update_invocation(_resolve(client, invocation_id)["id"], status, body)
    if output_format == "json":
        _print_json(inv)
    else:
        _console().print(f"{inv['id']} ● {_status(inv['status'])}")


@invocations.command("cancel")
@click.argument("invocation_id")
@output_options(short=False)
@api_url_option
def invocations_cancel(invocation_id: str, output_format: str, api_url: str | None) -> None:
    """Cancel a queued or running invocation, as Kernel's CLI does on Ctrl-C.

    \b
      kernel-actions invocations cancel ID

    Sets it failed with output {"error": "Invocation cancelled by user"}.
    """
    client = _client(api_url)
    inv = client.cancel_invocation(_resolve(client, invocation_id)["id"])
    if output_format == "json":
        _print_json(inv)
    else:
        _console().print(f"cancelled {inv['id']} ● {_status(inv['status'])}")


@invocations.command("replay")
@click.argument("invocation_id")
@click.option("-v", "--version", "version", default=None,
              help="Run it on this app version instead of the original's.")
@click.option("-s", "--sync", is_flag=True, help="One request that waits for the result.")
@click.option("--detach", is_flag=True, help="Start it, print its id and return.")
@output_options(jsonl=True)
@api_url_option
def invocations_replay(invocation_id: str, version: str | None, sync: bool, detach: bool,
                       output_format: str, api_url: str | None) -> None:
    """Run an invocation again: same app, action, version and payload.

    \b
      kernel-actions invocations replay ID            # e.g. after fixing the code
      kernel-actions invocations replay ID -v 2.0.0   # the same payload on another version

    Then follows the new invocation as `invoke` does (same exit codes; Ctrl-C cancels it).
    """
    if detach and sync:
        raise CliError("--detach and --sync don't go together", EXIT_USAGE)
    client = _client(api_url)
    old = _resolve(client, invocation_id, detail=True)
    timeout = old.get("timeout_seconds") if old.get("async") else None
    async_timeout = int(timeout) if isinstance(timeout, int | float) and \
        10 <= timeout <= 3600 else None
    target = version or old["version"]
    _start(client, app=old["app_name"], action=old["action_name"], version=target,
           payload=old.get("payload") or None, sync=sync, async_timeout=async_timeout,
           detach=detach, output_format=output_format, api_url=api_url,
           header=f"replaying {old['id']} as {{id}} ({old['app_name']}/{old['action_name']}, "
                  f"version {target})")


class _LogPrinter:
    """Prints log lines from several threads, one whole line at a time."""

    def __init__(self, output_format: str) -> None:
        self.output_format = output_format
        self.console = _console(stderr=False)
        self.lock = threading.Lock()
        self.count = 0

    def line(self, inv: dict[str, Any], event: dict[str, Any]) -> None:
        timestamp, message = str(event.get("timestamp", "")), str(event.get("message", ""))
        with self.lock:
            self.count += 1
            if self.output_format == "json":
                click.echo(json.dumps({
                    "timestamp": timestamp, "invocation_id": inv["id"],
                    "action_name": inv.get("action_name"), "message": message,
                }, ensure_ascii=False))
            else:
                self.console.print(f"[dim]{_clock(timestamp)}[/] [cyan]{inv['id'][:8]}[/] "
                                   f"{_escape(message)}")


def _runner_events(client: RunnerClient) -> queue.Queue[Any] | None:
    """Subscribe to the runner's state changes in a thread; None if the API has none."""
    from .client import ApiFailure, Unreachable

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


@cli.command()
@click.argument("app")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines (Ctrl-C stops).")
@click.option("--since", default=None,
              help="How far back: a duration (5m, 2h) or RFC 3339 time "
                   "[default: 5m, or 5s with --follow].")
@click.option("-i", "--invocation", "invocation_ref", default=None, metavar="ID",
              help="Only this invocation (its id or the start of it).")
@click.option("--version", "version", default=None, help="Only invocations of this version.")
@output_options(json_help="one JSON object per line")
@api_url_option
def logs(app: str, follow: bool, since: str | None, invocation_ref: str | None,
         version: str | None, output_format: str, api_url: str | None) -> None:
    """Print APP's log lines, oldest first, each with its time and invocation id.

    \b
      kernel-actions logs my-app                  # the last 5 minutes
      kernel-actions logs my-app --since 1h
      kernel-actions logs my-app -f               # and every new line as it comes
      kernel-actions logs my-app -i ID -f         # one invocation

    Kernel's `logs` semantics: without --follow, lines since --since, then exit; with
    it, keep printing the lines of every invocation of APP as they are written.
    --json prints one JSON object per line.
    """
    from .client import TERMINAL
    from .timeutil import format_ns, now_ns, parse_since

    client = _client(api_url)
    printer = _LogPrinter(output_format)
    began = now_ns()
    try:
        cutoff = format_ns(parse_since(since or ("5s" if follow else "5m")))
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None

    def replay(inv: dict[str, Any], since_time: str | None, sink: Callable[[dict[str, Any]],
               None]) -> None:
        """The lines of one invocation; a running one up to now (or its end)."""
        running = inv.get("status") not in TERMINAL
        idle = LOGS_IDLE_SECONDS if running else None
        for event in client.follow(inv["id"], since=since_time, idle_timeout=idle):
            if event.get("event") != "log":
                continue
            if running and (_ns(event.get("timestamp")) or 0) > began:
                return  # written after we asked: that's --follow's job
            sink(event)

    def tail(inv: dict[str, Any], since_time: str | None, errors: queue.Queue[Any]) -> None:
        try:
            for event in client.follow(inv["id"], since=since_time):
                if event.get("event") == "log":
                    printer.line(inv, event)
        except Exception as exc:  # handed to the main thread
            errors.put(exc)

    if invocation_ref is not None:
        inv = _resolve(client, invocation_ref)
        if inv.get("app_name") != app:
            raise CliError(f"invocation {inv['id']} belongs to app {inv.get('app_name')!r}, "
                           f"not {app!r}", EXIT_USAGE)
        since_time = cutoff if since else None  # without --since: all of its lines
        try:
            if follow:
                for event in client.follow(inv["id"], since=since_time):
                    if event.get("event") == "log":
                        printer.line(inv, event)
            else:
                replay(inv, since_time, lambda event: printer.line(inv, event))
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        return

    # Subscribe before listing, so no invocation falls between the two.
    events = _runner_events(client) if follow else None
    backlog: dict[str, dict[str, Any]] = {}
    for status in (None, "running"):
        for inv in client.iter_invocations(app_name=app, version=version, status=status,
                                           since=cutoff if status is None else None, limit=100):
            backlog.setdefault(inv["id"], inv)
    if not backlog and not follow and not client.list_apps(app_name=app):
        raise CliError(f"not_found: no app {app!r} and no invocations of it at "
                       f"{client.base_url}", 4)
    lines: list[tuple[int, int, dict[str, Any], dict[str, Any]]] = []
    live: list[dict[str, Any]] = []
    for inv in sorted(backlog.values(), key=lambda i: str(i.get("started_at"))):
        if follow and inv.get("status") not in TERMINAL:
            live.append(inv)
            continue

        def collect(event: dict[str, Any], inv: dict[str, Any] = inv) -> None:
            lines.append((_ns(event.get("timestamp")) or 0, len(lines), inv, event))

        replay(inv, cutoff, collect)
    for _, _, inv, event in sorted(lines, key=lambda item: item[:2]):
        printer.line(inv, event)
    if not follow:
        if printer.count == 0 and output_format == "text":
            _console().print(f"[dim]no log lines from {_escape(app)} since "
                             f"{_clock(cutoff, date=True)}[/]")
        return

    errors: queue.Queue[Any] = events if events is not None else queue.Queue()
    seen = set(backlog)

    def start_tail(inv: dict[str, Any], since_time: str | None) -> None:
        seen.add(inv["id"])
        threading.Thread(target=tail, args=(inv, since_time, errors), daemon=True).start()

    for inv in live:
        start_tail(inv, cutoff)
    if output_format == "text":
        _console().print(f"[dim]following {_escape(app)}'s logs at {client.base_url} "
                         f"(Ctrl-C stops)[/]")
    try:
        if events is not None:
            while True:
                item = events.get()
                if isinstance(item, BaseException):
                    raise item
                state = item.get("invocation") if isinstance(item, dict) else None
                if (isinstance(state, dict) and state.get("app_name") == app
                        and state["id"] not in seen
                        and (version is None or state.get("version") == version)):
                    start_tail(state, None)
        else:  # no runner event stream (a hosted API): poll for new invocations
            while True:
                polled = format_ns(now_ns() - 10_000_000_000)
                time.sleep(1.0)
                while not errors.empty():
                    raise errors.get()
                for inv in client.iter_invocations(app_name=app, version=version,
                                                   since=polled, limit=100):
                    if inv["id"] not in seen:
                        start_tail(inv, None)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


@cli.group()
def apps() -> None:
    """The apps (and versions) an API serves.

    \b
      kernel-actions apps list
    """


@apps.command("list")
@click.option("--app", "app_name", default=None, help="Only this app.")
@click.option("--version", "version", default=None, help="Only this version.")
@output_options()
@api_url_option
def apps_list(app_name: str | None, version: str | None, output_format: str,
              api_url: str | None) -> None:
    """List app versions with their actions, and whether their code loads.

    \b
      kernel-actions apps list
      kernel-actions apps list --json | jq '.[].actions[].name'

    "stale" means the latest save of the code failed to load: the runner keeps
    serving the last code that loaded, and says why the new one didn't.
    """
    items = _client(api_url).list_apps(app_name=app_name, version=version)
    if output_format == "json":
        _print_json(items)
        return
    if not items:
        _console().print("no apps")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("app", "version", "deployment", "actions", "code generation", "state"):
        table.add_column(column, no_wrap=column not in ("actions", "state"))
    for app in items:
        if app.get("stale") or app.get("load_error"):
            error = app.get("load_error") or {}
            where = f" ({error['location']})" if error.get("location") else ""
            state = f"[red]stale: {_escape(str(error.get('message', 'load error')) + where)}[/]"
        else:
            state = "[green]ok[/]"
        generation = app.get("code_generation")
        table.add_row(_escape(app["app_name"]), _escape(str(app.get("version"))),
                      _escape(str(app.get("deployment") or "")),
                      _escape(", ".join(a["name"] for a in app.get("actions", []))),
                      "-" if generation is None else str(generation), state)
    _console(stderr=False).print(table)


_SCHEMA_SCRIPT = """
import json, os, sys
answer = sys.stdout
sys.stdout = sys.stderr  # what the app prints while loading stays off the answer
from kernel_actions.errors import AppLoadError
from kernel_actions.loader import load_apps
from kernel_actions.manifest import build_manifest
try:
    loaded = load_apps(sys.argv[1])
    result = {"manifest": build_manifest(loaded.apps, sys.argv[2])}
except AppLoadError as exc:
    result = {"error": str(exc)}
answer.write(json.dumps(result))
answer.flush()
os._exit(0)
"""


def _load_manifest(entrypoint: str, timeout: float = 120.0) -> dict[str, Any]:
    """The manifest of ``entrypoint``, loaded in a subprocess: user code never runs here."""
    import subprocess

    from .loader import split_target

    spec, attr = split_target(entrypoint)
    is_path = spec.endswith(".py") or "/" in spec or os.sep in spec or Path(spec).exists()
    if is_path:
        path = Path(spec).resolve()
        if not path.is_file():
            raise CliError(f"entrypoint {spec} not found", EXIT_USAGE)
        target, cwd, name = str(path) + (f":{attr}" if attr else ""), path.parent, path.name
    else:
        target, cwd, name = entrypoint, Path.cwd(), spec
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _SCHEMA_SCRIPT, target, name], cwd=cwd,
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        raise CliError(f"cannot load {entrypoint}: it took more than {timeout:g} s to import",
                       EXIT_USAGE) from None
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CliError(f"cannot load {entrypoint}: the loading process exited with code "
                       f"{proc.returncode} ({last[0]})", EXIT_USAGE)
    if "error" in result:
        raise CliError(f"cannot load {entrypoint}: {result['error']}", EXIT_USAGE)
    manifest: dict[str, Any] = result["manifest"]
    return manifest


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-t", "--template", default="basic", show_default=True,
              help="The template to start from (see --list).")
@click.option("-n", "--name", "app_name", default=None,
              help="The app's name [default: from DIRECTORY's name].")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@click.option("--list", "list_only", is_flag=True, help="List the templates and exit.")
def create(directory: Path | None, template: str, app_name: str | None, force: bool,
           list_only: bool) -> None:
    """Create a new app in DIRECTORY from a template.

    \b
      kernel-actions create my-app                 # the basic template
      kernel-actions create scraper -t browser
      kernel-actions create --list

    The new folder holds main.py, its tests (test_main.py), a pyproject.toml and a
    README; run `kernel-actions dev main.py` inside it.
    """
    from .scaffold import ScaffoldError, create_app, list_templates

    if list_only:
        for info in list_templates():
            click.echo(f"{info.name:<14} {info.description}")
        return
    if directory is None:
        raise click.UsageError("missing DIRECTORY (or pass --list to see the templates)")
    try:
        created = create_app(directory, template, app_name, force=force)
    except ScaffoldError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    err = _console()
    err.print(f"created {_escape(created.app_name)} from the {template} template "
              f"in {_escape(str(created.path))}")
    for name in created.files:
        err.print(f"  [green]+[/] {_escape(name)}")
    err.print(f"\nnext:\n  cd {_escape(str(created.path))}\n  kernel-actions dev main.py")


@cli.command()
@click.argument("entrypoint", default="main.py")
def schema(entrypoint: str) -> None:
    """Print ENTRYPOINT's manifest: its apps and actions, with JSON Schemas.

    \b
      kernel-actions schema                      # main.py
      kernel-actions schema app/main.py | jq '.apps[0].actions[].name'
      kernel-actions schema my_package.actions   # a module, or path:attr

    The code is loaded in a separate process, never in this one. Code that doesn't
    load is one line with the file and line of the failure, and exit code 2.
    """
    _print_json(_load_manifest(entrypoint))


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The zip to write [default: APP.zip here].")
@click.option("-v", "--verbose", is_flag=True, help="List what was included and left out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def package(entrypoint: str, output: Path | None, verbose: bool, as_json: bool) -> None:
    """Build the zip of ENTRYPOINT's folder that `deploy` uploads.

    \b
      kernel-actions package main.py
      kernel-actions package app/main.py -o dist/app.zip -v

    Honours .gitignore and .ignore; always leaves out virtualenvs, caches, .git, .kernel/,
    .env files and secret-looking files. The same tree gives the same bytes. Prints the
    zip's path.
    """
    report = _package(entrypoint, output, verbose, quiet=as_json)
    if as_json:
        _print_json({
            "path": str(report.path), "entrypoint_rel_path": report.entrypoint_rel_path,
            "files": report.files, "excluded": [list(e) for e in report.excluded],
            "size_bytes": report.size_bytes, "uncompressed_bytes": report.uncompressed_bytes,
            "dependency_file": report.dependency_file, "sha256": report.sha256,
            "warnings": report.warnings, "manifest": report.manifest,
        })
    else:
        click.echo(str(report.path))


def _package(entrypoint: str, output: Path | None, verbose: bool, *,
             quiet: bool = False) -> BundleReport:
    from .packaging import PackagingError, build_bundle

    err = _console()
    try:
        with _spinner(err, "packaging…", enabled=not quiet):
            report = build_bundle(Path(entrypoint), output)
    except PackagingError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if quiet:
        return report
    if verbose:
        for name in report.files:
            err.print(f"  [green]+[/] {_escape(name)}")
        for name, why in report.excluded:
            err.print(f"  [dim]- {_escape(name)} ({_escape(why)})[/]")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {_escape(warning)}")
    err.print(f"{len(report.files)} files, {report.size_bytes / 1024:.1f} KiB, "
              f"sha256 {report.sha256[:12]}")
    return report


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("--version", "version", default="latest", show_default=True,
              help="Version label to deploy as.")
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE",
              help="An environment variable for the app (repeatable).")
@click.option("--env-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Read KEY=value lines from a file.")
@click.option("--force", is_flag=True, help="Replace an existing version with the same label.")
@output_options()
@api_url_option
def deploy(entrypoint: str, version: str, env: tuple[str, ...], env_file: str | None,
           force: bool, output_format: str, api_url: str | None) -> None:
    """Package ENTRYPOINT's folder, upload it, and follow the deployment.

    \b
      kernel-actions deploy main.py --version 1.0.0 -e API_TOKEN=...
      kernel-actions deploy main.py --api-url http://127.0.0.1:8484   # to a local `serve`

    Exits 0 once the deployment is running, 1 if it failed.
    """
    import tempfile

    env_vars: dict[str, str] = {}
    if env_file:
        from dotenv import dotenv_values

        env_vars.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"-e takes KEY=value, got {item!r}", EXIT_USAGE)
        env_vars[key] = value
    client = _client(api_url)
    with tempfile.TemporaryDirectory() as tmp:
        report = _package(entrypoint, Path(tmp) / "bundle.zip", False,
                          quiet=output_format != "text")
        bundle = report.path.read_bytes()
    err = _console()
    dep = client.deploy(bundle, entrypoint_rel_path=report.entrypoint_rel_path,
                        version=version, env_vars=env_vars, force=force)
    if output_format == "text":
        err.print(f"deployment [bold]{dep['id']}[/] to {client.base_url}")
    summaries: list[dict[str, Any]] = []
    final = dep
    try:
        with _spinner(err, "deploying…", enabled=output_format == "text") as spinner:
            for event in client.follow_deployment(dep["id"]):
                kind = event.get("event")
                if kind == "log" and output_format == "text":
                    err.print(f"[dim]{_escape(str(event.get('message', '')))}[/]")
                elif kind == "app_version_summary":
                    summaries.append(event)
                elif kind == "deployment_state":
                    final = event["deployment"]
                    if spinner is not None:
                        spinner.update(f"{final['status']}…")
    except KeyboardInterrupt:
        err.print(f"stopped following deployment {dep['id']}; it goes on")
        sys.exit(EXIT_INTERRUPTED)
    if output_format == "json":
        _print_json({"deployment": final, "apps": summaries})
    if final["status"] != "running":
        if output_format == "text":
            err.print(f"[red]✗ deployment {final['status']}:[/] "
                      f"{_escape(final.get('status_reason') or '')}")
        sys.exit(EXIT_FAILED)
    if output_format == "text":
        for app in summaries:
            names = ", ".join(a["name"] for a in app["actions"])
            err.print(f"[green]✓[/] app {_escape(app['app_name'])} deployed (version "
                      f"{_escape(app['version'])}): {_escape(names)}")
            if app["actions"]:
                err.print(f"  try: kernel-actions invoke {app['app_name']} "
                          f"{app['actions'][0]['name']} -v {app['version']}{_again(api_url)}")


def main() -> None:
    try:
        cli(prog_name="kernel-actions")
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)


if __name__ == "__main__":
    main()
