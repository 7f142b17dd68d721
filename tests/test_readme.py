"""The README's five-minute guide, run as written: its files, its tests, its first commands,
and its shell lines against a real runner."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .conftest import RunnerProcess

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
    # It installs what the guide uses next (pytest, in the `test` extra), then starts a runner.
    assert first == ("python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' "
                     "&& kernel-actions dev examples/quickstart/main.py")
    assert (README.parent / "examples" / "quickstart" / "main.py").is_file()
    assert blocks("bash")[1].strip() == "bash .ci/run"
    pyproject = (README.parent / "pyproject.toml").read_text()
    assert re.search(r"^test = \[\n    \"pytest>=", pyproject, flags=re.M)


def test_the_test_step_says_where_pytest_comes_from_before_its_code() -> None:
    text = README.read_text()
    step = text[text.index("### 2. Test it in-process"):text.index("### 3. Run it")]
    assert step.index("pip install -e '.[test]'") < step.index("```python")


def test_each_guide_file_has_its_own_name() -> None:
    names = [b.splitlines()[0] for b in blocks("python") if re.match(r"# \S+\.py\n", b)]
    assert len(names) >= 3 and len(names) == len(set(names)), names


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_the_readme_opens_with_a_table_of_contents_that_resolves() -> None:
    text = README.read_text()
    after_commands = text.split("```bash\nbash .ci/run\n```\n", 1)[1]
    assert after_commands.lstrip().startswith("## Contents\n")
    contents = after_commands.split("\n---\n", 1)[0]
    anchors = re.findall(r"\]\(#([^)]+)\)", contents)
    headings = {_slug(h) for h in re.findall(r"^#{2,4} (.+)$", text, flags=re.M)}
    assert len(anchors) >= 10 and [a for a in anchors if a not in headings] == []


def _dev_line(block: str) -> list[str]:
    """The ``kernel-actions dev …`` command of a shell block (the part after any ``&&``)."""
    for line in block.splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words[:2] == ["kernel-actions", "dev"]:
                return words[1:]
    raise AssertionError(f"no kernel-actions dev line in {block!r}")


def test_the_guides_shell_lines_work_against_a_real_runner(
        tmp_path: Path, start_runner: Callable[..., RunnerProcess]) -> None:
    """Step 3 as written: ``kernel-actions dev main.py``, then the curl line (form-encoded,
    as curl sends ``-d``), on a free port instead of 8484."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text(guide_file("main.py"))
    step = README.read_text().split("### 3. Run it", 1)[1].split("\n## ", 1)[0]
    shell = re.findall(r"```bash\n(.*?)```", step, flags=re.S)
    command, entry, *extra = _dev_line(shell[0])
    runner = start_runner(entry, *extra, command=command, cwd=app)
    curls = [line for b in shell for line in b.splitlines() if line.startswith("curl ")]
    assert curls and all("localhost:8484" in line for line in curls)
    port = runner.url.rsplit(":", 1)[1] if runner.url else ""
    for line in curls:
        out = subprocess.run(["bash", "-c", line.replace(":8484", f":{port}")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        answer = json.loads(out.stdout)
        assert answer["status"] == "succeeded", out.stdout
        # What the guide's Python client prints for the same invocation.
        assert json.loads(answer["output"]) == {"result": "success", "data": "x"}


def test_the_first_commands_runner_serves_the_quickstart(
        start_runner: Callable[..., RunnerProcess]) -> None:
    command, entry, *extra = _dev_line(blocks("bash")[0])
    runner = start_runner(entry, *extra, command=command, cwd=README.parent)
    with runner.client() as c:
        apps = c.get("/apps").json()
    assert [a["app_name"] for a in apps] == ["quickstart"] and apps[0]["actions"]


def test_the_quickstart_example_loads(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "schema",
                          str(README.parent / "examples" / "quickstart" / "main.py")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"apps"' in out.stdout


def test_the_layout_names_every_folder_and_root_module() -> None:
    """The README's Layout is the tree: each package folder, and each module of the package
    root (what an app imports), is named there."""
    text = README.read_text()
    layout = text.split("\n## Layout\n", 1)[1].split("```", 2)[1]
    package = README.parent / "kernel_actions"
    folders = sorted(str(p.parent.relative_to(README.parent)) + "/"
                     for p in package.glob("*/__init__.py"))
    assert "kernel_actions/tooling/" in folders
    missing = [f for f in folders if f not in layout]
    root = layout.split("kernel_actions/tooling/", 1)[0]
    missing += [p.stem for p in package.glob("*.py")
                if p.stem != "__init__" and not re.search(rf"\b{p.stem}\b", root)]
    assert missing == []
