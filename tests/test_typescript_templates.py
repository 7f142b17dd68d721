"""`kernel-actions create --language typescript`: the TypeScript template is an app the runner
serves as it is written (its packages linked from what the tests already have installed:
``@onkernel/sdk`` from tests/node, ``playwright-core`` from the playwright wheel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_actions.tooling.node_choice import playwright_node
from kernel_actions.tooling.scaffold import (
    ScaffoldError,
    create_app,
    list_templates,
    next_steps,
)

from .conftest import NEEDS_CHROMIUM
from .helpers import RunnerProcess, http_server, sdk_client
from .test_typescript_apps import NODE_MODULES, pytestmark  # noqa: F401 - skip without Node

__all__ = ["pytestmark"]


def _link_packages(app: Path) -> None:
    """node_modules as `npm install` would leave it, from packages already on this machine."""
    modules = app / "node_modules"
    modules.mkdir()
    (modules / "@onkernel").symlink_to(NODE_MODULES / "@onkernel", target_is_directory=True)
    node = playwright_node()
    assert node is not None
    (modules / "playwright-core").symlink_to(Path(node).parent / "package",
                                             target_is_directory=True)


def test_typescript_templates_are_listed_apart() -> None:
    assert "sample-app" not in {t.name for t in list_templates()}  # Python's list
    typescript = {t.name: t for t in list_templates("typescript")}
    assert typescript["sample-app"].entrypoint == "index.ts"
    with pytest.raises(ScaffoldError, match="unknown typescript template 'basic'"):
        create_app(Path("/nonexistent/x"), "basic", language="typescript")


def test_create_typescript_from_the_cli(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kernel_actions.cli", "create", str(tmp_path / "svc"),
         "--language", "typescript", "-t", "sample-app"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "created svc from the typescript sample-app template" in out.stderr
    steps = out.stderr.split("next:")[1].split()
    assert "index.ts" in steps and "pytest" not in steps  # no Python tests to run
    assert json.loads((tmp_path / "svc" / "package.json").read_text())["name"] == "svc"


@NEEDS_CHROMIUM
def test_the_sample_app_template_runs_on_dev(start_runner, tmp_path: Path) -> None:
    created = create_app(tmp_path / "My TS App", language="typescript")
    assert created.app_name == "my-ts-app" and created.entrypoint == "index.ts"
    assert {"index.ts", "package.json", "tsconfig.json", "README.md", ".gitignore"} <= set(
        created.files)
    source = (created.path / "index.ts").read_text()
    assert 'kernel.app("my-ts-app")' in source and "{{" not in source
    assert [c for c, _ in next_steps(created)][1:] == ["npm install",
                                                       "kernel-actions dev index.ts"]
    _link_packages(created.path)
    runner: RunnerProcess = start_runner(created.path / "index.ts", cwd=created.path)
    k = sdk_client(runner)
    greet = k.invocations.create(app_name="my-ts-app", action_name="greet", version="latest",
                                 payload='{"name": "Ada"}')
    assert json.loads(greet.output or "") == {"message": "Hello, Ada!"}

    page = b"<html><head><title>Template page</title></head><body>hi</body></html>"
    with http_server(lambda path: (200, "text/html", page)) as url:
        title = k.invocations.create(app_name="my-ts-app", action_name="page-title",
                                     version="latest", payload=json.dumps({"url": url}))
    assert title.status == "succeeded", title.output
    assert json.loads(title.output or "") == {"url": f"{url}/", "title": "Template page"}
    logs = [e.message for e in k.invocations.follow(title.id) if e.event == "log"]
    assert logs and logs[0].startswith("live view: ")
