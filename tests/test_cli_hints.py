"""The command line's small courtesies: -V, a taken port, "did you mean", the dev banner."""

from __future__ import annotations

import io
import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from kernel_actions import __version__
from kernel_actions.cli import cli
from kernel_actions.cli.exit_codes import ExitCode

from .conftest import APPS, RunnerProcess


def cli_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KERNEL_BASE_URL"}
    return subprocess.run([sys.executable, "-m", "kernel_actions.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_dash_capital_v_prints_the_version() -> None:
    for flag in ("-V", "--version"):
        out = CliRunner().invoke(cli, [flag])
        assert out.exit_code == 0 and out.output.strip() == f"kernel-actions, version {__version__}"


def test_a_taken_port_suggests_port_0_and_has_its_own_exit_code(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text((APPS / "conformance_app.py").read_text())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = cli_process(tmp_path, "dev", "main.py", "--port", str(port), "--no-reload",
                          "--data-dir", str(tmp_path / "data"))
    assert out.returncode == ExitCode.CANNOT_LISTEN == 6
    assert out.returncode != ExitCode.UNREACHABLE
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "pass --port 0 to pick a free one" in out.stderr
    assert "Traceback" not in out.stderr


def test_did_you_mean_for_apps_actions_and_entrypoints(conformance: RunnerProcess,
                                                      tmp_path: Path) -> None:
    with conformance.client() as c:
        for app, action, hint in [("conformance", "gret", "did you mean 'greet'?"),
                                  ("conformence", "greet", "did you mean 'conformance'?")]:
            r = c.post("/invocations", json={"app_name": app, "action_name": action})
            assert r.status_code == 404 and r.json()["code"] == "not_found"
            assert hint in r.json()["message"]
        far = c.post("/invocations", json={"app_name": "conformance", "action_name": "zzz"})
        assert "did you mean" not in far.json()["message"]
    env = {**os.environ, "KERNEL_BASE_URL": conformance.url or ""}
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "invoke", "conformance",
                          "gret", "-s"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == ExitCode.API_4XX and "did you mean 'greet'?" in out.stderr
    (tmp_path / "main.py").write_text("from kernel_actions import App\napp = App('x')\n")
    typo = cli_process(tmp_path, "schema", "mian.py")
    assert typo.returncode == ExitCode.USAGE
    assert "no such file" in typo.stderr and "did you mean 'main.py'?" in typo.stderr


def test_the_dev_banner_shows_a_command_per_action_and_the_reload_state(
        start_runner, app_copy) -> None:
    entry = app_copy("conformance_app.py")
    runner: RunnerProcess = start_runner(entry, "--reload", cwd=entry.parent)
    banner = runner.lines[:runner.lines.index(next(ln for ln in runner.lines if "data:" in ln))]
    assert any(ln.startswith("  reload: on (saving a file under") for ln in banner)
    greet = next(ln.strip() for ln in banner if " conformance greet " in ln)
    assert greet == ("kernel-actions invoke conformance greet -p '{\"name\": \"name\"}' "
                     f"--api-url {runner.url}")
    assert sum(ln.startswith("    kernel-actions invoke conformance ") for ln in banner) == 15
    # The line works as printed.
    args = shlex.split(greet)[1:] + ["-s"]
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"message": "hello name"}


def test_the_dev_log_is_coloured_on_a_terminal_only(monkeypatch) -> None:
    from kernel_actions.cli.runner_log import colour_line, runner_output

    line = "failed    app/act abc gen 1 in 3.0 ms: boom"
    assert colour_line(line) == "\x1b[31mfailed\x1b[0m    app/act abc gen 1 in 3.0 ms: boom"
    assert colour_line("succeeded x").startswith("\x1b[32msucceeded\x1b[0m")
    assert colour_line("anything else") == "anything else"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    for stream, coloured in ((Terminal(), True), (io.StringIO(), False)):
        runner_output(stream)(line)
        assert ("\x1b[" in stream.getvalue()) is coloured
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    runner_output(plain)(line)
    assert plain.getvalue() == line + "\n"


def every_command(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*path, name))
        if isinstance(command, click.Group):
            out += every_command(command, (*path, name))
    return out


def test_short_flags_mean_one_thing_in_every_command(tmp_path: Path) -> None:
    meanings: dict[str, set[str]] = {}
    for path in every_command(cli):
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for flag in param.opts + param.secondary_opts:
                    if len(flag) == 2:
                        long = next((o for o in param.opts if o.startswith("--")), param.name)
                        meanings.setdefault(flag, set()).add(str(long))
    assert {flag: names for flag, names in meanings.items() if len(names) > 1} == {}
    assert meanings["-o"] == {"--output"} and meanings["-v"] == {"--verbose"}
    dev_help = CliRunner().invoke(cli, ["dev", "--help"]).output
    assert "--app-version" in dev_help and "--version" not in dev_help.replace("--app-version", "")
    # Old spellings keep working: package -o FILE, and --zip is the new one.
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("from kernel_actions import App\napp = App('zipped')\n")
    for flag, name in (("--zip", "new.zip"), ("-o", "old.zip")):
        out = CliRunner().invoke(cli, ["package", str(app / "main.py"), flag, str(tmp_path / name)])
        assert out.exit_code == 0, out.output
        assert (tmp_path / name).is_file()


def test_shell_completion_as_the_readme_says(tmp_path: Path) -> None:
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "compdef"),
                          ("fish", "complete --no-files --command kernel-actions")):
        env = {**os.environ, "_KERNEL_ACTIONS_COMPLETE": f"{shell}_source"}
        out = subprocess.run([sys.executable, "-m", "kernel_actions.cli"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and marker in out.stdout, (shell, out.stdout, out.stderr)
        readme = (Path(__file__).parent.parent / "README.md").read_text()
        assert f"_KERNEL_ACTIONS_COMPLETE={shell}_source kernel-actions" in readme
    env = {**os.environ, "_KERNEL_ACTIONS_COMPLETE": "bash_complete",
           "COMP_WORDS": "kernel-actions inv", "COMP_CWORD": "1"}
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["plain,invocations", "plain,invoke"]
