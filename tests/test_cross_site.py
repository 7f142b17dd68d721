"""A web page on another origin tries to drive the runner, in a real Chromium.

The page (served from another loopback port) sends what any site could:
``fetch(..., {mode: "no-cors"})`` posts of a ``text/plain`` invocation and of a
multipart deployment whose code writes a marker file when it loads, and the same
two as plain form posts. Nothing may run. The same deployment sent from the
runner's own origin does run, which shows the attack would work if let through.
A name that resolves to 127.0.0.1 (DNS rebinding) is refused too.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from .conftest import APPS, RunnerProcess, http_server, poll
from .test_dashboard import CHROMIUM_FLAGS, chromium_path

ATTACK = """
async ({runner, zip, mode}) => {
  const bytes = Uint8Array.from(atob(zip), (c) => c.charCodeAt(0));
  const invocation = JSON.stringify({app_name: "conformance", action_name: "echo",
                                     payload: "{\\"from\\": \\"attacker\\"}"});
  const form = () => {
    const fd = new FormData();
    fd.append("file", new Blob([bytes], {type: "application/zip"}), "app.zip");
    fd.append("entrypoint_rel_path", "main.py");
    fd.append("version", "attack");
    return fd;
  };
  const results = [];
  for (const [path, init] of [
    ["/invocations", {method: "POST", mode, body: invocation,
                      headers: {"Content-Type": "text/plain"}}],
    ["/deployments", {method: "POST", mode, body: form()}],
  ]) {
    try {
      const r = await fetch(runner + path, init);
      results.push(`${path}: ${r.type} ${r.status}`);
    } catch (err) {
      results.push(`${path}: ${err}`);
    }
  }
  return results;
}
"""

FORMS = """
async ({runner, zip}) => {
  const bytes = Uint8Array.from(atob(zip), (c) => c.charCodeAt(0));
  const post = (build) => new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "sink" + Math.random().toString(36).slice(2);
    document.body.append(frame);
    const f = document.createElement("form");
    f.method = "POST";
    f.target = frame.name;
    build(f);
    document.body.append(f);
    frame.addEventListener("load", () => resolve(frame.name), {once: true});
    f.submit();
  });
  const input = (f, name, value, type = "hidden") => {
    const i = document.createElement("input");
    i.type = type; i.name = name;
    if (type !== "file") i.value = value;
    f.append(i);
    return i;
  };
  await post((f) => {
    f.action = runner + "/invocations";
    f.enctype = "text/plain";
    // text/plain form bodies are "name=value": this one is a JSON object.
    input(f, '{"app_name": "conformance", "action_name": "echo", "payload": "{}", "x": "',
          '"}');
  });
  await post((f) => {
    f.action = runner + "/deployments";
    f.enctype = "multipart/form-data";
    input(f, "entrypoint_rel_path", "main.py");
    input(f, "version", "form");
    const file = input(f, "file", "", "file");
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "app.zip", {type: "application/zip"}));
    file.files = dt.files;
  });
  return "posted";
}
"""


def evil_zip(marker: Path) -> bytes:
    """A deployable app whose top-level code writes ``marker`` as soon as it loads."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("main.py", (
            "import pathlib\n"
            f"pathlib.Path({str(marker)!r}).write_text('code ran')\n"
            "from kernel_actions import App\n"
            "app = App('pwned')\n\n\n"
            "@app.action('x')\n"
            "def x(ctx):\n"
            "    return 1\n"))
    return buf.getvalue()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=[
            *CHROMIUM_FLAGS, "--host-resolver-rules=MAP rebind.test 127.0.0.1"])
        yield b
        b.close()


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> RunnerProcess:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "main.py").write_text((APPS / "conformance_app.py").read_text())
    return start_runner(folder / "main.py", cwd=folder)


def test_a_page_on_another_origin_cannot_run_anything(
        runner: RunnerProcess, browser: Browser, tmp_path: Path) -> None:
    assert runner.url is not None
    marker = tmp_path / "marker"
    zip_b64 = base64.b64encode(evil_zip(marker)).decode()
    page_html = b"<!doctype html><title>a page on the web</title><body></body>"
    with http_server(lambda path: (200, "text/html", page_html)) as elsewhere:
        assert elsewhere.rsplit(":", 1)[1] != runner.url.rsplit(":", 1)[1]
        context = browser.new_context()
        page = context.new_page()
        page.goto(elsewhere + "/")
        results = page.evaluate(ATTACK, {"runner": runner.url, "zip": zip_b64,
                                         "mode": "no-cors"})
        # Opaque answers: the page learns nothing, and the runner refused both.
        assert results == ["/invocations: opaque 0", "/deployments: opaque 0"], results
        assert page.evaluate(FORMS, {"runner": runner.url, "zip": zip_b64}) == "posted"
        context.close()

    with runner.client() as c:
        assert c.get("/invocations").json() == []
        assert c.get("/deployments").json() == []
    assert not marker.exists()
    assert "pwned" not in runner.output

    # The control: the very same upload from the runner's own page deploys, and the
    # code runs (so the refusals above are what kept it from running).
    context = browser.new_context()
    page = context.new_page()
    page.goto(runner.url + "/")
    results = page.evaluate(ATTACK, {"runner": runner.url, "zip": zip_b64,
                                     "mode": "same-origin"})
    assert results[0] == "/invocations: basic 415", results  # text/plain is not JSON
    assert results[1] == "/deployments: basic 201", results
    context.close()
    poll(marker.exists, timeout=60)
    with runner.client() as c:
        assert c.get("/invocations").json() == []


def test_a_rebound_dns_name_cannot_read_or_drive_the_runner(
        runner: RunnerProcess, browser: Browser) -> None:
    assert runner.url is not None
    port = runner.url.rsplit(":", 1)[1]
    context = browser.new_context()
    page = context.new_page()
    # The attacker's name now resolves to 127.0.0.1: the page is same-origin with the
    # runner as far as the browser knows, so only the Host check stands in the way.
    response = page.goto(f"http://rebind.test:{port}/invocations")
    assert response is not None and response.status == 403
    body = json.loads(page.inner_text("body"))
    assert body["code"] == "forbidden" and "rebind.test" in body["message"]
    status = page.evaluate("""async () => {
        const r = await fetch("/invocations", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({app_name: "conformance", action_name: "echo"})});
        return r.status;
    }""")
    assert status == 403
    context.close()
    with runner.client() as c:
        assert c.get("/invocations").json() == []
