"""``dev`` and ``serve``: the local runner, on live code or on deployed versions.

Both take the same runner settings, declared once in :data:`RUNNER_OPTIONS` (each option's
parameter is named after the :class:`~kernel_actions.runner.config.Config` field it sets),
and end the same way (:func:`run_runner`).
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ..log_levels import LEVELS
from .exit_codes import CannotListen, ExitCode, UsageProblem
from .group import cli

if TYPE_CHECKING:
    import asyncio

    from ..runner.config import Config
    from ..runner.head_start import HeadStart
    from ..runner.server import Runner

__all__ = ["dev", "serve", "runner_options", "RUNNER_OPTIONS", "run_runner"]

F = TypeVar("F", bound=Callable[..., Any])

#: The settings ``dev`` and ``serve`` share; each parameter name is a ``Config`` field.
RUNNER_OPTIONS: tuple[Callable[[F], F], ...] = (
    click.option("--host", "host", default="127.0.0.1", show_default=True,
                 help="Address to listen on."),
    click.option("--port", "port", default=None, type=int,
                 help="Port to listen on [default: 8484; 0 picks a free one]."),
    click.option("--sync-timeout", "sync_timeout", default=100.0, show_default=True,
                 type=float, help="Seconds a synchronous invocation may run."),
    click.option("--max-concurrency", "max_concurrency", default=50, show_default=True,
                 type=int, help="Invocations running at once."),
    click.option("--api-key", "api_key", envvar="KERNEL_ACTIONS_API_KEY", default=None,
                 help="Require this bearer token on every request (needed off loopback)."),
    click.option("--worker-memory-limit", "worker_memory_mb", type=float, default=None,
                 metavar="MB",
                 help="Kill a worker whose memory passes MB (its invocations fail as crashed)."),
    click.option("--max-browsers", "max_browsers", default=5, show_default=True, type=int,
                 help="Local Chromium browsers (POST /browsers) running at once."),
    click.option("--warm-browsers", "warm_browsers", default=0, show_default=True, type=int,
                 metavar="N",
                 help="Spare browsers kept started from the start, so POST /browsers answers "
                      "at once [0: one spare once a browser was asked for]; they count "
                      "toward --max-browsers."),
    click.option("--browser-path", "browser_path", type=click.Path(dir_okay=False),
                 default=None,
                 help="Chromium or Chrome to start for POST /browsers [default: "
                      "$KERNEL_ACTIONS_BROWSER, else chromium or chrome on PATH, else "
                      "Playwright's download]."),
    click.option("--allow-local-deps", "allow_local_deps", is_flag=True,
                 help="Let deployments declare local paths and file: URLs as dependencies."),
    click.option("--allow-process", "allow_process", is_flag=True,
                 help="Serve browsers.process: commands run on this machine as your user."),
    click.option("--allow-other-users", "allow_other_users", is_flag=True,
                 help="Let other users of this machine use a runner without --api-key "
                      "[default: only you and root]. See README: Security model."),
    click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME[:PORT]",
                 help="Also accept requests addressed to this host name (repeatable; * for "
                      "any). See README: Security model."),
    click.option("--log-level", "log_level", default=None,
                 type=click.Choice(LEVELS, case_sensitive=False),
                 help="Lowest level of libraries' log records kept in invocation logs "
                      "[default: warning; the app's own INFO lines are always kept; info "
                      "shows e.g. httpx's requests]."),
)


def _param_name(option: Callable[..., Any]) -> str:
    probe = option(lambda: None)
    return str(probe.__click_params__[-1].name)  # type: ignore[attr-defined]


_SETTING_NAMES = tuple(_param_name(option) for option in RUNNER_OPTIONS)


def runner_options(f: F) -> F:
    """Add :data:`RUNNER_OPTIONS`; the command gets them as one ``settings`` dict."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..runner.config import DEFAULT_PORT

        settings = {name: kwargs.pop(name) for name in _SETTING_NAMES}
        if settings["port"] is None:
            settings["port"] = DEFAULT_PORT
        return f(*args, settings=settings, **kwargs)

    wrapped: Any = wrapper
    for option in reversed(RUNNER_OPTIONS):
        wrapped = option(wrapped)
    return cast(F, wrapped)


