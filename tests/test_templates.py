"""`kernel-actions create`: each template is a runnable app whose own tests pass."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kernel_actions.loader import load_apps
from kernel_actions.tooling.scaffold import ScaffoldError, create_app, list_templates, next_steps

from .helpers import RunnerProcess

EXPECTED = {"basic": (4, {"greet", "health"}), "long-running": (3, {"process"}),
            "browser": (3, {"get-page-title"}),
            "computer-use": (5, {"computer-use-task"})}


def test_every_template_is_listed() -> None:
    assert {t.name for t in list_templates()} == set(EXPECTED)
    assert all(t.description for t in list_templates())


@pytest.mark.timeout(600)  # the browser app's own end-to-end test starts a runner and Chromium
@pytest.mark.parametrize("template", sorted(EXPECTED))
def test_generated_app_passes_its_own_tests(template: str, tmp_path: Path) -> None:
    created = create_app(tmp_path / "My Cool App", template)
    assert created.app_name == "my-cool-app"
    main = (created.path / "main.py").read_text()
    assert 'App("my-cool-app")' in main and "{{" not in main
    assert {"main.py", "test_main.py", "README.md", "pyproject.toml", ".gitignore",
            ".vscode/launch.json"} <= set(created.files)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=created.path, capture_output=True, text=True, timeout=540)
    count, actions = EXPECTED[template]
    assert re.search(rf"\b{count} passed\b", proc.stdout), proc.stdout + proc.stderr
    loaded = subprocess.run([sys.executable, "-c", (
        "import sys; from kernel_actions.loader import load_apps; "
        "a = load_apps('main.py').apps[0]; print(a.name, sorted(a.actions))")],
        cwd=created.path, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == f"my-cool-app {sorted(actions)}"


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="unknown template 'nope'; templates: basic"):
        create_app(tmp_path / "a", "nope")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ScaffoldError, match="not empty"):
        create_app(tmp_path / "full")
    created = create_app(tmp_path / "full", force=True, app_name="forced")
    assert (tmp_path / "full" / "keep.txt").read_text() == "x" and created.app_name == "forced"
    with pytest.raises(ScaffoldError, match="invalid app name"):
        create_app(tmp_path / "b", app_name="Bad Name!")


def test_cli_create(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "create",
                          str(tmp_path / "svc"), "-t", "basic", "-n", "svc"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "created svc from the basic template" in out.stderr
    assert out.stderr.split("next:\n", 1)[1].splitlines() == [
        f"  cd {tmp_path / 'svc'}",
        "  pip install pytest          # the app's tests (test_main.py) run with pytest",
        "  kernel-actions dev main.py  # run it locally, with hot reload",
        "  pytest                      # its tests, in-process"]
    assert load_apps(str(tmp_path / "svc" / "main.py")).apps[0].name == "svc"
    again = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "create",
                            str(tmp_path / "svc")], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not empty" in again.stderr


def test_next_steps_install_the_test_tools(tmp_path: Path) -> None:
    for template in sorted(EXPECTED):
        created = create_app(tmp_path / template, template)
        commands = [command for command, _ in next_steps(created)]
        assert commands[0] == f"cd {created.path}" and commands[-1] == "pytest"
        installs = [c for c in commands if c.startswith("pip install")]
        assert installs and "pytest" in installs[0].split(), (template, commands)
        readme = (created.path / "README.md").read_text()
        assert installs[0] in readme
    # A key the template's code reads (listed in .env.example) is one of its next steps.
    computer = create_app(tmp_path / "cu2", "computer-use")
    steps = dict(next_steps(computer))
    assert "ANTHROPIC_API_KEY" in steps["cp .env.example .env"]
    assert list(steps).index("cp .env.example .env") < list(steps).index(
        "kernel-actions dev main.py")
    basic = create_app(tmp_path / "basic2", "basic")
    assert "cp .env.example .env" not in dict(next_steps(basic))
    browser = create_app(tmp_path / "b2", "browser")
    (install,) = [c for c, _ in next_steps(browser) if c.startswith("pip install")]
    assert {"kernel", "playwright", "pytest"} <= set(install.split())
    why = dict(next_steps(browser))[install]
    assert "no `playwright install`" in why


def test_computer_use_runs_under_dev_with_the_example_env_copied(
        tmp_path: Path, start_runner: Callable[..., RunnerProcess]) -> None:
    """The next steps as a newcomer follows them: `cp .env.example .env` (the key still
    blank), then `dev`: the action loads, and one line says the key is unset."""
    created = create_app(tmp_path / "cu", "computer-use")
    (created.path / ".env").write_text((created.path / ".env.example").read_text())
    runner = start_runner(created.path / "main.py", cwd=created.path,
                          env={"ANTHROPIC_API_KEY": ""})
    assert "code failed to load" not in runner.output
    with runner.client() as c:
        (app,) = c.get("/apps").json()
    assert "computer-use-task" in {a["name"] for a in app["actions"]}
    assert [ln for ln in runner.lines if "ANTHROPIC_API_KEY" in ln and "note:" in ln]
