"""Load errors and unserialisable outputs say what is wrong, once, without noise."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kernel_actions import App
from kernel_actions.errors import AppLoadError
from kernel_actions.loader import load_apps


def load_error(folder: Path, main: str, **files: str) -> AppLoadError:
    for name, text in {"main.py": main, **files}.items():
        (folder / name).write_text(text)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with pytest.raises(AppLoadError) as failed:
            load_apps(str(folder / "main.py"))
    finally:
        os.chdir(cwd)
    return failed.value


def test_a_bad_type_hint_gets_our_advice_not_pydantics(tmp_path: Path) -> None:
    error = load_error(tmp_path, "from kernel_actions import App\napp = App('hints')\n\n"
                                 "class Foo:\n    pass\n\n"
                                 "@app.action('bad')\ndef bad(ctx, payload: Foo) -> int:\n"
                                 "    return 1\n")
    text = str(error)
    assert "arbitrary_types_allowed" not in text and "__get_pydantic_core_schema__" not in text
    assert ".." not in text
    assert "Unable to generate pydantic-core schema for <class 'main.Foo'>. Use a pydantic model" \
        in text
    assert error.location == f"{tmp_path / 'main.py'}:7"
    assert text.count("main.py:7") == 1


def test_an_import_error_shows_only_the_users_frames(tmp_path: Path) -> None:
    error = load_error(tmp_path, "from kernel_actions import App\nimport helper\n"
                                 "app = App('frames')\n",
                       **{"helper.py": "def fail():\n    raise RuntimeError('boom')\n\nfail()\n"})
    assert str(error) == f"RuntimeError: boom ({tmp_path / 'helper.py'}:2)"
    assert error.detail is not None
    assert "importlib" not in error.detail and "kernel_actions" not in error.detail
    frames = [line.strip() for line in error.detail.splitlines() if line.strip().startswith("File")]
    assert frames == [f'File "{tmp_path / name}", line {line}, in {where}' for name, line, where in
                      [("main.py", 2, "<module>"), ("helper.py", 4, "<module>"),
                       ("helper.py", 2, "fail")]]


def test_a_syntax_error_says_where_once(tmp_path: Path) -> None:
    error = load_error(tmp_path, "from kernel_actions import App\napp = App('s')\nboom(\n")
    assert str(error) == f"SyntaxError: '(' was never closed ({tmp_path / 'main.py'}:3)"
    assert error.detail is not None and "importlib" not in error.detail
    assert error.detail.splitlines()[0] == f'  File "{tmp_path / "main.py"}", line 3'


class Foo:
    pass


def test_an_unserialisable_part_is_named_with_its_path() -> None:
    app = App("nested-output")

    @app.action("nested")
    def nested(ctx):  # type: ignore[no-untyped-def]
        return {"items": [1, 2, {"when": Foo()}]}

    @app.action("quoted-key")
    def quoted_key(ctx):  # type: ignore[no-untyped-def]
        return {"a key": [Foo()]}

    out = app.invoke_sync("nested")
    assert out.error == "output_not_json"
    assert out.status_reason == ("Action 'nested' returned a value that is not JSON-serialisable: "
                                 "output.items[2].when: type Foo")
    assert out.output is not None
    detail = json.loads(out.output)
    assert (detail["path"], detail["type"]) == ("output.items[2].when", "Foo")
    assert app.invoke_sync("quoted-key").status_reason.endswith(  # type: ignore[union-attr]
        "output['a key'][0]: type Foo")
