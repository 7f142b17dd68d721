"""Screenshots of the dashboard's views for the README, taken from a real run so they stay
current.

    python benchmarks/dashboard_screenshots.py [--out docs/dashboard]

Starts ``kernel-actions dev`` on the dashboard tests' app (``tests/apps/dashboard_app.py``),
runs the scripted agent of ``tests/test_traces.py`` (a browser created with an invocation's
id: a replay, a page loaded through ``playwright.execute``, a screenshot, a click, typing,
a failing execute) and a failing action, leaves one browser open (its live view embedded), then opens each view in
headless Chromium and writes ``invocations.png``, ``invocation-trace.png``,
``invocation-failed.png``, ``browsers.png`` and ``invocation-trace-dark.png`` to ``--out``.
Needs Chromium and Xvfb, as the tests do.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import httpx
from _common import RunnerProcess
from playwright.sync_api import Page, expect, sync_playwright

from tests.helpers import APPS, invoke, sdk_client
from tests.test_dashboard import CHROMIUM_FLAGS, chromium_path
from tests.test_traces import AGENT_STEPS, scripted_agent, trace_of

ROOT = Path(__file__).resolve().parent.parent


def save(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=False)
    print(f"wrote {out / name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kernel-actions-shots-"))
    shutil.copy(APPS / "dashboard_app.py", work / "main.py")
    server = RunnerProcess(["dev", str(work / "main.py"), "--no-reload", "--port", "0",
                            "--data-dir", str(work / "data")], cwd=work)
    server.wait_ready()
    server.wait_http("/health")
    try:
        url = server.url or ""
        for name in ("Ada", "Grace"):
            invoke(url, "greet", f'{{"name": "{name}"}}', app="dash")
        failed = invoke(url, "boom", app="dash")
        gate = work / "gate"
        agent = invoke(url, "gated", f'"{gate}"', app="dash", is_async=True)
        scripted_agent(url, agent["id"])
        gate.touch()
        trace_of(url, agent["id"], len(AGENT_STEPS))
        waiting = invoke(url, "gated", f'"{work / "never"}"', app="dash", is_async=True)
        sdk_client(server).browsers.create(invocation_id=waiting["id"], timeout_seconds=300,
                                           viewport={"width": 1024, "height": 768})
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            for scheme in ("light", "dark"):
                context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                              color_scheme=scheme)
                page = context.new_page()
                page.goto(f"{url}/#/invocations/{agent['id']}")
                expect(page.locator("#trace-steps li.step")).to_have_count(len(AGENT_STEPS))
                page.locator("#trace-steps li.step").nth(4).click()
                expect(page.locator("#step-shot svg circle.click")).to_have_count(1)
                page.locator("#trace").scroll_into_view_if_needed()
                save(page, out, "invocation-trace" + ("-dark" if scheme == "dark" else ""))
                if scheme == "light":
                    page.goto(f"{url}/#/invocations")
                    expect(page.locator("#invocations tbody tr")).to_have_count(5)
                    save(page, out, "invocations")
                    page.goto(f"{url}/#/invocations/{failed['id']}")
                    expect(page.locator("#traceback")).to_be_visible()
                    save(page, out, "invocation-failed")
                    page.goto(f"{url}/#/browsers")
                    expect(page.locator("#open-browsers tbody tr[data-id]")).to_have_count(1)
                    expect(page.locator("#closed-table tbody tr")).to_have_count(1)
                    page.locator("#open-browsers button.watch").click()
                    expect(page.frame_locator("#open-browsers iframe").locator(
                        "#live-state")).to_have_attribute("data-state", "live")
                    save(page, out, "browsers")
                context.close()
            browser.close()
        httpx.delete(f"{url}/invocations/{waiting['id']}/browsers", timeout=60)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
