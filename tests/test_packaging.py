"""Packaging an app folder into the bundle the hosted API takes."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from kernel_actions.tooling.packaging import PackagingError, build_bundle, collect_files

APP = 'from kernel_actions import App\napp = App("packed")\n\n@app.action("hi")\ndef hi(ctx) -> str:\n    return "hi"\n'


def make_app(root: Path) -> Path:
    (root / "main.py").write_text(APP)
    (root / "pyproject.toml").write_text('[project]\nname = "packed"\ndependencies = []\n')
    return root / "main.py"


def names(report) -> set[str]:
    return set(report.files)


def test_nested_ignore_rules_and_always_excluded(tmp_path: Path) -> None:
    entry = make_app(tmp_path)
    (tmp_path / ".gitignore").write_text("*.log\n!keep.log\nbuild/\n")
    (tmp_path / "debug.log").write_text("x")
    (tmp_path / "keep.log").write_text("x")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.txt").write_text("x")
    sub = tmp_path / "pkg"
    sub.mkdir()
    (sub / ".ignore").write_text("local.txt\n")
    (sub / "local.txt").write_text("x")
    (sub / "mod.py").write_text("x = 1\n")
    (tmp_path / "local.txt").write_text("kept: the rule is pkg/'s only")
    (tmp_path / ".hidden.toml").write_text("a = 1")
    for secret in (".env", ".env.local", "server.pem", "id_rsa", ".pypirc"):
        (tmp_path / secret).write_text("secret")
    (tmp_path / ".env.example").write_text("KEY=")
    for folder in (".git", ".kernel", "__pycache__", ".venv", "node_modules"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x").write_text("x")
    (tmp_path / "myenv").mkdir()
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("")
    (tmp_path / "link.py").symlink_to(tmp_path / "main.py")

    report = build_bundle(entry, tmp_path / "out" / "app.zip")
    assert names(report) == {"main.py", "pyproject.toml", ".gitignore", "keep.log", "pkg/.ignore",
                             "pkg/mod.py", "local.txt", ".hidden.toml", ".env.example"}
    left_out = dict(report.excluded)
    assert left_out["debug.log"] == "ignored by .gitignore/.ignore"
    assert left_out["pkg/local.txt"] == "ignored by .gitignore/.ignore"
    assert left_out[".env"].startswith("secret") and left_out["id_rsa"].startswith("secret")
    assert left_out["myenv"] == "a virtualenv" and left_out["link.py"] == "a symlink"
    assert {".git", ".kernel", "__pycache__", ".venv", "node_modules"} <= set(left_out)
    with zipfile.ZipFile(report.path) as zf:
        manifest = json.loads(zf.read("kernel-actions.json"))
    assert manifest["entrypoint_rel_path"] == "main.py"
    assert manifest["apps"][0]["name"] == "packed"
    assert manifest["apps"][0]["actions"][0]["output_schema"] == {"type": "string"}
    assert report.dependency_file == "pyproject.toml" and not report.warnings


def test_reproducible_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    entry = make_app(tmp_path / "a")
    first = build_bundle(entry, tmp_path / "one.zip")
    os.utime(entry, (1, 1))
    (entry.parent / "pyproject.toml").chmod(0o600)
    second = build_bundle(entry, tmp_path / "two.zip")
    assert first.sha256 == second.sha256
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO((tmp_path / "one.zip").read_bytes())) as zf:
        assert [i.filename for i in zf.infolist()] == ["main.py", "pyproject.toml",
                                                       "kernel-actions.json"]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_entrypoint_that_does_not_load_is_refused(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from kernel_actions import App\napp = App('x')\ndef (:\n")
    with pytest.raises(PackagingError) as err:
        build_bundle(tmp_path / "main.py", tmp_path / "x.zip")
    assert "main.py does not load" in str(err.value)
    assert "main.py:3" in str(err.value)
    assert not (tmp_path / "x.zip").exists()


def test_missing_dependency_file_and_large_bundle_warn(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    with open(tmp_path / "data.bin", "wb") as f:
        f.truncate(51 * 1024 * 1024)
    report = build_bundle(tmp_path / "main.py", tmp_path.parent / "big.zip")
    assert report.dependency_file is None
    assert any("no pyproject.toml or requirements.txt" in w for w in report.warnings)
    big = [w for w in report.warnings if "large" in w]
    assert big and "data.bin (51.0 MB)" in big[0]


def test_collect_files_is_sorted(tmp_path: Path) -> None:
    for name in ("b.py", "a.py", "c/d.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    files, _ = collect_files(tmp_path)
    assert [f.as_posix() for f in files] == ["a.py", "b.py", "c/d.py"]
