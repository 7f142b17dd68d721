"""Finding apps and actions in source without running it, and resolving entrypoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_actions.entrypoint import EntrypointNotFound, resolve_entrypoint
from kernel_actions.tooling.static_manifest import StaticScanError, scan_manifest

SOURCE = '''\
import kernel
from kernel_actions import App as KA

first = kernel.App("first-app")
second: KA = KA(name="second-app")
helper = object()


@first.action("a")
async def a(ctx, payload):
    """Does a."""


@second.action(name="b")
def b(ctx):
    pass


@helper.action("not-an-app")
def c(ctx, payload):
    pass


def outer():
    @first.action("nested")
    def inner(ctx, payload):
        pass
'''


def test_scan_finds_apps_and_actions_in_source_order(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(SOURCE)
    manifest = scan_manifest(tmp_path / "main.py", "main.py")
    assert manifest["entrypoint"] == "main.py"
    apps = {app["name"]: app["actions"] for app in manifest["apps"]}
    assert [a["name"] for a in apps["first-app"]] == ["a", "nested"]
    assert [a["name"] for a in apps["second-app"]] == ["b"]
    a = apps["first-app"][0]
    assert a["description"] == "Does a." and a["is_async"] and a["takes_payload"]
    assert a["input_schema"] is None and a["output_schema"] is None
    assert not apps["second-app"][0]["takes_payload"]


@pytest.mark.parametrize("source", ["x = 1\n", "def (:\n", "app = App(some_name)\n"])
def test_scan_refuses_source_without_a_literal_app(tmp_path: Path, source: str) -> None:
    (tmp_path / "main.py").write_text(source)
    with pytest.raises(StaticScanError):
        scan_manifest(tmp_path / "main.py")


def test_entrypoints_are_files_or_modules(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("")
    entry = resolve_entrypoint("app/main.py:app", cwd=tmp_path)
    assert entry.is_file and entry.attr == "app" and entry.name == "main.py"
    assert entry.app_dir == tmp_path / "app"
    assert entry.target == f"{tmp_path / 'app' / 'main.py'}:app"
    module = resolve_entrypoint("pkg.actions:app", cwd=tmp_path)
    assert not module.is_file and module.target == "pkg.actions:app"
    assert module.app_dir == tmp_path and module.name == "pkg.actions"
    with pytest.raises(EntrypointNotFound):
        resolve_entrypoint("missing.py", cwd=tmp_path)
    with pytest.raises(EntrypointNotFound):
        resolve_entrypoint("sub/dir", cwd=tmp_path)  # a separator: a path, and not there


def test_scan_reads_each_app_s_literal_env(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "from kernel_actions import App\n"
        "one = App('one', env=['TOKEN', 'MODEL?'])\ntwo = App('two')\n")
    (tmp_path / ".env.example").write_text("IGNORED=x\n")  # a declaration in source wins
    envs = {a["name"]: a["env"] for a in scan_manifest(tmp_path / "main.py")["apps"]}
    assert envs == {"one": [{"name": "TOKEN", "required": True},
                            {"name": "MODEL", "required": False}], "two": []}
