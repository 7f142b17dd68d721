"""The command line: parsing and messages through click's runner, and end to end against a
real runner (invoke, follow, replay, invocations, logs, apps, schema, package, deploy)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import click
import pytest
from click.testing import CliRunner, Result

from kernel_actions.cli import cli

from .helpers import RunnerProcess, http_server, poll

CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1


def run(runner: RunnerProcess | None, *args: str, stdin: str | None = None) -> Result:
    """The CLI in this process, pointed at ``runner`` through KERNEL_BASE_URL."""
    env = {"KERNEL_BASE_URL": runner.url if runner is not None else CLOSED,
           "KERNEL_API_KEY": None}
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def log_lines(text: str) -> list[str]:
    """The log lines of an invoke's stderr, without their ``HH:MM:SS.mmm`` stamps."""
    return [ln.split(" ", 1)[1] for ln in text.splitlines()
            if len(ln) > 12 and ln[2] == ":" and ln[:2].isdigit()]


def invocation_id(stderr: str) -> str:
    return stderr.split("invocation ", 1)[1].split()[0]


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Process:
    """The CLI as a subprocess (for signals and endless commands), read with deadlines."""

    def __init__(self, runner: RunnerProcess, *args: str) -> None:
        env = {**os.environ, "KERNEL_BASE_URL": runner.url or "", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernel_actions.cli", *args], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            # As started from a terminal: a suite run as a background job (`pytest &`)
            # hands its children SIGINT ignored, and Python then installs no Ctrl-C handler.
            preexec_fn=_sigint_default)
        self.out: queue.Queue[str | None] = queue.Queue()
        self.err: queue.Queue[str | None] = queue.Queue()
        self.seen = {"out": "", "err": ""}
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str] | None, sink: queue.Queue[str | None]) -> None:
        assert stream is not None
        for line in stream:
            sink.put(line)
        sink.put(None)

    def wait_for(self, text: str, which: str = "err", timeout: float = 60) -> str:
        """Read ``which`` (out/err) until ``text`` shows; everything read so far."""
        source = self.out if which == "out" else self.err
        deadline = time.monotonic() + timeout
        while text not in self.seen[which]:
            try:
                line = source.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{text!r} never showed; {which} was:\n"
                                     f"{self.seen[which]}") from None
            if line is None:
                raise AssertionError(f"the CLI exited before {text!r}; {which} was:\n"
                                     f"{self.seen[which]}")
            self.seen[which] += line
        return self.seen[which]

    def interrupt(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        for which, source in (("out", self.out), ("err", self.err)):
            while (line := source.get(timeout=5)) is not None:
                self.seen[which] += line
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def processes() -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(runner: RunnerProcess, *args: str) -> Process:
        started.append(Process(runner, *args))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def failing_api() -> Iterator[str]:
    """An API that answers every request with a 500 error."""

    body = b'{"code": "internal_error", "message": "the database is on fire"}'
    with http_server(lambda path: (500, "application/json", body)) as url:
        yield url


# -- parsing, help and messages -----------------------------------------------------------

def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_help_lists_every_command_and_each_shows_an_example() -> None:
    top = run(None, "--help")
    assert top.exit_code == 0
    for command in ("dev", "serve", "invoke", "invocations", "logs", "apps", "schema",
                    "package", "deploy"):
        assert f"  {command} " in top.output
    assert "Exit codes" in top.output and "KERNEL_BASE_URL" in top.output
    for path in _commands(cli):
        if path == ("dev",):
            continue  # its example is in the top-level help
        out = run(None, *path, "--help")
        assert out.exit_code == 0, path
        assert "kernel-actions " in out.output, f"no example in {' '.join(path)} --help"
    invoke_help = run(None, "invoke", "--help").output
    for flag in ("-p, --payload", "--payload-file", "--version", "-s, --sync",
                 "--async-timeout", "--detach", "-o, --output", "--api-url"):
        assert flag in invoke_help
    # Its examples are invoke's own (Kernel's `invoke history` spelling still works, unlisted).
    assert "invoke history" not in invoke_help


def test_one_way_to_choose_the_output_format() -> None:
    """``-o text|json[|jsonl]`` where a command has it; ``--json`` only where ``--output``
    means something else (``invocations update``: the output to record; ``package``)."""
    own_json = {("invocations", "update"), ("package",)}
    for path in _commands(cli):
        options = run(None, *path, "--help").output
        has_o = "-o, --output [text|json" in options
        if "--json" in options:
            assert path in own_json and not has_o, f"{' '.join(path)}: two output flags"
        assert "--json |" not in options and "--json --" not in options, path


def test_the_old_json_flag_still_works_and_says_it_is_deprecated(
        conformance: RunnerProcess) -> None:
    listed = run(conformance, "invocations", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert listed.stderr.strip() == "note: --json is deprecated; use -o json"
    final = run(conformance, "invoke", "conformance", "echo", "-p", "1", "--json")
    assert final.exit_code == 0 and json.loads(final.stdout)["status"] == "succeeded"
    assert "--json is deprecated; use -o json (every event" in final.stderr


def test_invocations_list_fits_the_width_one_row_a_line(conformance: RunnerProcess) -> None:
    reason = "the upstream service said no " * 20
    ids = []
    for _ in range(2):
        started = run(conformance, "invoke", "conformance", "sleep", "-p", "30", "--detach")
        ids.append(started.stdout.strip())
        updated = run(conformance, "invocations", "update", ids[-1], "--status", "failed",
                      "--output", json.dumps({"error": reason}))
        assert updated.exit_code == 0, updated.output
    ok = run(conformance, "invoke", "conformance", "echo", "-p", "1", "-s")
    assert ok.exit_code == 0
    for columns in ("80", "132"):
        out = CliRunner().invoke(cli, ["invocations", "list"], catch_exceptions=False, env={
            "KERNEL_BASE_URL": conformance.url, "KERNEL_API_KEY": None, "COLUMNS": columns})
        lines = out.stdout.splitlines()
        assert len(lines) == 4, out.stdout  # the header and one line per invocation
        assert max(len(line) for line in lines) <= int(columns), out.stdout
        assert all(line == line.rstrip() for line in lines)
        # The id and status whole; the reason as far as the line goes.
        assert all(any(line.startswith(i) and " failed " in line for line in lines)
                   for i in ids), out.stdout
    assert all(any(line.startswith(i) and "upstream" in line for line in lines)
               for i in ids), out.stdout  # at 132 columns


@pytest.mark.parametrize("args, message", [
    (["-p", "{nope"], "payload is not valid JSON: Expecting property name"),
    (["-p", "{}", "-f", "x.json"], "either inline or as a file, not both"),
    (["-f", "missing.json"], "cannot read the payload from missing.json"),
    (["-f", "-"], "payload is not valid JSON (stdin)"),
])
def test_a_bad_payload_is_one_line_and_exit_2_before_any_request(
        args: list[str], message: str) -> None:
    out = run(None, "invoke", "app", "action", *args, stdin="[1,")
    assert out.exit_code == 2
    assert message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_bad_usage_is_exit_2() -> None:
    assert run(None, "invoke", "app", "action", "--async-timeout", "5").exit_code == 2
    assert run(None, "invoke", "app").exit_code == 2
    assert run(None, "invocations", "update", "x", "--status", "done").exit_code == 2
    bad_output = run(None, "invocations", "update", "x", "--status", "failed", "--output", "{")
    assert bad_output.exit_code == 2 and "output is not valid JSON" in bad_output.stderr
    bad_url = run(None, "apps", "list", "--api-url", "localhost:8484")
    assert bad_url.exit_code == 2 and "must start with http://" in bad_url.stderr
    bad_since = run(None, "logs", "app", "--since", "yesterday")
    assert bad_since.exit_code == 2 and "invalid 'since'" in bad_since.stderr


@pytest.mark.parametrize("args", [
    ["invoke", "app", "action", "-p", "{}"],
    ["invoke", "app", "action", "--sync"],
    ["invocations", "list"],
    ["invocations", "get", "abc"],
    ["invocations", "follow", "abc"],
    ["logs", "app"],
    ["apps", "list"],
])
def test_an_unreachable_runner_is_exit_3_naming_the_url(args: list[str]) -> None:
    out = run(None, *args)
    assert out.exit_code == 3, out.output
    assert f"cannot reach {CLOSED}" in out.stderr
    assert "kernel-actions dev" in out.stderr
    assert "Traceback" not in out.output


def test_api_url_overrides_kernel_base_url() -> None:
    out = CliRunner().invoke(cli, ["apps", "list", "--api-url", "http://127.0.0.1:2"],
                             env={"KERNEL_BASE_URL": CLOSED})
    assert out.exit_code == 3 and "http://127.0.0.1:2" in out.stderr


def test_a_5xx_answer_is_exit_5_with_its_code(failing_api: str) -> None:
    for args in (["invocations", "list"], ["invoke", "app", "action"], ["logs", "app"]):
        out = run(None, *args, "--api-url", failing_api)
        assert out.exit_code == 5, args
        assert out.stderr.strip() == "Error: internal_error: the database is on fire"


# -- schema ---------------------------------------------------------------------------------

def test_schema_prints_the_manifest_without_running_the_code_here(tmp_path: Path) -> None:
    app = tmp_path / "main.py"
    app.write_text(
        "from kernel_actions import App\n"
        "print('imported!')  # must not reach the manifest\n"
        "app = App('tiny')\n\n"
        "@app.action('double')\n"
        "def double(ctx, payload: int) -> int:\n"
        "    '''Twice the payload.'''\n"
        "    return payload * 2\n")
    out = run(None, "schema", str(app))
    assert out.exit_code == 0, out.output
    manifest = json.loads(out.stdout)
    assert manifest["entrypoint"] == "main.py"
    (action,) = manifest["apps"][0]["actions"]
    assert action["name"] == "double" and action["description"] == "Twice the payload."
    assert action["input_schema"] == {"type": "integer"}
    assert "imported!" not in out.output
    assert not any(getattr(m, "__file__", None) == str(app) for m in list(sys.modules.values()))


def test_schema_of_code_that_does_not_load_is_one_line_with_file_and_line(
        tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = 1\ndef (:\n")
    out = run(None, "schema", str(tmp_path / "broken.py"))
    assert out.exit_code == 2
    assert "broken.py:2" in out.stderr and out.stderr.count("\n") == 1
    (tmp_path / "raises.py").write_text("import os\n\nraise RuntimeError('no config')\n")
    out = run(None, "schema", str(tmp_path / "raises.py"))
    assert out.exit_code == 2
    assert "RuntimeError: no config" in out.stderr and "raises.py:3" in out.stderr
    (tmp_path / "empty.py").write_text("x = 1\n")
    out = run(None, "schema", str(tmp_path / "empty.py"))
    assert out.exit_code == 2 and "defines no app" in out.stderr
    (tmp_path / "dies.py").write_text("import os\nos._exit(9)\n")
    out = run(None, "schema", str(tmp_path / "dies.py"))
    assert out.exit_code == 2 and "exited with code 9" in out.stderr
    out = run(None, "schema", str(tmp_path / "nowhere.py"))
    assert out.exit_code == 2 and "not found" in out.stderr


# -- end to end against a runner ------------------------------------------------------------

def test_invoke_follows_logs_in_order_and_prints_the_output(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 2}')
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == "2"
    assert log_lines(out.stderr) == [
        "print 0", "WARNING conformance: logging 0", "ctx 0",
        "print 1", "WARNING conformance: logging 1", "ctx 1"]
    assert "✓ succeeded" in out.stderr
    assert out.stderr.startswith("invocation ") and "(conformance/logs, version latest)" \
        in out.stderr


def test_invoke_shows_status_transitions(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "sleep", "-p", "0.3")
    assert out.exit_code == 0, out.output
    assert "● running" in out.stderr and out.stdout.strip() == '"slept"'


def test_a_failed_invocation_is_exit_1_with_its_reason(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "fail")
    assert out.exit_code == 1
    assert "✗ failed" in out.stderr
    assert "Action raised RuntimeError: this action always fails" in out.stderr
    assert 'raise RuntimeError("this action always fails")' in out.stderr  # the traceback
    invalid = run(conformance, "invoke", "conformance", "greet", "-p", '{"name": ""}', "-s")
    assert invalid.exit_code == 1
    assert "Payload validation failed" in invalid.stderr
    crashed = run(conformance, "invoke", "conformance", "crash")
    assert crashed.exit_code == 1 and "crash" in crashed.stderr.lower()


def test_sync_and_json_output(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "greet", "-f", "-", "--sync", "-o", "json",
              stdin='{"name": "Ada", "times": 2}')
    assert out.exit_code == 0, out.output
    inv = json.loads(out.stdout)
    assert inv["status"] == "succeeded" and inv["app_name"] == "conformance"
    assert json.loads(inv["output"]) == {"message": "hello Ada hello Ada"}
    failed = run(conformance, "invoke", "conformance", "fail", "-s", "-o", "json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["status_reason"].startswith("Action raised RuntimeError")
    plain = run(conformance, "invoke", "conformance", "echo", "-p", '{"a": [1, 2]}', "-s")
    assert plain.exit_code == 0 and json.loads(plain.stdout) == {"a": [1, 2]}


def test_jsonl_prints_every_event_as_a_line(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 1}', "-o", "jsonl")
    assert out.exit_code == 0, out.output
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["message"] for e in events if e["event"] == "log"] == [
        "print 0", "WARNING conformance: logging 0", "ctx 0"]
    assert events[-1]["event"] == "invocation_state"
    assert events[-1]["invocation"]["status"] == "succeeded"
    assert out.stderr == ""


def test_api_errors_are_exit_4_with_code_and_message(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "nope", "x")
    assert out.exit_code == 4
    assert out.stderr.startswith("Error: not_found: app 'nope' not found")
    missing = run(conformance, "invocations", "get", "zzzzzzzzzzzzzzzzzzzzzzzz")
    assert missing.exit_code == 4 and "not_found: invocation" in missing.stderr


def test_detach_get_update_replay_and_list(conformance: RunnerProcess) -> None:
    started = run(conformance, "invoke", "conformance", "sleep", "-p", "30", "--detach")
    assert started.exit_code == 0, started.output
    inv_id = started.stdout.strip()
    assert len(inv_id) == 24
    assert f"kernel-actions invocations follow {inv_id}" in started.stderr
    with conformance.client() as c:
        poll(lambda: c.get(f"/invocations/{inv_id}").json()["status"] == "running")
    got = run(conformance, "invocations", "get", inv_id[:10], "-o", "json")  # a prefix will do
    assert got.exit_code == 0 and json.loads(got.stdout)["id"] == inv_id
    assert json.loads(got.stdout)["status"] == "running"
    text = run(conformance, "invocations", "get", inv_id)
    assert "conformance" in text.stdout and "running" in text.stdout and "30" in text.stdout
    upd = run(conformance, "invocations", "update", inv_id, "--status", "failed", "--output",
              '{"error": "stopped by hand"}')
    assert upd.exit_code == 0, upd.output
    again = run(conformance, "invocations", "update", inv_id, "--status", "succeeded")
    assert again.exit_code == 4
    assert again.stderr.startswith("Error: conflict: ")
    replay = run(conformance, "invocations", "replay", inv_id, "--detach")
    new_id = replay.stdout.strip()
    assert replay.exit_code == 0 and new_id != inv_id
    with conformance.client() as c:
        new = c.get(f"/invocations/{new_id}").json()
        assert (new["action_name"], new["payload"], new["version"]) == ("sleep", "30", "latest")
        c.patch(f"/invocations/{new_id}", json={"status": "failed"})
    listed = run(conformance, "invocations", "list", "--action", "sleep", "-o", "json")
    assert [i["id"] for i in json.loads(listed.stdout)] == [new_id, inv_id]
    table = run(conformance, "invocations", "list", "--action", "sleep")
    assert inv_id in table.stdout and "failed" in table.stdout
    paged = run(conformance, "invocations", "list", "--action", "sleep", "--limit", "1")
    assert new_id in paged.stdout and inv_id not in paged.stdout
    assert "--offset 1" in paged.stderr
    every = run(conformance, "invocations", "list", "--action", "sleep", "--limit", "1", "--all",
                "-o", "json")
    assert [i["id"] for i in json.loads(every.stdout)] == [new_id, inv_id]


def test_replay_follows_the_new_invocation(conformance: RunnerProcess) -> None:
    first = run(conformance, "invoke", "conformance", "greet", "-p", '{"name": "Bo"}', "-s")
    assert first.exit_code == 0
    old_id = invocation_id(first.stderr)
    out = run(conformance, "invocations", "replay", old_id)
    assert out.exit_code == 0, out.output
    assert f"replaying {old_id} as " in out.stderr
    assert json.loads(out.stdout) == {"message": "hello Bo"}
    failed = run(conformance, "invoke", "conformance", "fail")
    again = run(conformance, "invocations", "replay", invocation_id(failed.stderr))
    assert again.exit_code == 1 and "this action always fails" in again.stderr


def test_follow_streams_a_running_invocation(conformance: RunnerProcess) -> None:
    with conformance.client() as c:
        inv_id = c.post("/invocations", json={
            "app_name": "conformance", "action_name": "sleep", "payload": "0.5",
            "async": True}).json()["id"]
        out = run(conformance, "invocations", "follow", inv_id)
        assert out.exit_code == 0, out.output
        assert "sleeping 0.5" in out.stderr and out.stdout.strip() == '"slept"'
        failed_id = c.post("/invocations", json={
            "app_name": "conformance", "action_name": "fail", "async": True}).json()["id"]
    failed = run(conformance, "invocations", "follow", failed_id)
    assert failed.exit_code == 1 and "this action always fails" in failed.stderr


def test_cancel_command(conformance: RunnerProcess) -> None:
    started = run(conformance, "invoke", "conformance", "sleep", "-p", "30", "--detach")
    inv_id = started.stdout.strip()
    out = run(conformance, "invocations", "cancel", inv_id, "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["status_reason"] == "Invocation cancelled by user"


def test_ctrl_c_cancels_the_invocation(conformance: RunnerProcess,
                                       processes: Callable[..., Process]) -> None:
    proc = processes(conformance, "invoke", "conformance", "sleep", "-p", "30")
    seen = proc.wait_for("sleeping 30")  # its log line: the CLI is following the stream
    inv_id = invocation_id(seen)
    assert proc.interrupt() == 130
    assert f"cancelled invocation {inv_id}" in proc.seen["err"]
    assert "Traceback" not in proc.seen["err"]
    with conformance.client() as c:
        inv = c.get(f"/invocations/{inv_id}").json()
    assert inv["status"] == "failed"
    assert inv["status_reason"] == "Invocation cancelled by user"
    assert json.loads(inv["output"]) == {"error": "Invocation cancelled by user"}


def test_ctrl_c_on_follow_stops_without_cancelling(
        conformance: RunnerProcess, processes: Callable[..., Process]) -> None:
    started = run(conformance, "invoke", "conformance", "sleep", "-p", "30", "--detach")
    inv_id = started.stdout.strip()
    proc = processes(conformance, "invocations", "follow", inv_id)
    proc.wait_for("sleeping 30")
    assert proc.interrupt() == 130
    assert "keeps running" in proc.seen["err"]
    with conformance.client() as c:
        assert c.get(f"/invocations/{inv_id}").json()["status"] == "running"
        c.patch(f"/invocations/{inv_id}", json={"status": "failed"})


def test_logs_of_an_app(conformance: RunnerProcess) -> None:
    first = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 1}')
    second = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 2}')
    first_id, second_id = invocation_id(first.stderr), invocation_id(second.stderr)
    out = run(conformance, "logs", "conformance", "--since", "5m")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert [ln.split(" ", 2)[1:] for ln in lines] == [
        [first_id[:8], "print 0"], [first_id[:8], "WARNING conformance: logging 0"],
        [first_id[:8], "ctx 0"],
        [second_id[:8], "print 0"], [second_id[:8], "WARNING conformance: logging 0"],
        [second_id[:8], "ctx 0"], [second_id[:8], "print 1"],
        [second_id[:8], "WARNING conformance: logging 1"], [second_id[:8], "ctx 1"]]
    one = run(conformance, "logs", "conformance", "-i", second_id[:12], "--json")
    records = [json.loads(line) for line in one.stdout.splitlines()]
    assert {r["invocation_id"] for r in records} == {second_id} and len(records) == 6
    assert records[0] == {"timestamp": records[0]["timestamp"], "invocation_id": second_id,
                          "action_name": "logs", "message": "print 0"}
    wrong = run(conformance, "logs", "other-app", "-i", second_id)
    assert wrong.exit_code == 2 and "belongs to app 'conformance'" in wrong.stderr
    unknown = run(conformance, "logs", "no-such-app")
    assert unknown.exit_code == 4 and "no app 'no-such-app'" in unknown.stderr


def test_logs_without_follow_shows_a_running_invocation_so_far(
        conformance: RunnerProcess) -> None:
    started = run(conformance, "invoke", "conformance", "sleep", "-p", "30", "--detach")
    inv_id = started.stdout.strip()
    with conformance.client() as c:
        poll(lambda: c.get(f"/invocations/{inv_id}").json()["status"] == "running")
        out = run(conformance, "logs", "conformance")
        assert out.exit_code == 0, out.output
        assert out.stdout.split(" ", 1)[1].strip() == f"{inv_id[:8]} sleeping 30.0"
        c.patch(f"/invocations/{inv_id}", json={"status": "failed"})


def test_logs_follow_prints_new_invocations_lines(
        conformance: RunnerProcess, processes: Callable[..., Process]) -> None:
    proc = processes(conformance, "logs", "conformance", "-f")
    proc.wait_for("following conformance's logs")
    with conformance.client() as c:
        logs_id = c.post("/invocations", json={
            "app_name": "conformance", "action_name": "logs", "payload": '{"lines": 2}'}
        ).json()["id"]
        sleep_id = c.post("/invocations", json={
            "app_name": "conformance", "action_name": "sleep", "payload": "0.1"}).json()["id"]
    proc.wait_for("ctx 1", "out")
    out = proc.wait_for("sleeping 0.1", "out")
    # Each invocation's lines in order (two invocations' lines may interleave).
    lines = [ln.split(" ", 2) for ln in out.splitlines()]
    assert [m for _, short, m in lines if short == logs_id[:8]] == [
        "print 0", "WARNING conformance: logging 0", "ctx 0",
        "print 1", "WARNING conformance: logging 1", "ctx 1"]
    assert [m for _, short, m in lines if short == sleep_id[:8]] == ["sleeping 0.1"]
    assert proc.interrupt() == 130


def test_apps_list(conformance: RunnerProcess) -> None:
    out = run(conformance, "apps", "list", "-o", "json")
    assert out.exit_code == 0
    (app,) = json.loads(out.stdout)
    assert app["app_name"] == "conformance" and app["version"] == "latest"
    table = run(conformance, "apps", "list")
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["app", "version", "deployment", "actions", "code", "generation",
                              "state"]
    assert row.startswith("conformance") and "greet, echo, logs" in row and row.rstrip() \
        .endswith("ok")


def test_apps_list_shows_a_stale_app(start_runner: Callable[..., RunnerProcess],
                                     tmp_path: Path) -> None:
    app = tmp_path / "app" / "main.py"
    app.parent.mkdir()
    app.write_text("from kernel_actions import App\napp = App('hot')\n\n"
                   "@app.action('a')\ndef a(ctx) -> int:\n    return 1\n")
    runner = start_runner(app, "--reload", cwd=app.parent)
    app.write_text("from kernel_actions import App\napp = App('hot')\nboom(\n")
    poll(lambda: json.loads(run(runner, "apps", "list", "--json").stdout)[0]["stale"],
         timeout=20)
    table = run(runner, "apps", "list")
    assert "stale: " in table.stdout and "main.py:3" in table.stdout


def test_schema_of_the_conformance_app(conformance: RunnerProcess) -> None:
    out = run(None, "schema", str(conformance.cwd / "main.py"))
    assert out.exit_code == 0, out.output
    manifest = json.loads(out.stdout)
    (app,) = manifest["apps"]
    assert app["name"] == "conformance"
    greet = next(a for a in app["actions"] if a["name"] == "greet")
    assert greet["input_schema"]["required"] == ["name"]
    with conformance.client() as c:
        served = c.get("/apps").json()[0]["actions"]
    assert [a["name"] for a in app["actions"]] == [a["name"] for a in served]


def test_package_and_deploy_to_serve(start_runner: Callable[..., RunnerProcess],
                                     tmp_path: Path) -> None:
    served = start_runner(None, command="serve", data_dir=tmp_path / "served")
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text(
        "import os\nfrom kernel_actions import App\napp = App('cli-app')\n\n"
        "@app.action('env')\ndef env(ctx) -> str:\n    return os.environ['TOKEN']\n")
    (app / "requirements.txt").write_text("")
    (app / ".env").write_text("SECRET=1\n")
    packed = run(None, "package", str(app / "main.py"), "-o", str(tmp_path / "out.zip"), "-v")
    assert packed.exit_code == 0, packed.output
    assert packed.stdout.strip() == str(tmp_path / "out.zip")
    assert "+ main.py" in packed.stderr and "- .env" in packed.stderr
    report = run(None, "package", str(app / "main.py"), "-o", str(tmp_path / "out.zip"),
                 "--json")
    assert json.loads(report.stdout)["files"] == ["main.py", "requirements.txt"]
    deployed = run(served, "deploy", str(app / "main.py"), "--version", "7", "-e", "TOKEN=abc")
    assert deployed.exit_code == 0, deployed.output
    assert "app cli-app deployed (version 7): env" in deployed.stderr
    out = run(served, "invoke", "cli-app", "env", "-v", "7", "-s")
    assert out.exit_code == 0 and out.stdout.strip() == '"abc"'
    again = run(served, "deploy", str(app / "main.py"), "--version", "7")
    assert again.exit_code == 4 and "conflict" in again.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "main.py").write_text("def (:\n")
    broken = run(None, "package", str(tmp_path / "broken" / "main.py"))
    assert broken.exit_code == 2 and "does not load" in broken.stderr