def keep_files_private() -> None:
    """What this process (a runner, from here on) and what it starts for itself create is
    its owner's only (see :mod:`..runner.engine.private_files`)."""
    from ..runner.engine.private_files import keep_files_private as owner_only

    owner_only()


def build_config(make: Callable[[], Config]) -> Config:
    """A checked config; a setting that can't work is a usage error (exit 2)."""
    from ..runner.config import ConfigError

    try:
        config = make()
        config.validate()
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    return config


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the runner's own event loop where it is installed (not on Windows).

    The HTTP layer then runs on libuv and uvicorn's httptools parser (installed with it);
    user code in the workers keeps the standard asyncio loop, as on the hosted platform.
    The loop is run by asyncio itself: anyio's runner would import its asyncio backend (a
    tenth of the runner's imports) on the way to the first answer; Starlette imports it
    later, where it needs it.
    """
    import os

    if os.environ.get("KERNEL_ACTIONS_LOOP") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _cannot_listen(config: Config, exc: OSError) -> CannotListen:
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        hint = (f"; another program (perhaps another runner) uses port {config.port}: "
                "pass --port 0 to pick a free one, or --port N")
    return CannotListen(f"cannot listen on {config.host}:{config.port}: "
                        f"{exc.strerror or exc}{hint}")


def run_runner(config: Config, started: Callable[[Runner], None],
               watcher: Callable[[Runner], Any] | None = None,
               head: HeadStart | None = None) -> None:
    """Serve until stopped; exit 130 when stopped by a signal.

    ``head``: the socket already bound and the first worker already started
    (:mod:`..runner.head_start`), handed to the runner; released here if it never
    took them (an error, or Ctrl-C while the server stack imports)."""
    try:
        import asyncio

        from ..runner.server import Runner
        from ..runner.server import serve as serve_forever
        from .runner_log import runner_output

        out = runner_output()

        def announce(runner: Runner) -> None:
            out.flush()  # the runner's lines so far, then the banner
            started(runner)

        first_worker = head.take_worker() if head is not None else None

        async def main() -> Runner:
            return await serve_forever(
                config, runner=Runner(config, out=out, first_worker=first_worker),
                started=announce, watcher=watcher, sock=head.sock if head else None)

        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as loop:
                runner = loop.run(main())
        except OSError as exc:
            raise _cannot_listen(config, exc) from None
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    finally:
        if head is not None:
            head.close()
    if runner.forced_exit:
        sys.exit(ExitCode.INTERRUPTED)


def _print_apps(runner: Runner) -> list[dict[str, Any]]:
    apps = runner.app_summaries()
    for app in apps:
        names = ", ".join(a["name"] for a in app["actions"])
        click.echo(f"  app {app['app_name']} ({app['version']}): {names}", err=True)
    return apps


def banner_examples(apps: list[dict[str, Any]], url: str) -> list[str]:
    """Per app, its actions, each as a command to copy (with an example payload)."""
    import shlex

    from ..tooling.discovery import DEFAULT_URL
    from ..tooling.examples import example_payload

    where = "" if url == DEFAULT_URL else f" --api-url {url}"
    lines = []
    for app in apps:
        version = "" if app["version"] == "latest" else f" --version {shlex.quote(app['version'])}"
        lines.append(f"  app {app['app_name']} ({app['version']}): "
                     f"{len(app['actions'])} action(s)")
        for action in app["actions"]:
            payload = example_payload(action.get("input_schema"))
            body = f" -p {shlex.quote(payload)}" if payload is not None else ""
            lines.append(f"    kernel-actions invoke {shlex.quote(app['app_name'])} "
                         f"{shlex.quote(action['name'])}{body}{version}{where}")
    return lines


def _echo_node(target: str, env: dict[str, str]) -> None:
    """For a TypeScript or JavaScript app: which Node runs it, and why that one."""
    from ..runner.engine.node_runtime import NodeUnavailable, choose_node, is_node_target

    if not is_node_target(target):
        return
    try:
        click.echo(f"  runs on {choose_node(env).describe()}", err=True)
    except NodeUnavailable:
        pass  # the load failure below says what to install


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where invocations are stored [default: .kernel/ in the app's folder].")
@click.option("--app-version", "app_version", default=None,
              help="Version label the live code is served as [default: latest].")
# Its old spelling; `kernel-actions --version` (-V) prints the program's version.
@click.option("--version", "app_version_legacy", default=None, hidden=True)
@click.option("--reload/--no-reload", default=True, show_default=True,
              help="Load new code on every save.")
@click.option("--echo-logs", is_flag=True, help="Print every invocation's log lines here too.")
@click.option("--debug", is_flag=True,
              help="Workers listen with debugpy; breakpoints stop the invocation's clock.")
@click.option("--debug-port", default=5678, show_default=True, type=int,
              help="First port the workers' debuggers listen on (one per generation).")
@click.option("--wait", "debug_wait", is_flag=True,
              help="With --debug: the first invocation waits until a debugger attaches.")
@runner_options
def dev(entrypoint: str, data_dir: Path | None, app_version: str | None,
        app_version_legacy: str | None, reload: bool, echo_logs: bool, debug: bool,
        debug_port: int, debug_wait: bool,
        settings: dict[str, Any]) -> None:
    """Run the local runner on ENTRYPOINT (a file, module, or path:attr) with hot reload."""
    from ..runner.config import Config

    app_version = app_version or app_version_legacy or "latest"
    config = build_config(lambda: Config.for_entrypoint(
        entrypoint, data_dir=data_dir, version=app_version, reload=reload,
        echo_logs=echo_logs, debug=debug, debug_port=debug_port, debug_wait=debug_wait,
        **settings))
    keep_files_private()

    def started(runner: Runner) -> None:
        click.echo(f"kernel-actions runner listening on {runner.url}", err=True)
        if reload:
            click.echo(f"  reload: on (saving a file under {config.app_dir} loads the new code; "
                       "--no-reload turns it off)", err=True)
        else:
            click.echo("  reload: off", err=True)
        live = runner.live
        if live is not None:
            _echo_node(live.target, runner.worker_env())
        if live is not None and live.load_error is not None:
            click.echo(f"  code failed to load: {live.load_error}", err=True)
        for line in banner_examples(runner.app_summaries(), runner.url):
            click.echo(line, err=True)
        click.echo(f"  dashboard: {runner.url}/", err=True)
        click.echo(f"  data: {config.data_dir}", err=True)

    # Listen and start the first worker now, before the server stack is imported: the
    # worker's imports then run beside the runner's.
    from ..runner.head_start import head_start

    try:
        head = head_start(config)
    except OSError as exc:
        raise _cannot_listen(config, exc) from None
    watcher = None
    try:
        if reload:
            from ..runner.reload import watch_and_reload

            watcher = watch_and_reload
    except BaseException:
        head.close()
        raise
    run_runner(config, started, watcher, head)


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".kernel"), show_default=True,
              help="Where deployments and invocations are stored.")
@runner_options
def serve(data_dir: Path, settings: dict[str, Any]) -> None:
    """Run the runner without live code, hosting the versions deployed to it.

    Deploy to it with `kernel-actions deploy main.py --api-url http://127.0.0.1:8484`
    (or any client's POST /deployments); deployed versions survive restarts.
    """
    from ..runner.config import Config

    config = build_config(lambda: Config(entrypoint=None, data_dir=data_dir, reload=False,
                                         **settings))
    keep_files_private()

    def started(runner: Runner) -> None:
        click.echo(f"kernel-actions runner listening on {runner.url}", err=True)
        _print_apps(runner)
        click.echo(f"  dashboard: {runner.url}/", err=True)
        click.echo(f"  data: {config.data_dir}", err=True)
        click.echo(f"  deploy: kernel-actions deploy main.py --api-url {runner.url}", err=True)

    run_runner(config, started)
