"""The dashboard at ``/``, driven in a real headless Chromium by Playwright.

Screenshots of each step land in tests/artifacts/screenshots/ (or $DASHBOARD_SCREENSHOTS).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from kernel_actions.runner.browsers.display import display_support

from . import helpers
from .helpers import APPS, TESTS, RunnerProcess
from .test_traces import AGENT_STEPS, CLICK, scripted_agent, trace_of

SHOTS = Path(os.environ.get("DASHBOARD_SCREENSHOTS", TESTS / "artifacts" / "screenshots"))
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise RuntimeError("no Chromium on this machine: `apt install chromium` (.ci/run does)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def dash(start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> RunnerProcess:
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy(APPS / "dashboard_app.py", folder / "main.py")
    return start_runner(folder / "main.py", cwd=folder)


invoke = functools.partial(helpers.invoke, app="dash")


def test_list_updates_live_when_an_invocation_finishes(dash: RunnerProcess, page: Page,
                                                       tmp_path: Path) -> None:
    page.goto(dash.url + "/")
    expect(page.locator("#conn")).to_have_text("live")
    # Nothing invoked yet: the page says how, with a real action.
    empty = page.locator("#empty-state")
    expect(empty).to_contain_text(f"kernel-actions invoke 'dash' 'greet' --api-url '{dash.url}'")
    expect(empty.locator("a", has_text="the form of dash / greet")).to_have_attribute(
        "href", "#/apps/dash/greet")
    shot(page, "list-empty")
    gate = tmp_path / "gate"
    inv = invoke(dash.url, "gated", f'"{gate}"', is_async=True)
    row = page.locator(f'#invocations tr[data-id="{inv["id"]}"]')
    expect(row).to_have_attribute("data-status", "running")
    expect(row).to_contain_text("dash / gated")
    expect(empty).to_have_count(0)
    shot(page, "list-running")
    gate.touch()
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(row.locator(".status")).to_have_text("succeeded")
    shot(page, "list-succeeded")


def test_the_form_invokes_an_action_and_shows_its_output(dash: RunnerProcess,
                                                         page: Page) -> None:
    page.goto(dash.url + "/#/apps/dash/greet")
    expect(page.locator(".description")).to_have_text("Greet someone, up to five times.")
    page.fill("#f-name", "Ada")
    page.select_option("#f-language", label="fr")
    page.fill("#f-times", "2")
    page.fill("#f-address\\.city", "Lyon")
    page.click("#invoke-sync")
    output = page.locator("#result-output")
    expect(output).to_contain_text('"message": "Bonjour, Ada from Lyon! Bonjour, Ada from Lyon!"')
    expect(page.locator("#result .status")).to_have_text("succeeded")
    shot(page, "form-output")
    # Raw-JSON mode carries what the form holds, and invokes async just as well.
    page.check("#raw-mode")
    raw = page.locator("#raw-payload")
    expect(raw).to_have_value(re.compile(r'"name": "Ada",\s+"language": "fr"'))
    raw.fill('{"name": "Bo"}')
    page.click("#invoke-async")
    expect(output).to_contain_text('"message": "Hello, Bo!"')


def test_a_validation_error_appears_at_its_field(dash: RunnerProcess, page: Page) -> None:
    page.goto(dash.url + "/#/apps/dash/greet")
    page.fill("#f-name", "")
    page.fill("#f-times", "9")
    page.click("#invoke-sync")
    name_error = page.locator('.field[data-path="name"] .field-error')
    expect(name_error).to_contain_text("at least 1 character")
    expect(page.locator('.field[data-path="times"] .field-error')).to_contain_text(
        "less than or equal to 5")
    expect(page.locator('.field[data-path="language"] .field-error')).to_have_count(0)
    # An optional nested object left blank is left out, not sent half-empty.
    expect(page.locator('.field[data-path="address.city"] .field-error')).to_have_count(0)
    expect(page.locator("#status-reason")).to_contain_text("Payload validation failed")
    shot(page, "form-validation")


def test_logs_stream_live_on_the_detail_page(dash: RunnerProcess, page: Page,
                                             tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    inv = invoke(dash.url, "gated", f'"{gate}"', is_async=True)
    page.goto(f"{dash.url}/#/invocations/{inv['id']}")
    logs = page.locator("#logs")
    expect(logs).to_contain_text("step 1: waiting for the gate")
    expect(page.locator(".panel .status").first).to_have_text("running")
    expect(logs).not_to_contain_text("step 2")
    shot(page, "detail-running")
    gate.touch()
    expect(logs).to_contain_text("step 2: through the gate")
    expect(page.locator(".panel .status").first).to_have_text("succeeded")
    expect(page.locator("#output")).to_contain_text('"done": true')
    expect(page.locator("#invoke-command")).to_have_text(
        f"kernel-actions invoke 'dash' 'gated' -p '\"{gate}\"' --api-url '{dash.url}'")
    shot(page, "detail-succeeded")


def test_markup_in_output_and_logs_is_shown_as_text(dash: RunnerProcess, page: Page) -> None:
    inv = invoke(dash.url, "markup")
    assert inv["status"] == "succeeded"
    page.goto(f"{dash.url}/#/invocations/{inv['id']}")
    expect(page.locator("#output")).to_contain_text("<script>window.__pwned = 'output'</script>")
    expect(page.locator("#logs")).to_contain_text('<img src=x onerror="window.__pwned')
    assert page.locator("#bold").count() == 0 and page.locator("#logs img").count() == 0
    assert page.evaluate("window.__pwned") is None
    shot(page, "detail-markup")


def test_replay_and_mark_buttons(dash: RunnerProcess, page: Page, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    inv = invoke(dash.url, "gated", f'"{gate}"', is_async=True)
    page.goto(f"{dash.url}/#/invocations/{inv['id']}")
    expect(page.locator(".panel .status").first).to_have_text("running")
    page.click('button[data-mark="failed"]')
    expect(page.locator(".panel .status").first).to_have_text("failed")
    got = httpx.get(f"{dash.url}/invocations/{inv['id']}").json()
    assert got["status"] == "failed"
    gate.touch()
    page.click("#replay")
    expect(page).not_to_have_url(f"{dash.url}/#/invocations/{inv['id']}")
    expect(page.locator(".panel .status").first).to_have_text("succeeded")
    new_id = page.url.rsplit("/", 1)[1]
    replayed = httpx.get(f"{dash.url}/invocations/{new_id}").json()
    assert replayed["payload"] == f'"{gate}"' and replayed["status"] == "succeeded"


def test_the_page_works_with_an_api_key(start_runner: Callable[..., RunnerProcess],
                                        browser: Browser, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy(APPS / "dashboard_app.py", folder / "main.py")
    runner = start_runner(folder / "main.py", "--api-key", "s3cret", cwd=folder)
    assert httpx.get(f"{runner.url}/invocations").status_code == 401
    inv = invoke(runner.url, "greet", '{"name": "Key"}', key="s3cret")
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(runner.url + "/")
        assert response is not None and response.status == 401
        page.fill("#api-key", "s3cret")
        page.click(".keybox button")
        expect(page).to_have_url(runner.url + "/")  # the key is kept out of the address bar
        expect(page.locator(f'#invocations tr[data-id="{inv["id"]}"]')).to_be_visible()
        expect(page.locator("#conn")).to_have_text("live")
        shot(page, "list-with-key")
        page.reload()  # the tab keeps the key
        expect(page.locator(f'#invocations tr[data-id="{inv["id"]}"]')).to_be_visible()
        response = page.goto(runner.url + "/?key=wrong#/apps")
        assert response is not None and response.status == 401
        expect(page.locator("#api-key")).to_be_visible()
    finally:
        context.close()


def test_a_failed_reload_shows_in_the_banner(start_runner: Callable[..., RunnerProcess],
                                             page: Page, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    main = folder / "main.py"
    shutil.copy(APPS / "dashboard_app.py", main)
    runner = start_runner(main, "--reload", cwd=folder)
    page.goto(runner.url + "/")
    expect(page.locator("#runner-chip")).to_have_text("live code · gen 1")
    main.write_text(main.read_text() + "\nthis is not python\n")
    banner = page.locator("#banner")
    expect(banner).to_contain_text("The last reload failed", timeout=20_000)
    expect(banner).to_contain_text("main.py")
    shot(page, "reload-failed")
    main.write_text((APPS / "dashboard_app.py").read_text())
    expect(banner).to_be_hidden(timeout=20_000)
    expect(page.locator("#runner-chip")).to_have_text("live code · gen 2")


def test_filters_search_and_paging(dash: RunnerProcess, page: Page) -> None:
    ids = [invoke(dash.url, "greet", '{"name": "P"}')["id"] for _ in range(55)]
    bad = invoke(dash.url, "greet", '{"name": ""}')
    assert bad["status"] == "failed"
    page.goto(dash.url + "/")
    rows = page.locator("#invocations tbody tr")
    expect(rows).to_have_count(50)
    expect(page.locator(".pager")).to_contain_text("rows 1–50")
    expect(rows.first).to_have_attribute("data-id", bad["id"])  # newest first
    page.click("text=Older →")
    expect(rows).to_have_count(6)
    expect(page.locator(".pager")).to_contain_text("rows 51–56 (end)")
    expect(rows.last).to_have_attribute("data-id", ids[0])
    page.select_option('select[name="status"]', "failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", bad["id"])
    page.select_option('select[name="status"]', "")
    page.fill('input[name="q"]', ids[7][:10])
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", ids[7])
    shot(page, "list-search")


# -- The agent debugger: an invocation's browser steps, failures, the Browsers view ----------

needs_display = pytest.mark.skipif(display_support() is not None,
                                   reason=f"no virtual display: {display_support()}")


@needs_display
@pytest.mark.timeout(300)
def test_the_invocation_view_shows_each_step_of_its_agent(dash: RunnerProcess, page: Page,
                                                          tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    inv = invoke(dash.url, "gated", f'"{gate}"', is_async=True)
    with httpx.stream("GET", f"{dash.url}/invocations/{inv['id']}/events", timeout=30) as r:
        assert any("step 1" in line for line in r.iter_lines())  # logged before the agent
    run = scripted_agent(dash.url, inv["id"])
    gate.touch()
    trace_of(dash.url, inv["id"], len(AGENT_STEPS))
    page.goto(f"{dash.url}/#/invocations/{inv['id']}")
    expect(page.locator(".panel .status").first).to_have_text("succeeded")
    steps = page.locator("#trace-steps li.step")
    expect(steps).to_have_count(len(AGENT_STEPS))
    assert [steps.nth(i).get_attribute("data-kind") for i in range(len(AGENT_STEPS))] == \
        AGENT_STEPS
    # The action's log lines sit among the steps by time: one before them, one after.
    order = page.eval_on_selector_all("#trace-steps li.step, #trace-steps li.log-line",
                                      "els => els.map(e => e.className + '|' + e.textContent)")
    kinds = ["log" if o.startswith("log-line") else "step" for o in order]
    assert kinds == ["log"] + ["step"] * len(AGENT_STEPS) + ["log"], order
    assert "step 1: waiting" in order[0] and "step 2: through" in order[-1]
    # The invocation's own phases head the waterfall: queued, then running.
    expect(page.locator("#trace-steps li.phase-row")).to_have_count(2)
    expect(page.locator("#trace-steps li.phase-row").nth(1)).to_have_attribute("data-phase",
                                                                               "running")
    # Its browser: closed now, its replay to download.
    chip = page.locator(f'#trace-browsers [data-browser="{run.session_id}"]')
    expect(chip.locator(".state")).to_have_text("closed")
    expect(chip.locator("a.replay-link")).to_have_attribute(
        "href", f"/_dashboard/replays/{run.session_id}/{run.replay_id}/video")
    # The first step is selected; the screenshot step shows the PNG the agent got.
    expect(steps.nth(0)).to_have_class(re.compile("selected"))
    steps.nth(3).click()
    shot_img = page.locator("#step-shot img")
    expect(shot_img).to_be_visible()
    assert page.evaluate("document.querySelector('#step-shot img').naturalWidth") == 1024
    # The click: the screen after it, the point drawn where it was.
    steps.nth(4).click()
    mark = page.locator("#step-shot svg circle.click")
    expect(mark).to_have_count(1)
    assert (mark.get_attribute("cx"), mark.get_attribute("cy")) == tuple(map(str, CLICK))
    box, img_box = mark.bounding_box(), shot_img.bounding_box()
    assert box is not None and img_box is not None
    at = (box["x"] + box["width"] / 2 - img_box["x"], box["y"] + box["height"] / 2 - img_box["y"])
    want = (CLICK[0] / 1024 * img_box["width"], CLICK[1] / 768 * img_box["height"])
    assert abs(at[0] - want[0]) < 3 and abs(at[1] - want[1]) < 3, (at, want)
    expect(page.locator("#step-detail")).to_contain_text("the screen after this step")
    # ...and the screen the agent saw before it, the same point drawn.
    page.click("#step-detail .shot-tabs button:text('Before')")
    expect(page.locator("#step-detail")).to_contain_text("the screen the agent saw before it "
                                                         "(screenshot of step 4)")
    expect(mark).to_have_count(1)
    page.click("#step-detail .shot-tabs button:text('After')")
    expect(page.locator("#step-detail")).to_contain_text("(screenshot of step 7)")
    expect(mark).to_have_count(1)
    # The filmstrip: both screenshots, the one after the click marked.
    frames = page.locator("#filmstrip .frame")
    expect(frames).to_have_count(2)
    expect(frames.nth(1)).to_have_class(re.compile("selected"))
    assert frames.nth(1).get_attribute("data-step") == "7"
    # Selecting a step seeks the replay to its time.
    video = page.locator("#replay-video")
    expect(video).to_be_visible()
    expect(video).to_have_attribute("src", f"/_dashboard/replays/{run.session_id}/"
                                           f"{run.replay_id}/video")
    click_at = float(video.get_attribute("data-seek-to") or "nan")
    shot(page, "invocation-trace-click")
    # Keyboard: down to the next step (typing), later in the replay.
    steps.nth(4).focus()
    page.keyboard.press("ArrowDown")
    expect(steps.nth(5)).to_have_class(re.compile("selected"))
    expect(video).not_to_have_attribute("data-seek-to", str(click_at))
    assert 0 < click_at < float(video.get_attribute("data-seek-to") or "nan") < 120
    # ...and the video is there: its playhead at that time.
    page.wait_for_function("""() => { const v = document.querySelector('#replay-video');
        return v.readyState >= 1 && Math.abs(v.currentTime - Number(v.dataset.seekTo)) < 0.25; }""")
    # The failed execute: its code, its error as text.
    steps.nth(7).click()
    expect(steps.nth(7)).to_have_class(re.compile("failed"))
    expect(page.locator("#step-code")).to_have_text("throw new Error('boom in the page')")
    expect(page.locator("#step-result")).to_contain_text("boom in the page")
    shot(page, "invocation-trace-execute")


def test_a_failure_reads_like_a_console(dash: RunnerProcess, page: Page) -> None:
    inv = invoke(dash.url, "boom")
    assert inv["status"] == "failed"
    page.goto(f"{dash.url}/#/invocations/{inv['id']}")
    reason = page.locator("#status-reason-top")
    expect(reason).to_have_text(inv["status_reason"])
    tb = page.locator("#traceback")
    expect(tb).to_contain_text("ValueError: the agent lost its way on the checkout page")
    text = tb.inner_text()
    assert "\\n" not in text and text.count("\n") >= 3, text  # lines, not an escaped string
    assert text.startswith("Traceback (most recent call last):"), text
    mine = page.locator("#traceback .frame.mine")
    expect(mine.first).to_contain_text("main.py")
    assert "_find_the_button" in text
    # The failure is on top: above the trace and the details.
    assert reason.bounding_box()["y"] < page.locator("#trace").bounding_box()["y"]  # type: ignore[index]
    expect(page.locator("#trace-note")).to_contain_text("none")
    shot(page, "invocation-failed")
    # A payload that fails validation: each error at its field.
    bad = invoke(dash.url, "greet", '{"name": "", "times": 9}')
    page.goto(f"{dash.url}/#/invocations/{bad['id']}")
    errors = page.locator("#field-errors li")
    expect(errors).to_have_count(2)
    expect(errors.filter(has_text="at least 1 character").locator("code")).to_have_text("name")
    expect(errors.filter(has_text="less than or equal to 5").locator("code")).to_have_text(
        "times")


@needs_display
@pytest.mark.timeout(180)
def test_the_browsers_view_lists_and_closes_a_browser(dash: RunnerProcess, page: Page,
                                                      tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    inv = invoke(dash.url, "gated", f'"{gate}"', is_async=True)
    k = helpers.sdk_client(dash)
    sid = k.browsers.create(invocation_id=inv["id"], timeout_seconds=120,
                            viewport={"width": 1024, "height": 768}).session_id
    # The invocation links to its open browser's live view.
    page.goto(f"{dash.url}/#/invocations/{inv['id']}")
    chip = page.locator(f'#trace-browsers [data-browser="{sid}"]')
    expect(chip.locator(".state")).to_have_text("open")
    expect(chip.locator("a", has_text="live view")).to_have_attribute("href", re.compile(sid))
    page.goto(f"{dash.url}/#/browsers")
    row = page.locator(f'#open-browsers tr[data-id="{sid}"]')
    expect(row).to_contain_text(inv["id"])
    expect(row).to_contain_text("1024×768")
    expect(row.locator("a", has_text="live view")).to_have_attribute("href", re.compile("^http"))
    # Its live view, embedded: it shows the screen (and its frames are not the agent's steps).
    row.locator("button.watch").click()
    live = page.frame_locator(f'#open-browsers tr[data-live="{sid}"] iframe')
    expect(live.locator("#live-state")).to_have_attribute("data-state", "live")
    shot(page, "browsers-open")
    row.locator("button.close").click()
    expect(row).to_have_count(0)
    assert httpx.get(f"{dash.url}/browsers/{sid}").status_code == 404
    closed = page.locator(f'#closed-table tr[data-id="{sid}"]')
    expect(closed).to_contain_text(inv["id"])
    expect(closed.locator(".replays")).to_contain_text("no replay")
    expect(page.locator("#open-browsers")).to_contain_text("No browser is open")
    gate.touch()
    steps = trace_of(dash.url, inv["id"], 2)["steps"]
    assert [(s["kind"], s.get("by")) for s in steps] == [("browser.create", None),
                                                        ("browser.delete", "dashboard")]
