"""Shipping an app: ``apps``, ``create``, ``schema``, ``package`` and ``deploy``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .exit_codes import ExitCode, UsageProblem
from .group import cli
from .output import (
    again,
    api_url_option,
    console,
    escape,
    make_client,
    output_options,
    print_json,
    spinner,
)

if TYPE_CHECKING:
    from ..packaging import BundleReport

__all__ = ["apps", "create", "schema", "package", "deploy"]


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
    items = make_client(api_url).list_apps(app_name=app_name, version=version)
    if output_format == "json":
        print_json(items)
        return
    if not items:
        console().print("no apps")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("app", "version", "deployment", "actions", "code generation", "state"):
        table.add_column(column, no_wrap=column not in ("actions", "state"))
    for app in items:
        if app.get("stale") or app.get("load_error"):
            error = app.get("load_error") or {}
            where = f" ({error['location']})" if error.get("location") else ""
            state = f"[red]stale: {escape(str(error.get('message', 'load error')) + where)}[/]"
        else:
            state = "[green]ok[/]"
        generation = app.get("code_generation")
        table.add_row(escape(app["app_name"]), escape(str(app.get("version"))),
                      escape(str(app.get("deployment") or "")),
                      escape(", ".join(a["name"] for a in app.get("actions", []))),
                      "-" if generation is None else str(generation), state)
    console(stderr=False).print(table)


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

    from ..loader import split_target

    spec, attr = split_target(entrypoint)
    is_path = spec.endswith(".py") or "/" in spec or os.sep in spec or Path(spec).exists()
    if is_path:
        path = Path(spec).resolve()
        if not path.is_file():
            from ..suggest import did_you_mean

            nearby = [p.name for p in path.parent.glob("*.py")] if path.parent.is_dir() else []
            raise UsageProblem(f"entrypoint {spec} not found: no such file"
                               f"{did_you_mean(path.name, nearby)}")
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
        raise UsageProblem(f"cannot load {entrypoint}: it took more than {timeout:g} s to "
                           f"import") from None
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise UsageProblem(f"cannot load {entrypoint}: the loading process exited with code "
                       f"{proc.returncode} ({last[0]})")
    if "error" in result:
        raise UsageProblem(f"cannot load {entrypoint}: {result['error']}")
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
    from ..scaffold import ScaffoldError, create_app, list_templates, next_steps

    if list_only:
        for info in list_templates():
            click.echo(f"{info.name:<14} {info.description}")
        return
    if directory is None:
        raise click.UsageError("missing DIRECTORY (or pass --list to see the templates)")
    try:
        created = create_app(directory, template, app_name, force=force)
    except ScaffoldError as exc:
        raise UsageProblem(str(exc)) from None
    err = console()
    err.print(f"created {escape(created.app_name)} from the {template} template "
              f"in {escape(str(created.path))}")
    for name in created.files:
        err.print(f"  [green]+[/] {escape(name)}")
    steps = next_steps(created)
    width = max(len(command) for command, why in steps if why)
    err.print("\nnext:")
    for command, why in steps:
        comment = f"  [dim]# {escape(why)}[/]" if why else ""
        err.print(f"  {escape(command.ljust(width))}{comment}".rstrip())


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
    print_json(_load_manifest(entrypoint))


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("--zip", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE", help="The zip to write [default: APP.zip here].")
# Its old spelling: -o is the output format in every other command.
@click.option("-o", "--output", "output_legacy", hidden=True, default=None,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="List what was included and left out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def package(entrypoint: str, output: Path | None, output_legacy: Path | None, verbose: bool,
            as_json: bool) -> None:
    """Build the zip of ENTRYPOINT's folder that `deploy` uploads.

    \b
      kernel-actions package main.py
      kernel-actions package app/main.py --zip dist/app.zip -v

    Honours .gitignore and .ignore; always leaves out virtualenvs, caches, .git, .kernel/,
    .env files and secret-looking files. The same tree gives the same bytes. Prints the
    zip's path.
    """
    report = _package(entrypoint, output or output_legacy, verbose, quiet=as_json)
    if as_json:
        print_json({
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
    from ..packaging import PackagingError, build_bundle

    err = console()
    try:
        with spinner(err, "packaging…", enabled=not quiet):
            report = build_bundle(Path(entrypoint), output)
    except PackagingError as exc:
        raise UsageProblem(str(exc)) from None
    if quiet:
        return report
    if verbose:
        for name in report.files:
            err.print(f"  [green]+[/] {escape(name)}")
        for name, why in report.excluded:
            err.print(f"  [dim]- {escape(name)} ({escape(why)})[/]")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
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
            raise UsageProblem(f"-e takes KEY=value, got {item!r}")
        env_vars[key] = value
    client = make_client(api_url)
    with tempfile.TemporaryDirectory() as tmp:
        report = _package(entrypoint, Path(tmp) / "bundle.zip", False,
                          quiet=output_format != "text")
        bundle = report.path.read_bytes()
    err = console()
    dep = client.deploy(bundle, entrypoint_rel_path=report.entrypoint_rel_path,
                        version=version, env_vars=env_vars, force=force)
    if output_format == "text":
        err.print(f"deployment [bold]{dep['id']}[/] to {client.base_url}")
    summaries: list[dict[str, Any]] = []
    final = dep
    try:
        with spinner(err, "deploying…", enabled=output_format == "text") as status_line:
            for event in client.follow_deployment(dep["id"]):
                kind = event.get("event")
                if kind == "log" and output_format == "text":
                    err.print(f"[dim]{escape(str(event.get('message', '')))}[/]")
                elif kind == "app_version_summary":
                    summaries.append(event)
                elif kind == "deployment_state":
                    final = event["deployment"]
                    if status_line is not None:
                        status_line.update(f"{final['status']}…")
    except KeyboardInterrupt:
        err.print(f"stopped following deployment {dep['id']}; it goes on")
        sys.exit(ExitCode.INTERRUPTED)
    if output_format == "json":
        print_json({"deployment": final, "apps": summaries})
    if final["status"] != "running":
        if output_format == "text":
            err.print(f"[red]✗ deployment {final['status']}:[/] "
                      f"{escape(final.get('status_reason') or '')}")
        sys.exit(ExitCode.FAILED)
    if output_format == "text":
        for app in summaries:
            names = ", ".join(a["name"] for a in app["actions"])
            err.print(f"[green]✓[/] app {escape(app['app_name'])} deployed (version "
                      f"{escape(app['version'])}): {escape(names)}")
            if app["actions"]:
                err.print(f"  try: kernel-actions invoke {app['app_name']} "
                          f"{app['actions'][0]['name']} -v {app['version']}{again(api_url)}")
