"""The env-var contract: declared once, read without running the code, checked by dev."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kernel_actions import ActionDefinitionError, App
from kernel_actions.env_contract import (
    ADVISORY_ENV,
    EnvVar,
    advisory_env,
    declared_env,
    example_env,
    missing_env,
    parse_env_spec,
    unset_env_hint,
)

from .helpers import RunnerProcess, poll

APP = '''import os
from kernel_actions import App

app = App("needs-env", env=["SERVICE_TOKEN", "MODEL?"])
TOKEN = os.environ["SERVICE_TOKEN"]  # what real apps do: read it at import


@app.action("token-length")
def token_length(ctx) -> dict:
    return {"length": len(TOKEN), "model": os.environ.get("MODEL", "default")}
'''


def test_declarations_parse_and_bad_ones_fail_at_definition() -> None:
    assert parse_env_spec(["A", "B_2?"]) == (EnvVar("A"), EnvVar("B_2", required=False))
    app = App("x", env=["TOKEN", "MODEL?"])
    assert app.describe()["env"] == [{"name": "TOKEN", "required": True},
                                     {"name": "MODEL", "required": False}]
    with pytest.raises(ActionDefinitionError, match="App 'y': '1X' is not an environment"):
        App("y", env=["1X"])
    with pytest.raises(ActionDefinitionError, match="not the string"):
        App("z", env="TOKEN")
    with pytest.raises(ActionDefinitionError, match="declared twice"):
        App("w", env=["A", "A?"])


def test_the_declaration_is_read_from_source_or_env_example(tmp_path: Path) -> None:
    main = tmp_path / "main.py"
    main.write_text(APP)
    declared, source = declared_env(main) or ((), "")
    assert source == "main.py"
    assert declared == (EnvVar("SERVICE_TOKEN"), EnvVar("MODEL", required=False))
    assert missing_env(declared, {"SERVICE_TOKEN": ""}) == ["SERVICE_TOKEN"]
    assert missing_env(declared, {"SERVICE_TOKEN": "x"}) == []
    # The platform sets KERNEL_API_KEY itself: an .env.example that lists it asks nothing.
    assert missing_env((EnvVar("KERNEL_API_KEY"), EnvVar("X")), {}) == ["X"]

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "main.py").write_text("from kernel_actions import App\napp = App('p')\n")
    assert declared_env(plain / "main.py") is None
    (plain / ".env.example").write_text(
        "# keys\nOPENAI_API_KEY=sk-...\nexport REGION=eu  # optional\n\nnot a line\n")
    # An .env.example declares nothing that blocks: its names are advisory.
    assert declared_env(plain / "main.py") is None
    assert advisory_env(plain / "main.py") == ("OPENAI_API_KEY",)
    # A name the source declares is the source's to require, not the example's to advise.
    (plain / "main.py").write_text("from kernel_actions import App\n"
                                   "app = App('p', env=['OPENAI_API_KEY?'])\n")
    assert advisory_env(plain / "main.py") == ()


def test_dev_names_a_missing_variable_before_any_code_runs_then_recovers(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    entry = folder / "main.py"
    entry.write_text(APP)
    runner = start_runner(entry, "--reload", cwd=folder, env={"SERVICE_TOKEN": ""})
    line = runner.wait_line("code failed to load:")
    assert "missing environment variable SERVICE_TOKEN (required by main.py)" in line
    assert f"set it in {folder / '.env'}" in line
    assert "Traceback" not in runner.output and "KeyError" not in runner.output

    staged = folder / ".env.new"
    staged.write_text("SERVICE_TOKEN=abcd\n")
    staged.replace(folder / ".env")  # one step: a reload never reads it half-written

    def invoked() -> dict[str, object] | None:
        with runner.client() as c:
            inv = c.post("/invocations", json={"app_name": "needs-env",
                                               "action_name": "token-length"}).json()
        return inv if inv.get("status") == "succeeded" else None

    inv = poll(invoked, timeout=60)
    assert isinstance(inv, dict) and '"length":4' in str(inv["output"]).replace(" ", "")
    with runner.client() as c:
        apps = [a for a in c.get("/apps").json() if a["app_name"] == "needs-env"]
    assert [a["declared_env"] for a in apps] == [[{"name": "SERVICE_TOKEN", "required": True},
                                                  {"name": "MODEL", "required": False}]]
    assert "abcd" not in runner.output  # values are never printed

def test_deploy_refuses_before_uploading_a_declared_variable_it_was_not_given(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "main.py").write_text(APP)
    runner = start_runner(command="serve", cwd=tmp_path)

    def deploy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k != "SERVICE_TOKEN"}
        return subprocess.run(
            [sys.executable, "-m", "kernel_actions.cli", "deploy", "main.py",
             "--api-url", str(runner.url), *args],
            cwd=folder, capture_output=True, text=True, timeout=120, env={**base, **env})

    refused = deploy()
    assert refused.returncode == 2, refused.stderr
    assert ("missing environment variable SERVICE_TOKEN (required by main.py): set it with "
            "-e NAME=value or --env-file FILE") in refused.stderr
    with runner.client() as c:
        assert c.get("/deployments").json() == []  # nothing was uploaded

    (folder / "prod.env").write_text("SERVICE_TOKEN=s3cret-value\n")
    done = deploy("--env-file", "prod.env", SERVICE_TOKEN="for-the-manifest-build")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "s3cret-value" not in done.stdout + done.stderr


# The shape of an .env.example in Kernel's own templates: the comment above a line says
# whether it is needed.
TEMPLATE_EXAMPLE = """## Service API key (required)
SERVICE_TOKEN=

