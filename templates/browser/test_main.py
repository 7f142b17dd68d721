import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from main import app

HERE = Path(__file__).parent


def test_action_is_registered_with_its_schema() -> None:
    action = app.get("get-page-title")
    assert action is not None
    assert action.input_schema["required"] == ["url"]
    assert action.output_schema["properties"]["title"]["type"] == "string"


def test_a_url_is_required() -> None:
    out = app.invoke_sync("get-page-title", {})
    assert out.status == "failed"
    assert out.status_reason == "Payload validation failed: url: Field required"


# -- end to end: the local runner, its local Chromium, and a page served on loopback ----------


def _has_chromium() -> bool:
    from kernel_actions.runner.browsers.service import find_chromium

    try:
        find_chromium()
    except Exception:
        return False
    return True


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Local Page</title><p>served on loopback</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def page_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def runner_url(tmp_path: Path) -> Iterator[str]:
    """`kernel-actions dev` on this app, on a free port; its URL."""
    env = {k: v for k, v in os.environ.items() if k != "KERNEL_BASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel_actions.cli", "dev", "main.py", "--port", "0",
         "--no-reload", "--data-dir", str(tmp_path / "data")],
        cwd=HERE, env={**env, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    give_up = threading.Timer(60, proc.kill)  # a runner that never says it listens
    give_up.start()
    output = []
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].strip()
            break
    give_up.cancel()
    if url is None:
        proc.wait(10)
        pytest.fail("the runner did not start:\n" + "".join(output))
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.skipif(not _has_chromium(), reason="no Chromium or Chrome on this machine")
def test_get_page_title_end_to_end(runner_url: str, page_url: str) -> None:
    from kernel import Kernel

    kernel = Kernel(base_url=runner_url, api_key="local", max_retries=0)
    inv = kernel.invocations.create(app_name="{{app_name}}", action_name="get-page-title",
                                    version="latest", payload=json.dumps({"url": page_url}))
    assert inv.status == "succeeded", inv.output
    assert json.loads(inv.output or "") == {"title": "Local Page"}
