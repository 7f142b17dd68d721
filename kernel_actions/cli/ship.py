"""Shipping an app: ``apps``, ``create``, ``schema``, ``package`` and ``deploy``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
    from ..tooling.code_manifest import CodeManifest
    from ..tooling.packaging import BundleReport

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
      kernel-actions apps list -o json | jq '.[].actions[].name'

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


F = TypeVar("F", bound=Callable[..., Any])


def env_options(f: F) -> F:
    """``-e KEY=value`` and ``--env-file``, both repeatable, as Kernel's CLI takes them."""
    f = click.option("--env-file", "env_files", multiple=True,
                     type=click.Path(dir_okay=False, exists=True),
                     help="Read KEY=value lines from a file (repeatable).")(f)
    return click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE",
                        help="An environment variable for the app (repeatable).")(f)


def strict_option(f: F) -> F:
    return click.option(
        "--strict", is_flag=True,
        help="Fail when the code does not load here, instead of shipping the apps and "
             "actions found in its source without schemas.")(f)


def read_env_vars(env: tuple[str, ...], env_files: tuple[str, ...]) -> dict[str, str]:
    """The app's environment: the files in order, then ``-e`` values over them."""
    env_vars: dict[str, str] = {}
    if env_files:
        from dotenv import dotenv_values

        for env_file in env_files:
            env_vars.update({k: v for k, v in dotenv_values(env_file).items()
                             if v is not None})
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageProblem(f"-e takes KEY=value, got {item!r}")
        env_vars[key] = value
    return env_vars


def _warn_reserved(env_vars: dict[str, str], say: Callable[[str], None]) -> None:
    """Warn, as Kernel's CLI does, of variables the platform sets on every deployment: a
    value given for one is overridden (by Kernel, and by a local runner alike)."""
    from ..env_contract import PLATFORM_SET

    for name in sorted(PLATFORM_SET & env_vars.keys()):
        say(f"warning: {name} is reserved by Kernel and will be ignored (Kernel sets it "
            "automatically). Use a different variable name if you need your own value.")


def _manifest(entrypoint: str, env_vars: dict[str, str], strict: bool) -> CodeManifest:
    """ENTRYPOINT's manifest (see :mod:`kernel_actions.tooling.code_manifest`); exit 2 if none."""
    from ..entrypoint import EntrypointNotFound, resolve_entrypoint
    from ..tooling.code_manifest import ManifestError, read_manifest

    try:
        found = read_manifest(resolve_entrypoint(entrypoint), env_vars=env_vars)
    except (EntrypointNotFound, ManifestError) as exc:
        prefix = "" if isinstance(exc, EntrypointNotFound) else f"cannot load {entrypoint}: "
        raise UsageProblem(f"{prefix}{exc}") from None
    if strict and found.is_static:
        raise UsageProblem(f"cannot load {entrypoint}: {found.fallback_reason}")
    return found


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-l", "--language", type=click.Choice(["python", "typescript", "py", "ts"]),
              default="python", show_default=True,
              help="The app's language: Python (kernel_actions) or TypeScript (@onkernel/sdk).")
@click.option("-t", "--template", default=None,
              help="The template to start from (see --list) [default: basic; sample-app for "
                   "TypeScript].")
@click.option("-n", "--name", "app_name", default=None,
              help="The app's name [default: from DIRECTORY's name].")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@click.option("--list", "list_only", is_flag=True, help="List the templates and exit.")