## Optional override (defaults to https://api.example.org)
SERVICE_BASE_URL=https://api.example.org
SERVICE_REGION=eu

# Copy this file to .env and fill in your keys
MODEL=small
"""


def test_a_comment_above_a_group_of_lines_makes_them_optional(tmp_path: Path) -> None:
    """Optional names are not even advised; none of them is required."""
    (tmp_path / "main.py").write_text("from kernel_actions import App\napp = App('p')\n")
    (tmp_path / ".env.example").write_text(TEMPLATE_EXAMPLE)
    assert declared_env(tmp_path / "main.py") is None
    assert advisory_env(tmp_path / "main.py") == ("SERVICE_TOKEN", "MODEL")
    assert example_env(tmp_path / "main.py") == [
        {"name": n, "required": False}
        for n in ("SERVICE_TOKEN", "SERVICE_BASE_URL", "SERVICE_REGION", "MODEL")]


def test_a_failure_on_an_unset_advisory_name_says_so() -> None:
    env = {ADVISORY_ENV: "ANTHROPIC_API_KEY,MODEL", "MODEL": "m"}
    hint = unset_env_hint(KeyError("ANTHROPIC_API_KEY"), env)
    assert hint is not None and hint.startswith(
        "the environment variable ANTHROPIC_API_KEY is not set (.env.example lists it)")
    named = ValueError("The api_key client option must be set ... ANTHROPIC_API_KEY env var")
    assert unset_env_hint(named, env) == hint
    assert unset_env_hint(KeyError("id"), env) is None  # a dict's key, not the environment's
    assert unset_env_hint(KeyError("MODEL"), env) is None  # it is set: not the cause
    assert unset_env_hint(KeyError("ANTHROPIC_API_KEY"), {}) is None  # nothing advised


ADVISED_APP = """import os
from kernel_actions import App

app = App("advised")


@app.action("hello")
def hello(ctx) -> str:
    return "hello"


@app.action("ask")
def ask(ctx) -> str:
    set_ones = {k: v for k, v in os.environ.items() if v}
    return set_ones["ANTHROPIC_API_KEY"][:2]  # a KeyError for it (a blank one is unset)


@app.action("client")
def client(ctx) -> str:
    if not os.environ.get("ANTHROPIC_API_KEY"):  # what SDKs do: a message that names it
        raise RuntimeError("the client needs an api_key or ANTHROPIC_API_KEY in the env")
    return "ok"
"""


def test_a_blank_key_in_env_example_loads_the_app_and_names_the_key_when_needed(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    """``create -t computer-use``'s case: the key is read only inside an action."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "main.py").write_text(ADVISED_APP)
    (folder / ".env.example").write_text("# The model's key\nANTHROPIC_API_KEY=\n")
    runner = start_runner(folder / "main.py", cwd=folder, env={"ANTHROPIC_API_KEY": ""})
    notes = [ln for ln in runner.lines if "ANTHROPIC_API_KEY" in ln]
    assert len(notes) == 1 and notes[0].startswith(
        "note: ANTHROPIC_API_KEY (listed in .env.example) is not set; the app loads"), notes
    assert "code failed to load" not in runner.output
    assert "3 action(s)" in runner.output
    with runner.client() as c:
        hello = c.post("/invocations", json={"app_name": "advised", "action_name": "hello"})
        failed = [c.post("/invocations", json={"app_name": "advised", "action_name": name}
                         ).json() for name in ("ask", "client")]
    assert hello.json()["status"] == "succeeded"
    for inv, raised in zip(failed, ("KeyError", "RuntimeError"), strict=True):
        assert inv["status"] == "failed"
        assert inv["status_reason"].startswith(
            "The environment variable ANTHROPIC_API_KEY is not set (.env.example lists it)")
        assert inv["status_reason"].endswith(f"(the action raised {raised})")


def test_names_from_env_example_are_in_the_manifest_and_in_get_apps(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "main.py").write_text(
        "from kernel_actions import App\napp = App('from-example')\n\n\n"
        "@app.action('hi')\ndef hi(ctx) -> str:\n    return 'hi'\n")
    (folder / ".env.example").write_text(TEMPLATE_EXAMPLE)
    want = [{"name": name, "required": False}  # advisory: nothing an example lists blocks
            for name in ("SERVICE_TOKEN", "SERVICE_BASE_URL", "SERVICE_REGION", "MODEL")]

    # The manifest built by loading the code, and the one read from source when it can't load.
    schema = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "schema", "main.py"],
                            cwd=folder, capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stderr
    assert [a["env"] for a in json.loads(schema.stdout)["apps"]] == [want]
    from kernel_actions.tooling.static_manifest import scan_manifest
    assert [a["env"] for a in scan_manifest(folder / "main.py")["apps"]] == [want]

    runner = start_runner(folder / "main.py", cwd=folder,
                          env={"SERVICE_TOKEN": "t", "MODEL": "m"})
    with runner.client() as c:
        apps = [a for a in c.get("/apps").json() if a["app_name"] == "from-example"]
    assert [a["declared_env"] for a in apps] == [want]
