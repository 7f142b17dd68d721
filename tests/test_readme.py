"""The README's five-minute guide, run as written: its files, its tests, its first commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def guide_file(name: str) -> str:
    """The python block of the guide that starts with ``# name``."""
    return next(b for b in blocks("python") if b.startswith(f"# {name}\n"))


def test_the_guides_app_and_its_tests_pass_as_written(tmp_path: Path) -> None:
    for name in ("main.py", "test_main.py"):
        (tmp_path / name).write_text(guide_file(name))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_main.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "2 passed" in out.stdout, out.stdout + out.stderr


def test_the_first_commands_name_what_exists() -> None:
    first = blocks("bash")[0].strip()
    assert first == ("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
                     "kernel-actions dev examples/quickstart/main.py")
    assert (README.parent / "examples" / "quickstart" / "main.py").is_file()
    assert blocks("bash")[1].strip() == "bash .ci/run"
    # The guide's pytest step says where pytest comes from.
    assert "pip install -e '.[test]'" in README.read_text()
    pyproject = (README.parent / "pyproject.toml").read_text()
    assert re.search(r"^test = \[\n    \"pytest>=", pyproject, flags=re.M)


def test_the_quickstart_example_loads(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "schema",
                          str(README.parent / "examples" / "quickstart" / "main.py")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"apps"' in out.stdout