def create(directory: Path | None, language: str, template: str | None, app_name: str | None,
           force: bool, list_only: bool) -> None:
    """Create a new app in DIRECTORY from a template.

    \b
      kernel-actions create my-app                 # the basic template
      kernel-actions create scraper -t browser
      kernel-actions create my-ts-app --language typescript -t sample-app
      kernel-actions create --list

    The new folder holds main.py, its tests (test_main.py), a pyproject.toml and a
    README; run `kernel-actions dev main.py` inside it.
    """
    from ..tooling.scaffold import ScaffoldError, create_app, list_templates, next_steps

    language = {"py": "python", "ts": "typescript"}.get(language, language)
    if list_only:
        for info in list_templates(None):
            click.echo(f"{info.name:<14} {info.language:<11} {info.description}")
        return
    if directory is None:
        raise click.UsageError("missing DIRECTORY (or pass --list to see the templates)")
    try:
        created = create_app(directory, template, app_name, force=force, language=language)
    except ScaffoldError as exc:
        raise UsageProblem(str(exc)) from None
    err = console()
    kind = "" if created.language == "python" else f"{created.language} "
    err.print(f"created {escape(created.app_name)} from the {kind}{created.template} template "
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
@env_options
@strict_option
def schema(entrypoint: str, env: tuple[str, ...], env_files: tuple[str, ...],
           strict: bool) -> None:
    """Print ENTRYPOINT's manifest: its apps and actions, with JSON Schemas.

    \b
      kernel-actions schema                      # main.py
      kernel-actions schema app/main.py | jq '.apps[0].actions[].name'
      kernel-actions schema my_package.actions   # a module, or path:attr
      kernel-actions schema main.py --env-file .env

    The code is loaded in a separate process, never in this one, as the platform runs
    it: in its folder, with its .venv when it has one, the -e/--env-file values and a
    placeholder KERNEL_API_KEY. Code that still doesn't load has its apps and actions
    read from the source, without schemas, and one warning line says why (--strict:
    exit 2). Code whose source names no app is one line with the file and line of the
    failure, and exit code 2.
    """
    found = _manifest(entrypoint, read_env_vars(env, env_files), strict)
    print_json(found.manifest)
    if found.is_static:
        names = [f"{app['name']}/{action['name']}" for app in found.manifest["apps"]
                 for action in app["actions"]]
        console().print(f"[yellow]warning:[/] no schema for {escape(', '.join(names) or 'any action')}"
                        f": the code does not load here ({escape(str(found.fallback_reason))})")


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("--zip", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE", help="The zip to write [default: APP.zip here].")
# Its old spelling: -o is the output format in every other command.
@click.option("-o", "--output", "output_legacy", hidden=True, default=None,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="List what was included and left out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@env_options
@strict_option
def package(entrypoint: str, output: Path | None, output_legacy: Path | None, verbose: bool,
            as_json: bool, env: tuple[str, ...], env_files: tuple[str, ...],
            strict: bool) -> None:
    """Build the zip of ENTRYPOINT's folder that `deploy` uploads.

    \b
      kernel-actions package main.py
      kernel-actions package app/main.py --zip dist/app.zip -v

    Honours .gitignore and .ignore; always leaves out virtualenvs, caches, build output,
    .git, .kernel/, .env files, secret-looking files and zips written by this command.
    The same tree gives the same bytes. Prints the zip's path. The manifest is built as
    `schema` builds it (-e/--env-file/--strict as there).
    """
    report = _package(entrypoint, output or output_legacy, verbose, quiet=as_json,
                      env_vars=read_env_vars(env, env_files), strict=strict)
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


def _package(entrypoint: str, output: Path | None, verbose: bool, *, quiet: bool = False,
             env_vars: dict[str, str] | None = None, strict: bool = False) -> BundleReport:
    from ..entrypoint import EntrypointNotFound, resolve_entrypoint
    from ..tooling.packaging import PackagingError, build_bundle

    err = console()
    try:
        entry = resolve_entrypoint(entrypoint)
    except EntrypointNotFound as exc:
        raise UsageProblem(str(exc)) from None
    if entry.path is None:
        raise UsageProblem(f"package and deploy take a file (main.py), not the module "
                           f"{entrypoint!r}")
    try:
        with spinner(err, "packaging…", enabled=not quiet):
            report = build_bundle(entry.path, output, env_vars=env_vars, strict=strict)
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


def _check_declared_env(entrypoint: str, env_vars: dict[str, str]) -> None:
    """Refuse, before packaging, a deploy that lacks a variable the app declares it needs."""
    from ..env_contract import declared_env, missing_env, missing_message

    path = Path(entrypoint)
    found = declared_env(path) if path.suffix == ".py" and path.is_file() else None
    if found is None:
        return
    declared, source = found
    missing = missing_env(declared, env_vars)
    if missing:
        raise UsageProblem(missing_message(
            missing, source, "with -e NAME=value or --env-file FILE (or pass --no-env-check)"))


@cli.command()
@click.argument("entrypoint", default="main.py")
@click.option("--version", "version", default="latest", show_default=True,
              help="Version label to deploy as.")
@env_options
@click.option("--force", is_flag=True, help="Replace an existing version with the same label.")
@click.option("--region", default=None, metavar="REGION",
              help="Deployment region, sent to the API (Kernel: aws.us-east-1a); a local "
                   "runner ignores it.")
@click.option("--no-env-check", is_flag=True,
              help="Upload even if a variable the app declares (App(env=...), .env.example) "
                   "is not given with -e/--env-file.")
@strict_option
@output_options()
@api_url_option
def deploy(entrypoint: str, version: str, env: tuple[str, ...], env_files: tuple[str, ...],
           force: bool, region: str | None, no_env_check: bool, strict: bool,
           output_format: str, api_url: str | None) -> None:
    """Package ENTRYPOINT's folder, upload it, and follow the deployment.

    \b
      kernel-actions deploy main.py --version 1.0.0 -e API_TOKEN=...
      kernel-actions deploy main.py --env-file .env
      kernel-actions deploy main.py --api-url http://127.0.0.1:8484   # to a local `serve`

    Sends what Kernel's POST /deployments takes, so KERNEL_BASE_URL may name Kernel's
    API. The manifest is built as `schema` builds it, with the -e/--env-file values.
    Exits 0 once the deployment is running, 1 if it failed.
    """
    import tempfile

    env_vars = read_env_vars(env, env_files)
    err = console()
    _warn_reserved(env_vars, err.print)
    if not no_env_check:
        _check_declared_env(entrypoint, env_vars)
    client = make_client(api_url)
    if region is not None and client.is_local:
        err.print(f"notice: --region {escape(region)} is sent, and a local runner ignores it")
    with tempfile.TemporaryDirectory() as tmp:
        report = _package(entrypoint, Path(tmp) / "bundle.zip", False,
                          quiet=output_format != "text", env_vars=env_vars, strict=strict)
        bundle = report.path.read_bytes()
    dep = client.deploy(bundle, entrypoint_rel_path=report.entrypoint_rel_path,
                        version=version, env_vars=env_vars, force=force, region=region)
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
