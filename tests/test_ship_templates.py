"""Shipping apps shaped like Kernel's Python templates: a module-level ``Kernel()`` client, an
API key read (and required) at import, a vendor package the shipping machine doesn't have.
``schema``, ``package`` and ``deploy`` succeed with every action in the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

from kernel_actions.cli import cli
from kernel_actions.runner.reload import ChangeFilter
from kernel_actions.tooling.packaging import build_bundle

from .conftest import RunnerProcess

MAIN = '''\
import os
from typing import TypedDict

import kernel
from kernel import Kernel

import acme_vision  # a vendor SDK: declared in pyproject.toml, not installed everywhere


class TaskInput(TypedDict):
    query: str


client = Kernel()  # reads KERNEL_API_KEY at import, as the templates' clients do

api_key = os.getenv("ACME_API_KEY")
if not api_key:
    raise ValueError("ACME_API_KEY is not set")

app = kernel.App("shape-app")


@app.action("cua-task")
async def cua_task(ctx: kernel.KernelContext, payload: TaskInput) -> dict:
    """Run a task with the vendor's model."""
    return {"query": payload["query"], "model": acme_vision.MODEL}


@app.action("get-page-title")
def title(ctx: kernel.KernelContext) -> str:
    return acme_vision.MODEL
'''
ACTIONS = ["cua-task", "get-page-title"]


def make_app(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(MAIN)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "shape-app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["kernel>=0.1", "acme-vision>=1.0"]\n')
    (folder / ".gitignore").write_text("__pycache__/\n.env\n")
    return folder / "main.py"


def vendor_site(folder: Path) -> Path:
    """A folder where ``acme_vision`` 1.0 is installed (with its dist-info)."""
    (folder / "acme_vision").mkdir(parents=True)
    (folder / "acme_vision" / "__init__.py").write_text("MODEL = 'acme-1'\n")
    meta = folder / "acme_vision-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-vision\nVersion: 1.0\n")
    return folder


def run(*args: str, base_url: str | None = None, pythonpath: Path | None = None) -> Result:
    env = {"KERNEL_BASE_URL": base_url, "KERNEL_API_KEY": None, "ACME_API_KEY": None,
           "PYTHONPATH": str(pythonpath) if pythonpath else None}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def action_names(manifest: dict) -> list[str]:
    return [a["name"] for app in manifest["apps"] for a in app["actions"]]


def test_schema_of_code_that_does_not_load_here_lists_every_action_and_says_why(
        tmp_path: Path) -> None:
    entry = make_app(tmp_path / "app")
    out = run("schema", str(entry))
    assert out.exit_code == 0, out.output
    manifest = json.loads(out.stdout)
    assert manifest["apps"][0]["name"] == "shape-app" and action_names(manifest) == ACTIONS
    assert all(a["input_schema"] is None for a in manifest["apps"][0]["actions"])
    assert manifest["apps"][0]["actions"][0]["description"] == "Run a task with the vendor's model."
    assert out.stderr.count("\n") == 1
    assert "no schema for shape-app/cua-task, shape-app/get-page-title" in out.stderr
    assert "No module named 'acme_vision'" in out.stderr and "main.py:7" in out.stderr
    assert "a .venv in the app's folder with pyproject.toml's dependencies" in out.stderr

    strict = run("schema", str(entry), "--strict")
    assert strict.exit_code == 2 and "acme_vision" in strict.stderr and not strict.stdout

    # With the package, the next thing is the key read at import; `Kernel()` itself loads.
    vendor = vendor_site(tmp_path / "vendor")
    keyless = run("schema", str(entry), pythonpath=vendor)
    assert keyless.exit_code == 0 and action_names(json.loads(keyless.stdout)) == ACTIONS
    assert "ValueError: ACME_API_KEY is not set (" in keyless.stderr

    # With both, the code loads: schemas, no warning.
    keyed = run("schema", str(entry), "-e", "ACME_API_KEY=k", "--strict", pythonpath=vendor)
    assert keyed.exit_code == 0 and keyed.stderr == ""
    assert json.loads(keyed.stdout)["apps"][0]["actions"][0]["input_schema"] is not None


def test_schema_loads_the_code_with_the_apps_own_venv(tmp_path: Path) -> None:
    entry = make_app(tmp_path / "app")
    venv = entry.parent / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # The app's environment: its vendor package, plus what this one has (kernel, pydantic).
    vendor = vendor_site(tmp_path / "vendor")
    (site / "deps.pth").write_text(f"{vendor}\n{sysconfig.get_paths()['purelib']}\n")
    (entry.parent / ".env").write_text("ACME_API_KEY=from-the-file\n")

    out = run("schema", str(entry), "--env-file", str(entry.parent / ".env"), "--strict")
    assert out.exit_code == 0, out.output
    assert out.stderr == ""
    actions = json.loads(out.stdout)["apps"][0]["actions"]
    assert [a["name"] for a in actions] == ACTIONS
    assert actions[0]["input_schema"]["properties"] == {"query": {"title": "Query",
                                                                  "type": "string"}}


def test_package_ships_every_action_and_never_bundles_its_own_zips(tmp_path: Path) -> None:
    entry = make_app(tmp_path / "app")
    first = run("package", str(entry), "-o", str(entry.parent / "app.zip"))
    assert first.exit_code == 0, first.output
    warnings = [ln for ln in first.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "without input/output schemas" in warnings[0]
    assert "acme_vision" in warnings[0]
    with zipfile.ZipFile(entry.parent / "app.zip") as zf:
        assert action_names(json.loads(zf.read("kernel-actions.json"))) == ACTIONS

    # The archive written inside the folder is left out of the next one, and -v says so.
    (entry.parent / "notes.zip").write_bytes(_plain_zip())  # a zip of the user's: kept
    again = run("package", str(entry), "-o", str(tmp_path / "again.zip"), "-v")
    assert again.exit_code == 0, again.output
    assert "- app.zip (a bundle written by kernel-actions package)" in again.stderr
    assert "+ notes.zip" in again.stderr
    with zipfile.ZipFile(tmp_path / "again.zip") as zf:
        assert "app.zip" not in zf.namelist() and "notes.zip" in zf.namelist()

    assert run("package", str(entry), "--strict", "-o", str(tmp_path / "s.zip")).exit_code == 2


def _plain_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("readme.txt", "mine")
    return buffer.getvalue()


def test_reload_ignores_the_zips_package_writes(tmp_path: Path) -> None:
    entry = make_app(tmp_path / "app")
    report = build_bundle(entry, entry.parent / "app.zip", manifest={"apps": []})
    (entry.parent / "data.zip").write_bytes(_plain_zip())
    changes = ChangeFilter(entry.parent)
    assert not changes(report.path)
    assert changes(entry.parent / "data.zip") and changes(entry)


def test_deploy_to_a_local_runner_and_invoke(start_runner: Callable[..., RunnerProcess],
                                            tmp_path: Path) -> None:
    # The runner's machine has the vendor package (as the platform installs it); this one not.
    served = start_runner(None, command="serve", data_dir=tmp_path / "served",
                          env={"PYTHONPATH": str(vendor_site(tmp_path / "vendor"))})
    entry = make_app(tmp_path / "app")
    deployed = run("deploy", str(entry), "--version", "1", "-e", "ACME_API_KEY=k",
                   "--region", "aws.us-east-1a", base_url=served.url)
    assert deployed.exit_code == 0, deployed.output
    assert "--region aws.us-east-1a is sent, and a local runner ignores it" in deployed.stderr
    assert "without input/output schemas" in deployed.stderr
    assert "app shape-app deployed (version 1): cua-task, get-page-title" in deployed.stderr
    out = run("invoke", "shape-app", "get-page-title", "-v", "1", "-s", base_url=served.url)
    assert out.exit_code == 0 and out.stdout.strip() == '"acme-1"'
