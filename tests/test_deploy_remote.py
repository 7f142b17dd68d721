"""``deploy`` to a Kernel-compatible API that is not the local runner: the request is what
Kernel's ``POST /deployments`` takes, field by field as the official SDK's own types and
encoder define it, and the deployment's events are followed to the end."""

from __future__ import annotations

import email.parser
import email.policy
import http.server
import io
import json
import threading
import typing
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from kernel import Kernel
from kernel.types import deployment_create_params

from kernel_actions.cli import cli

DEPLOYMENT = {"id": "dep_remote1", "status": "queued", "created_at": "2026-01-02T15:04:05Z",
              "entrypoint_rel_path": "main.py", "env_vars": {}, "region": "aws.us-east-1a",
              "version": "2"}
EVENTS = [
    {"event": "log", "timestamp": "2026-01-02T15:04:06.000000001Z", "message": "building"},
    {"event": "deployment_state", "timestamp": "2026-01-02T15:04:07Z",
     "deployment": {**DEPLOYMENT, "status": "in_progress"}},
    {"event": "app_version_summary", "timestamp": "2026-01-02T15:04:08Z", "id": "ver_1",
     "app_name": "remote-app", "version": "2", "region": "aws.us-east-1a",
     "actions": [{"name": "hello"}]},
    {"event": "deployment_state", "timestamp": "2026-01-02T15:04:09Z",
     "deployment": {**DEPLOYMENT, "status": "running"}},
]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)


@pytest.fixture
def recording_api() -> Iterator[tuple[str, list[Recorded]]]:
    """A Kernel-shaped API on loopback that records every request."""
    requests: list[Recorded] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            record = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()})
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                record.fields[str(name)] = (part.get_filename(), part.get_payload(decode=True))
            requests.append(record)
            self._answer(201, json.dumps(DEPLOYMENT).encode(), "application/json")

        def do_GET(self) -> None:
            requests.append(Recorded("GET", self.path,
                                     {k.lower(): v for k, v in self.headers.items()}))
            if self.path.startswith("/deployments/dep_remote1/events"):
                body = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in EVENTS)
                self._answer(200, body, "text/event-stream")
            else:
                self._answer(404, b'{"code": "not_found", "message": "no"}', "application/json")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def _app(folder: Path) -> Path:
    folder.mkdir()
    (folder / "main.py").write_text(
        "from kernel_actions import App\napp = App('remote-app')\n\n"
        "@app.action('hello')\ndef hello(ctx) -> str:\n    return 'hi'\n")
    (folder / "requirements.txt").write_text("")
    return folder / "main.py"


def _check_against_sdk_types(fields: dict[str, tuple[str | None, bytes]]) -> None:
    hints = typing.get_type_hints(deployment_create_params.DeploymentCreateParams)
    for name, (_, value) in fields.items():
        base = name.split("[", 1)[0]
        assert base in hints, f"{name} is not a field of DeploymentCreateParams"
        if "[" in name:  # env_vars[KEY]: a Dict[str, str] spelled as bracketed fields
            assert typing.get_origin(hints[base]) is dict and name.endswith("]")
        elif base == "region":
            assert value.decode() in typing.get_args(hints["region"])
        elif base == "force":
            assert value in (b"true", b"false")
        elif base == "file":
            with zipfile.ZipFile(io.BytesIO(value)) as zf:
                assert "main.py" in zf.namelist()
        else:
            assert hints[base] is str and value.decode()


def test_deploy_sends_what_the_sdk_sends_and_follows_the_events(
        recording_api: tuple[str, list[Recorded]], tmp_path: Path) -> None:
    url, requests = recording_api
    entry = _app(tmp_path / "app")
    out = CliRunner().invoke(
        cli, ["deploy", str(entry), "--version", "2", "-e", "TOKEN=abc", "-e", "MODE=x y",
              "--region", "aws.us-east-1a", "--force"],
        env={"KERNEL_BASE_URL": url, "KERNEL_API_KEY": "sk-test"}, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "app remote-app deployed (version 2): hello" in out.stderr
    assert "building" in out.stderr
    ours = requests[0]
    assert (ours.method, ours.path) == ("POST", "/deployments")
    assert ours.headers["authorization"] == "Bearer sk-test"
    assert ours.headers["content-type"].startswith("multipart/form-data; boundary=")
    _check_against_sdk_types(ours.fields)
    assert {k: v.decode() for k, (_, v) in ours.fields.items() if k != "file"} == {
        "entrypoint_rel_path": "main.py", "version": "2", "force": "true",
        "region": "aws.us-east-1a", "env_vars[TOKEN]": "abc", "env_vars[MODE]": "x y"}
    assert requests[1].method == "GET" and requests[1].path == "/deployments/dep_remote1/events"

    # The official SDK, given the same values, sends the same fields.
    Kernel(api_key="sk-test", base_url=url, max_retries=0).deployments.create(
        file=("bundle.zip", ours.fields["file"][1], "application/zip"),
        entrypoint_rel_path="main.py", version="2", force=True, region="aws.us-east-1a",
        env_vars={"TOKEN": "abc", "MODE": "x y"})
    sdk = requests[2]
    _check_against_sdk_types(sdk.fields)
    assert set(sdk.fields) == set(ours.fields)
    assert {k: v for k, v in sdk.fields.items() if k != "file"} == \
        {k: v for k, v in ours.fields.items() if k != "file"}
    assert sdk.fields["file"][1] == ours.fields["file"][1]


def test_deploy_warns_of_the_variables_the_platform_sets_itself(
        recording_api: tuple[str, list[Recorded]], tmp_path: Path) -> None:
    """KERNEL_API_KEY, KERNEL_BASE_URL and ENTRYPOINT_RELPATH are Kernel's to set: given with
    -e or --env-file, each gets Kernel's CLI's warning (and the others none)."""
    url, _ = recording_api
    entry = _app(tmp_path / "app")
    env_file = tmp_path / "deploy.env"
    env_file.write_text("KERNEL_API_KEY=sk-mine\nTOKEN=abc\n")
    out = CliRunner().invoke(
        cli, ["deploy", str(entry), "--env-file", str(env_file), "-e",
              "KERNEL_BASE_URL=http://example.invalid", "-e", "MODE=x"],
        env={"KERNEL_BASE_URL": url, "KERNEL_API_KEY": "sk-test"}, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    warned = [line for line in out.stderr.splitlines() if "reserved by Kernel" in line]
    assert len(warned) == 2, out.stderr
    assert "KERNEL_API_KEY is reserved by Kernel and will be ignored" in warned[0]
    assert "KERNEL_BASE_URL is reserved by Kernel and will be ignored" in warned[1]
    assert not any(name in out.stderr for name in ("TOKEN is", "MODE is"))

    plain = CliRunner().invoke(cli, ["deploy", str(entry), "-e", "TOKEN=abc"],
                               env={"KERNEL_BASE_URL": url, "KERNEL_API_KEY": "sk-test"},
                               catch_exceptions=False)
    assert plain.exit_code == 0 and "reserved" not in plain.stderr, plain.output
