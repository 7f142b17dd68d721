"""`kernel-actions create`: each template is a runnable app whose own tests pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_actions.loader import load_apps
from kernel_actions.scaffold import ScaffoldError, create_app, list_templates

EXPECTED = {"basic": (4, {"greet", "health"}), "long-running": (3, {"process"}),
            "browser": (3, {"get-page-title"}),
            "computer-use": (5, {"computer-use-task"})}


def test_every_template_is_listed() -> None:
    assert {t.name for t in list_templates()} == set(EXPECTED)
    assert all(t.description for t in list_templates())


@pytest.mark.parametrize("template", sorted(EXPECTED))
def test_generated_app_passes_its_own_tests(template: str, tmp_path: Path) -> None:
    created = create_app(tmp_path / "My Cool App", template)
    assert created.app_name == "my-cool-app"
    main = (created.path / "main.py").read_text()
    assert 'App("my-cool-app")' in main and "{{" not in main
    assert {"main.py", "test_main.py", "README.md", "pyproject.toml", ".gitignore",
            ".vscode/launch.json"} <= set(created.files)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=created.path, capture_output=True, text=True, timeout=120)
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
    assert load_apps(str(tmp_path / "svc" / "main.py")).apps[0].name == "svc"
    again = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "create",
                            str(tmp_path / "svc")], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not empty" in again.stderr
