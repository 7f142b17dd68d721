"""Kernel's computer controls on a local browser, through the official Python and npm SDKs:
real Chromium on real Xvfb (``xvfb``), and real headless Chromium driven over DevTools where
no display server is had (``emulated``, forced with KERNEL_ACTIONS_XVFB=0), each against a
page served on loopback that reports what happened in its DOM."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kernel import BadRequestError, Kernel, NotFoundError

from kernel_actions.runner.browsers.computer import normalize_key, png_size
from kernel_actions.runner.browsers.display import display_support
from kernel_actions.runner.errors import ApiError

from .computer_page import BUTTON_Y, FIELD_Y, PageServer, controls_page
from .conftest import CHROMIUM, NEEDS_CHROMIUM, RunnerProcess, poll

pytestmark = [NEEDS_CHROMIUM]
NO_XVFB = pytest.mark.skipif(display_support() is not None,
                             reason=f"no virtual display: {display_support()}")
#: The display modes, as the runner names them: a runner of each.
MODES = [pytest.param("xvfb", marks=NO_XVFB), "emulated"]

WIDTH, HEIGHT = 1280, 800
NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def page() -> Iterator[PageServer]:
    with controls_page() as server:
        yield server


@pytest.fixture(scope="module", params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[RunnerProcess]:
    folder = tmp_path_factory.mktemp("computer")
    env = {"KERNEL_ACTIONS_XVFB": "0"} if mode == "emulated" else None
    proc = RunnerProcess(["serve", "--port", "0", "--data-dir", str(folder / "data")], folder,
                         env)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop(timeout=15)


@pytest.fixture(scope="module")
def k(runner: RunnerProcess) -> Kernel:
    return Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def browser(k: Kernel, page: PageServer) -> Iterator[str]:
    """One 1280×800 browser for the module, on the test page (reached via the address bar)."""
    created = k.browsers.create(viewport={"width": WIDTH, "height": HEIGHT}, timeout_seconds=600)
    yield created.session_id
    k.browsers.delete_by_id(created.session_id)


#: A body sent as JSON, whatever it holds (the runner takes no other kind).
JSON = {"Content-Type": "application/json"}


def navigate(k: Kernel, browser: str, url: str) -> None:
    """As Kernel's computer-use templates do: Ctrl+L, type the URL, Return."""
    k.browsers.computer.press_key(browser, keys=["Ctrl+l"])
    k.browsers.computer.type_text(browser, text=url, delay=0)
    k.browsers.computer.press_key(browser, keys=["Return"])


@pytest.fixture
def on_page(k: Kernel, browser: str, page: PageServer) -> dict[str, Any]:
    """The test page freshly loaded through the address bar; its first report."""
    url = page.url + f"?load={len(page.states)}"
    navigate(k, browser, url)
    poll(lambda: page.latest().get("href") == url, timeout=20)
    # Chromium takes input for a new page once it is ready: move the mouse over the page
    # until the page says it felt it.
    spot = iter(range(10**6))

    def felt() -> dict[str, Any] | None:
        k.browsers.computer.move_mouse(browser, x=600 + next(spot) % 50, y=700)
        try:
            return poll(lambda: (s := page.latest())["moved"] and s, timeout=1)  # type: ignore[return-value]
        except AssertionError:
            return None

    return poll(felt, timeout=20)  # type: ignore[return-value]


def tab_urls(k: Kernel, browser: str) -> list[str]:
    """The open tabs' URLs, asked of the browser over its DevTools URL."""
    from websockets.sync.client import connect

    with connect(k.browsers.retrieve(browser).cdp_ws_url, open_timeout=20,
                 max_size=None) as ws:
        ws.send(json.dumps({"id": 1, "method": "Target.getTargets"}))
        while True:
            reply = json.loads(ws.recv(timeout=20))
            if reply.get("id") == 1:
                return [t["url"] for t in reply["result"]["targetInfos"] if t["type"] == "page"]


def wait_state(page: PageServer, predicate: Callable[[dict[str, Any]], bool],
               timeout: float = 15) -> dict[str, Any]:
    try:
        return poll(lambda: (s := page.latest()) and predicate(s) and s, timeout=timeout)  # type: ignore[return-value]
    except AssertionError:
        raise AssertionError(
            f"the page never reached the state; it last said {page.latest()}") from None


# -- the screen ----------------------------------------------------------------------------------


def test_a_screenshot_is_the_whole_screen_at_the_viewport_size(k: Kernel, browser: str) -> None:
    png = k.browsers.computer.capture_screenshot(browser).read()
    assert png_size(png) == (WIDTH, HEIGHT)
    part = k.browsers.computer.capture_screenshot(
        browser, region={"x": 100, "y": 50, "width": 300, "height": 200}).read()
    assert png_size(part) == (300, 200)
    with pytest.raises(BadRequestError, match="region.width"):
        k.browsers.computer.capture_screenshot(
            browser, region={"x": 1200, "y": 0, "width": 300, "height": 10})


def test_the_address_bar_navigates(k: Kernel, browser: str, page: PageServer, mode: str,
                                   on_page: dict[str, Any]) -> None:
    if mode == "xvfb":  # the browser's own tabs and address bar are on the screen
        assert on_page["uiTop"] > 0
    else:  # the screen is the page; its viewport is the browser's
        assert on_page["uiTop"] == 0
    target = page.url + "?typed=1"
    navigate(k, browser, target)
    wait_state(page, lambda s: s["href"] == target)


def test_a_click_changes_the_dom(k: Kernel, browser: str, page: PageServer,
                                 on_page: dict[str, Any]) -> None:
    y = on_page["uiTop"] + BUTTON_Y
    k.browsers.computer.click_mouse(browser, x=400, y=y)
    wait_state(page, lambda s: s["clicked"] == "clicked 1")
    # Elsewhere, so that it is not counted with the first click as a triple click.
    k.browsers.computer.click_mouse(browser, x=900, y=y, num_clicks=2)
    wait_state(page, lambda s: s["clicked"] == "clicked 2")
    # A press and a release made separately are a click too.
    k.browsers.computer.click_mouse(browser, x=600, y=y, click_type="down")
    k.browsers.computer.click_mouse(browser, x=600, y=y, click_type="up")
    wait_state(page, lambda s: s["clicked"] == "clicked 1" and s["n"] > 3)


def test_typed_text_and_keys_land_in_the_input(k: Kernel, browser: str, page: PageServer,
                                               on_page: dict[str, Any]) -> None:
    k.browsers.computer.click_mouse(browser, x=300, y=on_page["uiTop"] + FIELD_Y)
    k.browsers.computer.type_text(browser, text="Hello, wörld!")
    wait_state(page, lambda s: s["field"] == "Hello, wörld!")
    k.browsers.computer.press_key(browser, keys=["BackSpace", "BackSpace"])
    wait_state(page, lambda s: s["field"] == "Hello, wörl")
    k.browsers.computer.press_key(browser, keys=["a"], hold_keys=["Shift"])
    wait_state(page, lambda s: s["field"] == "Hello, wörlA")
    k.browsers.computer.press_key(browser, keys=["Ctrl+a", "Delete"])
    wait_state(page, lambda s: s["field"] == "")


@NO_XVFB
def test_computer_actions_start_no_process(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path, page: PageServer) -> None:
    """Input, windows and the clipboard go through the runner's own X connection: with an
    ``xdotool`` and an ``xclip`` first on PATH that only note that they ran, every action
    works and neither ever runs; and the runner has no child but Xvfb and Chromium's."""
    tools = tmp_path / "bin"
    tools.mkdir()
    ran = tmp_path / "ran"
    for tool in ("xdotool", "xclip"):
        fake = tools / tool
        fake.write_text(f'#!/bin/sh\necho "{tool} $*" >> {ran}\nexit 1\n')
        fake.chmod(0o755)
    runner = start_runner(None, command="serve",
                          env={"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"})
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=60)
    created = k.browsers.create(viewport={"width": 1024, "height": 768},
                                start_url=page.url + "?noproc=1")
    b, computer = created.session_id, k.browsers.computer
    try:
        state = wait_state(page, lambda s: s["href"].endswith("?noproc=1"))
        name = display_of(runner, b)
        assert window_fills_screen(name, 1024, 768)  # sized, moved and focused, no xdotool
        computer.click_mouse(b, x=300, y=state["uiTop"] + FIELD_Y)
        computer.type_text(b, text="ok ✓", delay=0)
        wait_state(page, lambda s: s["field"] == "ok ✓")
        computer.press_key(b, keys=["BackSpace"], duration=20)
        computer.move_mouse(b, x=20, y=30, smooth=True, duration_ms=50)
        assert computer.get_mouse_position(b).x == 20
        computer.drag_mouse(b, path=[[10, 500], [60, 520]], steps_per_segment=2)
        computer.scroll(b, x=400, y=300, delta_y=1, delta_x=-1)
        computer.batch(b, actions=[{"type": "press_key", "press_key": {"keys": ["End"]}}])
        computer.write_clipboard(b, text="served ✓")
        assert computer.read_clipboard(b).text == "served ✓"
        # Another client reads it from the runner's X connection at once, in each form.
        assert x_read_clipboard(name) == "served ✓".encode()
        assert x_read_clipboard(name, "STRING") == b"served ?"
        targets = x_read_clipboard(name, "TARGETS", as_atoms=True)
        assert {"UTF8_STRING", "STRING", "TARGETS"} <= set(targets)
        with x_clipboard_owner(name, "from another client ö"):
            assert computer.read_clipboard(b).text == "from another client ö"
        assert png_size(computer.capture_screenshot(b).read()) == (1024, 768)
        assert not ran.exists(), ran.read_text()
        children = _descendant_names(runner.proc.pid)
        assert not children & {"xdotool", "xclip"}, children
    finally:
        k.browsers.delete_by_id(b)


def test_the_runner_names_no_input_tool() -> None:
    """No runner module runs xdotool or xclip: neither is named in its code (docstrings
    aside), so no action can start one."""
    import ast

    import kernel_actions.runner as runner_package

    root = Path(runner_package.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                    | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and any(tool in node.value.split() for tool in ("xdotool", "xclip"))):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    assert not found, found
    # Nor does the display mode need either installed: Xvfb is all.
    from kernel_actions.runner.browsers.display import TOOLS

    assert TOOLS == ("Xvfb",)


def test_the_clipboard_round_trips_and_pastes(k: Kernel, browser: str, page: PageServer,
                                              on_page: dict[str, Any]) -> None:
    k.browsers.computer.write_clipboard(browser, text="copied ✓ text")
    assert k.browsers.computer.read_clipboard(browser).text == "copied ✓ text"
    k.browsers.computer.click_mouse(browser, x=300, y=on_page["uiTop"] + FIELD_Y)
    k.browsers.computer.press_key(browser, keys=["Ctrl+v"])
    wait_state(page, lambda s: s["field"] == "copied ✓ text")
    # And the other way: what the page's user copies is what the clipboard reads.
    k.browsers.computer.press_key(browser, keys=["Ctrl+a", "Ctrl+x"])
    wait_state(page, lambda s: s["field"] == "")
    assert poll(lambda: k.browsers.computer.read_clipboard(browser).text == "copied ✓ text")


def test_scroll_and_the_mouse(k: Kernel, browser: str, page: PageServer,
                              on_page: dict[str, Any]) -> None:
    # Chromium may drop wheel events that come before it has set up the page's scrolling:
    # scroll until the page moves (a person would, too).
    def scrolled_down() -> dict[str, Any] | None:
        k.browsers.computer.scroll(browser, x=640, y=on_page["uiTop"] + 380, delta_y=3)
        try:
            return poll(lambda: (s := page.latest())["scrollY"] > 0 and s, timeout=2)  # type: ignore[return-value]
        except AssertionError:
            return None

    scrolled: dict[str, Any] = poll(scrolled_down, timeout=20)  # type: ignore[assignment]
    assert scrolled["scrollY"] > 0
    k.browsers.computer.scroll(browser, x=640, y=on_page["uiTop"] + 380, delta_y=-20)
    wait_state(page, lambda s: s["scrollY"] == 0)
    k.browsers.computer.move_mouse(browser, x=50, y=60)
    pos = k.browsers.computer.get_mouse_position(browser)
    assert (pos.x, pos.y) == (50, 60)
    k.browsers.computer.move_mouse(browser, x=700, y=500, smooth=True, duration_ms=100)
    pos = k.browsers.computer.get_mouse_position(browser)
    assert (pos.x, pos.y) == (700, 500)
    k.browsers.computer.drag_mouse(browser, path=[[10, 700], [200, 650], [300, 600]],
                                   steps_per_segment=3, step_delay_ms=0)
    pos = k.browsers.computer.get_mouse_position(browser)
    assert (pos.x, pos.y) == (300, 600)


def test_a_drag_selects_text_that_ctrl_c_copies(k: Kernel, browser: str, page: PageServer,
                                                on_page: dict[str, Any]) -> None:
    y = on_page["uiTop"] + FIELD_Y
    k.browsers.computer.click_mouse(browser, x=300, y=y)
    k.browsers.computer.type_text(browser, text="drag me")
    wait_state(page, lambda s: s["field"] == "drag me")
    k.browsers.computer.write_clipboard(browser, text="before")
    # From the end of the text back past its start: the whole text is selected.
    k.browsers.computer.drag_mouse(browser, path=[[1000, y], [400, y], [1, y]],
                                   steps_per_segment=5, step_delay_ms=10)
    k.browsers.computer.press_key(browser, keys=["Ctrl+c"])
    poll(lambda: k.browsers.computer.read_clipboard(browser).text == "drag me", timeout=15)


def test_hiding_the_cursor_takes_it_off_screenshots(k: Kernel, browser: str, mode: str,
                                                    on_page: dict[str, Any]) -> None:
    # A blank strip of the page, between the button and the field, under the pointer.
    y = on_page["uiTop"] + 385
    k.browsers.computer.move_mouse(browser, x=640, y=y)
    region = {"x": 630, "y": y - 2, "width": 30, "height": 25}

    def shot() -> bytes:
        return k.browsers.computer.capture_screenshot(browser, region=region).read()

    # Chromium may change the pointer's shape a moment after the move reaches it, so the
    # captures are compared with the cursorless one, not with each other.
    with_cursor = shot()
    assert k.browsers.computer.set_cursor_visibility(browser, hidden=True).ok
    without = shot()
    assert shot() == without  # the strip itself is still: only a cursor can make a difference
    if mode == "emulated":  # a headless page's screenshots never show a pointer
        assert with_cursor == without
        assert k.browsers.computer.set_cursor_visibility(browser, hidden=False).ok
        assert shot() == without
        return
    assert with_cursor != without
    assert k.browsers.computer.set_cursor_visibility(browser, hidden=False).ok
    poll(lambda: shot() != without, timeout=20)


# -- batches ---------------------------------------------------------------------------------------


def test_a_batch_runs_every_action_type_in_order(k: Kernel, browser: str, page: PageServer,
                                                 on_page: dict[str, Any]) -> None:
    top = on_page["uiTop"]
    k.browsers.computer.batch(browser, actions=[
        {"type": "move_mouse", "move_mouse": {"x": 10, "y": 10}},
        {"type": "set_cursor", "set_cursor": {"hidden": False}},
        {"type": "click_mouse", "click_mouse": {"x": 300, "y": top + BUTTON_Y}},
        {"type": "sleep", "sleep": {"duration_ms": 20}},
        {"type": "click_mouse", "click_mouse": {"x": 300, "y": top + FIELD_Y}},
        {"type": "type_text", "type_text": {"text": "abc"}},
        {"type": "press_key", "press_key": {"keys": ["BackSpace"]}},
        {"type": "drag_mouse", "drag_mouse": {"path": [[5, 700], [50, 700]]}},
        {"type": "scroll", "scroll": {"x": 640, "y": top + 380, "delta_y": 2}},
    ])
    wait_state(page, lambda s: s["clicked"] == "clicked 1" and s["field"] == "ab"
               and s["scrollY"] > 0)


def test_a_batch_stops_at_the_first_failing_step(k: Kernel, browser: str, page: PageServer,
                                                 on_page: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError) as failed:
        k.browsers.computer.batch(browser, actions=[
            {"type": "click_mouse", "click_mouse": {"x": 300, "y": on_page["uiTop"] + FIELD_Y}},
            {"type": "type_text", "type_text": {"text": "ab"}},
            {"type": "press_key", "press_key": {"keys": ["Ctrl+NoSuchKey"]}},
            {"type": "type_text", "type_text": {"text": "cd"}},
        ])
    body = failed.value.body
    assert isinstance(body, dict)
    assert "actions[2] (press_key)" in body["message"] and "NoSuchKey" in body["message"]
    assert body["details"] == [{"step": 2, "type": "press_key"}]
    wait_state(page, lambda s: s["field"] == "ab")
    # The last step never ran: another key press proves the page got everything sent so far.
    k.browsers.computer.type_text(browser, text="!")
    assert wait_state(page, lambda s: s["field"].endswith("!"))["field"] == "ab!"


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "names"), [
    ("click_mouse", {"x": 1, "y": 1, "button": "thumb"}, "button"),
    ("click_mouse", {"x": WIDTH, "y": 1}, "'x'"),
    ("click_mouse", {"y": 1}, "'x' is required"),
    ("click_mouse", {"x": 1, "y": 1, "num_clicks": 0}, "num_clicks"),
    ("click_mouse", {"x": 1, "y": 1, "hold_keys": ["Hyper+Nope"]}, "hold_keys[0]"),
    ("move_mouse", {"x": "1", "y": 1}, "'x'"),
    ("drag_mouse", {"path": [[1, 1]]}, "path"),
    ("drag_mouse", {"path": [[1, 1], [2, -1]]}, "path[1]"),
    ("scroll", {"x": 1, "y": 1, "delta_y": 1.5}, "delta_y"),
    ("type", {"text": 5}, "text"),
    ("type", {"text": "a", "delay": -1}, "delay"),
    ("press_key", {"keys": []}, "keys"),
    ("press_key", {"keys": "Return"}, "keys"),
    ("press_key", {"keys": ["Return"], "duration": 10**9}, "duration"),
    ("cursor", {}, "hidden"),
    ("clipboard/write", {"text": None}, "text"),
    ("batch", {"actions": []}, "actions"),
    ("batch", {"actions": [{"type": "dance"}]}, "actions[0].type"),
    ("batch", {"actions": [{"type": "sleep"}]}, "actions[0].sleep"),
    ("batch", {"actions": [{"type": "sleep", "sleep": {"duration_ms": -5}}]},
     "actions[0].sleep.duration_ms"),
    ("screenshot", {"region": {"x": 0, "y": 0, "width": 0, "height": 5}}, "region.width"),
    ("screenshot", {"region": [1, 2]}, "region"),
])
def test_bad_input_is_a_400_naming_the_field(runner: RunnerProcess, browser: str, path: str,
                                             body: dict[str, Any], names: str) -> None:
    r = httpx.post(f"{runner.url}/browsers/{browser}/computer/{path}", json=body, timeout=30)
    assert r.status_code == 400, (path, body, r.status_code, r.text)
    assert r.json()["code"] == "bad_request" and names in r.json()["message"], r.json()


def test_every_answer_names_the_display_mode(runner: RunnerProcess, browser: str,
                                            mode: str) -> None:
    url = f"{runner.url}/browsers/{browser}/computer"
    answers = [httpx.post(f"{url}/get_mouse_position", json={}, timeout=30),
               httpx.post(f"{url}/move_mouse", json={"x": 5, "y": 5}, timeout=30),
               httpx.post(f"{url}/screenshot", timeout=30),
               httpx.post(f"{url}/click_mouse", json={"x": -1, "y": 5}, timeout=30)]
    assert [r.status_code for r in answers] == [200, 204, 200, 400]
    assert {r.headers.get("x-kernel-actions-display") for r in answers} == {mode}
    # An unknown browser has no screen to name.
    missing = httpx.post(f"{runner.url}/browsers/nope/computer/screenshot", timeout=30)
    assert missing.status_code == 404 and "x-kernel-actions-display" not in missing.headers


def test_bodies_that_are_not_json_objects_and_unknown_browsers(
        runner: RunnerProcess, k: Kernel, browser: str) -> None:
    url = f"{runner.url}/browsers/{browser}/computer"
    assert httpx.post(f"{url}/type", content=b"{not json", headers=JSON).status_code == 400
    assert httpx.post(f"{url}/type", content=b"[1]", headers=JSON).status_code == 400
    big = httpx.post(f"{url}/type", content=b'{"text": "' + b"a" * 16_000_000 + b'"}',
                     headers=JSON, timeout=60)
    assert big.status_code == 400 and "too large" in big.json()["message"]
    with pytest.raises(NotFoundError):
        k.browsers.computer.capture_screenshot("no-such-browser")
    with pytest.raises(NotFoundError):
        k.browsers.computer.batch("no-such-browser", actions=[
            {"type": "sleep", "sleep": {"duration_ms": 1}}])
    assert httpx.get(f"{url}/screenshot").status_code == 405


def test_key_names_follow_xdotool() -> None:
    assert normalize_key("Ctrl+Shift+Tab", "k") == "ctrl+shift+Tab"
    assert normalize_key("Ctrl+-", "k") == "ctrl+minus"
    assert normalize_key("Ctrl++", "k") == "ctrl+plus"
    assert normalize_key("ctrl+minus", "k") == "ctrl+minus"
    assert normalize_key("Enter", "k") == "Return"
    assert normalize_key("F5", "k") == "F5"
    with pytest.raises(ApiError, match="'k'"):
        normalize_key("Ctrl+", "k")


# -- browser UI, modes and cleanup -----------------------------------------------------------------


def test_tabs_open_switch_and_close_from_the_keyboard(k: Kernel, browser: str,
                                                      page: PageServer,
                                                      on_page: dict[str, Any]) -> None:
    def tabs() -> list[str]:
        return tab_urls(k, browser)

    before = tabs()
    k.browsers.computer.press_key(browser, keys=["Ctrl+t"])
    poll(lambda: len(tabs()) == len(before) + 1, timeout=15)
    second = page.url + "?tab=2"

    def arrived() -> dict[str, Any] | None:
        # Chromium's new tab takes the keyboard a while after it is listed, with nothing
        # to wait for: keys sent before are lost, so the address is typed again until the
        # page loads (Ctrl+L selects whatever an earlier try left in the address bar).
        navigate(k, browser, second)  # in the new tab
        try:
            return wait_state(page, lambda s: s["href"] == second, timeout=3)
        except AssertionError:
            return None

    poll(arrived, timeout=60)
    assert second in tabs() and on_page["href"] in tabs()
    k.browsers.computer.press_key(browser, keys=["Ctrl+Shift+Tab"])  # to the first tab
    k.browsers.computer.press_key(browser, keys=["Ctrl+Tab"])  # and back to the second
    k.browsers.computer.press_key(browser, keys=["Ctrl+w"])  # which closes
    poll(lambda: second not in tabs(), timeout=15)
    assert len(tabs()) == len(before)


# Emulated only: Chromium's own new tab takes the keyboard a while after it is listed, with
# nothing to wait for; the tab test above goes through Ctrl+L on both.
@pytest.mark.parametrize("mode", ["emulated"], indirect=True, scope="module")
def test_a_new_tab_takes_an_address_at_once(k: Kernel, browser: str, page: PageServer,
                                           on_page: dict[str, Any]) -> None:
    before = tab_urls(k, browser)
    k.browsers.computer.press_key(browser, keys=["Ctrl+t"])  # its address bar has the keys
    poll(lambda: len(tab_urls(k, browser)) == len(before) + 1, timeout=15)
    url = page.url + "?new=1"
    k.browsers.computer.type_text(browser, text=url, delay=0)
    k.browsers.computer.press_key(browser, keys=["Return"])
    wait_state(page, lambda s: s["href"] == url)
    k.browsers.computer.press_key(browser, keys=["Ctrl+1"])  # the first tab
    k.browsers.computer.press_key(browser, keys=["Ctrl+9"])  # the last: the new one
    k.browsers.computer.press_key(browser, keys=["Ctrl+w"])
    poll(lambda: url not in tab_urls(k, browser), timeout=15)
    assert sorted(tab_urls(k, browser)) == sorted(before)


def test_history_and_reload_from_the_keyboard(k: Kernel, browser: str, page: PageServer,
                                             on_page: dict[str, Any]) -> None:
    first, second = page.url + "?h=1", page.url + "?h=2"
    navigate(k, browser, first)
    wait_state(page, lambda s: s["href"] == first)
    navigate(k, browser, second)
    wait_state(page, lambda s: s["href"] == second)
    # Back and forward may restore the pages from memory, without loading them again: the
    # browser says where its tab is.
    k.browsers.computer.press_key(browser, keys=["Alt+Left"])
    poll(lambda: first in tab_urls(k, browser) and second not in tab_urls(k, browser),
         timeout=15)
    k.browsers.computer.press_key(browser, keys=["Alt+Right"])
    poll(lambda: second in tab_urls(k, browser), timeout=15)
    loaded = wait_state(page, lambda s: s["href"] == second)
    k.browsers.computer.press_key(browser, keys=["F5"])
    wait_state(page, lambda s: s["href"] == second and s["load"] != loaded["load"])


@pytest.mark.parametrize("mode", ["emulated"], indirect=True, scope="module")
def test_the_emulated_address_bar(k: Kernel, browser: str, page: PageServer,
                                  on_page: dict[str, Any]) -> None:
    computer = k.browsers.computer
    # Escape leaves the address bar: what was typed opens nothing, and keys reach the page.
    computer.press_key(browser, keys=["Ctrl+L"])
    computer.type_text(browser, text="http://127.0.0.1:9/nowhere")
    computer.press_key(browser, keys=["Escape"])
    computer.click_mouse(browser, x=300, y=FIELD_Y)
    computer.type_text(browser, text="ok")
    assert wait_state(page, lambda s: s["field"] == "ok")["href"] == on_page["href"]
    # Alt+D selects the address; BackSpace clears it; the clipboard pastes into it; a
    # Return typed with the text opens it.
    computer.write_clipboard(browser, text=page.url + "?pasted=1")
    computer.press_key(browser, keys=["alt+d", "BackSpace", "ctrl+v"])
    computer.type_text(browser, text="&more\n")
    wait_state(page, lambda s: s["href"] == page.url + "?pasted=1&more")


def test_typed_addresses_resolve_as_chromes_do() -> None:
    from kernel_actions.runner.browsers.browser_ui import SEARCH_URL, resolve_typed

    assert resolve_typed("http://127.0.0.1:8/x") == "http://127.0.0.1:8/x"
    assert resolve_typed("about:blank") == "about:blank"
    assert resolve_typed("example.com/a?b=1") == "https://example.com/a?b=1"
    assert resolve_typed("  news.ycombinator.com ") == "https://news.ycombinator.com"
    assert resolve_typed("localhost:3000") == "http://localhost:3000"
    assert resolve_typed("10.0.0.1/admin") == "http://10.0.0.1/admin"
    assert resolve_typed("[::1]:8080/") == "http://[::1]:8080/"
    assert resolve_typed("kernel computer use") == SEARCH_URL + "kernel+computer+use"
    assert resolve_typed("weather") == SEARCH_URL + "weather"
    assert resolve_typed("1.5") == SEARCH_URL + "1.5"
    assert resolve_typed("") == "about:blank"


def test_x11_key_names_become_dom_key_events() -> None:
    from kernel_actions.runner.browsers.key_events import key_event

    def event(name: str) -> tuple[str, str, int, bool]:
        found = key_event(name)
        assert found is not None, name
        params = found[0].params(8 if found[1] else 0)
        return params["key"], params["code"], params["windowsVirtualKeyCode"], found[1]

    assert event("Return") == ("Enter", "Enter", 13, False)
    assert event("BackSpace") == ("Backspace", "Backspace", 8, False)
    assert event("a") == ("a", "KeyA", 65, False)
    assert event("A") == ("A", "KeyA", 65, True)
    assert event("minus") == ("-", "Minus", 189, False)
    assert event("question") == ("?", "Slash", 191, True)
    assert event("Page_Down") == ("PageDown", "PageDown", 34, False)
    assert event("F5") == ("F5", "F5", 116, False)
    assert event("Control_L") == ("Control", "ControlLeft", 17, False)
    assert key_event("NoSuchKey") is None
    ctrl_a = key_event("a")
    assert ctrl_a is not None and "text" not in ctrl_a[0].params(2)  # Ctrl+a types nothing


def test_headless_and_kiosk_browsers_still_get_a_screen(
        runner: RunnerProcess, k: Kernel, page: PageServer, mode: str) -> None:
    created = k.browsers.create(headless=True, kiosk_mode=True, start_url=page.url + "?kiosk=1",
                                viewport={"width": 800, "height": 600})
    try:
        assert created.headless and created.kiosk_mode
        assert created.browser_live_view_url is None  # as on Kernel: headless has none
        # Kiosk: no tabs and no address bar (87 px otherwise), once the window is full screen.
        wait_state(page, lambda s: s["href"].endswith("?kiosk=1") and s["uiTop"] < 10)
        assert png_size(k.browsers.computer.capture_screenshot(created.session_id).read()) == (
            800, 600)
        status = httpx.get(f"{runner.url}/_runner/status").json()["browsers"]
        assert status["display"] == mode and status["running"] >= 1
        poll(lambda: f"browser {created.session_id} started (display: {mode})" in runner.output)
    finally:
        k.browsers.delete_by_id(created.session_id)


def test_a_browsers_display_goes_with_it(runner: RunnerProcess, k: Kernel, mode: str) -> None:
    created = k.browsers.create(viewport={"width": 640, "height": 480})
    assert created.browser_live_view_url and created.browser_live_view_url.endswith(
        f"/_dashboard/live.html#{created.session_id}")
    folder = Path(runner.args[runner.args.index("--data-dir") + 1]) / "browsers" / \
        created.session_id
    if mode == "emulated":  # no display server: the clipboard is the runner's own
        assert not (folder / "display.pid").exists()
        k.browsers.computer.write_clipboard(created.session_id, text="kept by the runner")
        assert k.browsers.computer.read_clipboard(created.session_id).text == \
            "kept by the runner"
        k.browsers.delete_by_id(created.session_id)
        assert not folder.exists()
        return
    xvfb = int((folder / "display.pid").read_text())
    assert b"Xvfb" in Path(f"/proc/{xvfb}/cmdline").read_bytes()
    name = display_of(runner, created.session_id)
    # The runner owns the clipboard on the display and serves it to other clients.
    k.browsers.computer.write_clipboard(created.session_id, text="kept by the runner")
    assert x_read_clipboard(name) == b"kept by the runner"
    k.browsers.delete_by_id(created.session_id)
    assert not Path(f"/proc/{xvfb}").exists() or b"Xvfb" not in Path(
        f"/proc/{xvfb}/cmdline").read_bytes()
    assert not folder.exists()


# -- the X display, as another client sees it ------------------------------------------------------


def display_of(runner: RunnerProcess, browser: str) -> str:
    """The ``DISPLAY`` of a browser's Xvfb: the X socket among the sockets it holds."""
    folder = Path(runner.args[runner.args.index("--data-dir") + 1]) / "browsers" / browser
    pid = int((folder / "display.pid").read_text())
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes and ".X11-unix/X" in fields[7]:
            return ":" + fields[7].rsplit("/X", 1)[1]
    raise AssertionError(f"Xvfb {pid} holds no X socket")


@contextlib.contextmanager
def x_client(name: str) -> Iterator[Any]:
    from Xlib.display import Display as XDisplay

    dpy = XDisplay(name)
    try:
        yield dpy
    finally:
        dpy.close()


def _x_event(dpy: Any, kind: int, timeout: float) -> Any:
    """The next event of ``kind`` on ``dpy``, waiting at most ``timeout`` seconds."""
    import select

    deadline = time.monotonic() + timeout
    while True:
        while dpy.pending_events():
            ev = dpy.next_event()
            if ev.type == kind:
                return ev
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no X event {kind} within {timeout} s")
        select.select([dpy.fileno()], [], [], left)


def x_read_clipboard(name: str, target: str = "UTF8_STRING", *,
                     as_atoms: bool = False) -> Any:
    """The clipboard as another X client reads it: the bytes of ``target`` (atom names
    with ``as_atoms``); ``None`` if the owner refuses that target."""
    from Xlib import X

    with x_client(name) as dpy:
        window = dpy.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
        prop = dpy.intern_atom("TEST_CLIPBOARD")
        window.convert_selection(dpy.intern_atom("CLIPBOARD"), dpy.intern_atom(target), prop,
                                 X.CurrentTime)
        dpy.flush()
        ev = _x_event(dpy, X.SelectionNotify, 5)
        if ev.property == X.NONE:
            return None
        got = window.get_full_property(prop, X.AnyPropertyType)
        if as_atoms:
            return [dpy.get_atom_name(atom) for atom in got.value]
        return bytes(got.value)


@contextlib.contextmanager
def x_clipboard_owner(name: str, text: str) -> Iterator[None]:
    """Another X client owns the clipboard with ``text`` (as UTF8_STRING) meanwhile."""
    import select

    from Xlib import X, Xatom
    from Xlib.protocol import event

    stop = threading.Event()
    owned = threading.Event()

    def serve() -> None:
        with x_client(name) as dpy:
            window = dpy.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
            clipboard, utf8 = dpy.intern_atom("CLIPBOARD"), dpy.intern_atom("UTF8_STRING")
            window.set_selection_owner(clipboard, X.CurrentTime)
            dpy.sync()
            owned.set()
            while not stop.is_set():
                while dpy.pending_events():
                    ev = dpy.next_event()
                    if ev.type != X.SelectionRequest:
                        continue
                    ok = ev.target in (utf8, Xatom.STRING)
                    if ok:
                        ev.requestor.change_property(ev.property, utf8, 8, text.encode())
                    ev.requestor.send_event(event.SelectionNotify(
                        time=ev.time, requestor=ev.requestor, selection=ev.selection,
                        target=ev.target, property=ev.property if ok else X.NONE))
                    dpy.flush()
                select.select([dpy.fileno()], [], [], 0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert owned.wait(10)
        yield
    finally:
        stop.set()
        thread.join(10)


def window_fills_screen(name: str, width: int, height: int) -> bool:
    """Whether a named, shown top-level window covers the screen and has the keyboard."""
    from Xlib import X, Xatom

    with x_client(name) as dpy:
        root = dpy.screen().root
        focus = dpy.get_input_focus().focus
        names = (Xatom.WM_NAME, dpy.intern_atom("_NET_WM_NAME"))
        for window in root.query_tree().children:
            if window.get_attributes().map_state != X.IsViewable or not any(
                    (p := window.get_full_property(atom, X.AnyPropertyType)) and p.value
                    for atom in names):
                continue
            geometry = window.get_geometry()
            if (geometry.x, geometry.y, geometry.width, geometry.height) == (0, 0, width,
                                                                               height):
                return getattr(focus, "id", focus) == window.id
    return False


# -- the X connection on its own, on a bare Xvfb ---------------------------------------------------


@pytest.fixture(scope="module")
def bare_display() -> Iterator[str]:
    """An Xvfb of 640×480 with no client on it; its ``DISPLAY``."""
    if display_support() is not None:
        pytest.skip(f"no virtual display: {display_support()}")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x480x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as numbers:
            yield ":" + numbers.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _keys_down(name: str) -> list[int]:
    with x_client(name) as dpy:
        return [i * 8 + bit for i, byte in enumerate(dpy.query_keymap()) for bit in range(8)
                if byte >> bit & 1]


def test_the_x_connection_types_keys_the_map_lacks_once(bare_display: str) -> None:
    from kernel_actions.runner.browsers.keymap import keysym_of
    from kernel_actions.runner.browsers.xinput import Key, Move, Type, XConnection

    async def main() -> None:
        x = XConnection(bare_display)
        try:
            await x.play([Move(12, 34)])
            assert await x.pointer() == (12, 34)
            spare = len(x.keymap.spare)
            assert spare >= 2 and keysym_of("✓") not in x.keymap.base
            started = time.monotonic()
            await x.play([Type("a✓é", 0)])  # two keys given out, with one pause for Chromium
            first = time.monotonic() - started
            assert {keysym_of("✓"), keysym_of("é")} <= set(x.keymap.spare.values())
            with x_client(bare_display) as dpy:  # and the server's map says so
                code = next(c for c, s in x.keymap.spare.items() if s == keysym_of("✓"))
                assert dpy.get_keyboard_mapping(code, 1)[0][0] == keysym_of("✓")
            started = time.monotonic()
            await x.play([Type("✓é✓", 0), Key(keysym_of("é"), True), Key(keysym_of("é"), False)])
            assert time.monotonic() - started < first  # kept: no new map, no pause
            assert _keys_down(bare_display) == []
        finally:
            await asyncio.wrap_future(x.close())

    import asyncio

    _run(main())


def test_a_cancelled_action_lets_go_and_the_queue_stays_live(bare_display: str) -> None:
    """A long script is stopped by cancelling its caller: what it pressed is released; a
    question about the pointer is answered during its pauses, not after it."""
    import asyncio

    from kernel_actions.runner.browsers.xinput import Button, Key, Move, Sleep, XConnection

    async def main() -> None:
        x = XConnection(bare_display)
        try:
            long = asyncio.ensure_future(x.play([
                Move(5, 6), Key(0xFFE1, True), Key(ord("a"), True), Button(1, True),
                Sleep(30), Key(ord("a"), False), Key(0xFFE1, False), Button(1, False)]))
            held: list[int] = []
            deadline = time.monotonic() + 10
            while len(held) < 2 and time.monotonic() < deadline:  # Shift and a are down
                held = await asyncio.to_thread(_keys_down, bare_display)
            assert len(held) == 2, held
            asked = time.monotonic()
            assert await asyncio.wait_for(x.pointer(), 5) == (5, 6)
            assert time.monotonic() - asked < 5
            long.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await long
            # The release is queued before anything else the connection is asked.
            await x.play([Move(7, 8)])
            assert await asyncio.to_thread(_keys_down, bare_display) == []
            with x_client(bare_display) as dpy:
                assert not dpy.screen().root.query_pointer().mask & 0x100  # Button1Mask
        finally:
            await asyncio.wrap_future(x.close())
        with pytest.raises(ApiError) as closed:
            await x.pointer()
        assert closed.value.status == 409

    _run(main())


def test_the_x_connection_owns_and_reads_the_clipboard(bare_display: str) -> None:
    import asyncio

    from kernel_actions.runner.browsers.xinput import XConnection

    async def main() -> None:
        x = XConnection(bare_display)
        try:
            assert await x.read_clipboard() == ""  # nobody owns it yet
            await x.write_clipboard("mine ✓")
            assert await asyncio.to_thread(x_read_clipboard, bare_display) == "mine ✓".encode()
            assert await asyncio.to_thread(x_read_clipboard, bare_display, "image/png") is None
            with x_clipboard_owner(bare_display, "theirs ö"):
                assert await x.read_clipboard() == "theirs ö"
            with pytest.raises(ApiError) as big:  # more than one request carries: refused
                await x.write_clipboard("ö" * 200_000)
            assert big.value.status == 400 and "INCR" in big.value.message
        finally:
            await asyncio.wrap_future(x.close())

    _run(main())


def test_the_keymap_gives_out_spare_keys_longest_unused_first() -> None:
    from kernel_actions.runner.browsers.keymap import REMAP_PAUSE_S, KeyCode, Keymap

    now = [100.0]
    km = Keymap(clock=lambda: now[0])
    km.load(8, [[0, 0], [ord("a"), ord("A")], [0], [0], [0], [ord("<"), ord(">")],
                [ord("A"), 0], [0]])
    assert km.find(ord("a")) == KeyCode(9, False)
    assert km.find(ord("A")) == KeyCode(14, False)  # without Shift where a key has it so
    assert km.find(ord(">")) == KeyCode(13, True)
    assert sorted(km.spare) == [8, 10, 11]  # the last two free keys are left to others
    code, wait = km.place(0x10000E9)
    assert (code, wait) == (8, 0.0)
    km.assign(code, 0x10000E9)
    assert km.place(0x1002713, taken=[10]) == (11, 0.0)
    km.assign(10, 0x1002713)
    km.assign(11, 0x1002714)
    now[0] += 1
    km.pressed(10)
    assert km.place(0x1002715) == (8, 0.0)  # used longest ago
    now[0] += 0.05
    km.pressed(8)
    km.pressed(11)
    code, wait = km.place(0x1002715)
    assert code == 10 and 0 < wait <= REMAP_PAUSE_S  # all just used: wait for the oldest
    # Another client changes the map: the keys given out stay, the rest is read anew.
    km.load(8, [[0x10000E9, 0x10000E9], [ord("b")], [0x1002713], [0x1002714], [0],
                [ord("<")], [0], [0]])
    assert sorted(km.spare) == [8, 10, 11] and km.find(ord("b")) == KeyCode(9, False)


def _descendant_names(pid: int) -> set[str]:
    """The program names of ``pid``'s descendants."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                names[int(entry.name)] = (entry / "comm").read_text().strip()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(names.get(child, ""))
            todo.append(child)
    return found


# -- the npm SDK -------------------------------------------------------------------------------------


def test_the_npm_sdk_drives_the_computer_controls(runner: RunnerProcess,
                                                  page: PageServer) -> None:
    node = shutil.which("node")
    assert node, "node is required (see .ci/run)"
    assert (NODE_DIR / "node_modules" / "@onkernel" / "sdk").is_dir(), (
        "run `npm ci --prefix tests/node` first (.ci/run does)")
    env = {**os.environ, "KERNEL_BASE_URL": str(runner.url), "KERNEL_API_KEY": "local",
           "PAGE_URL": page.url}
    proc = subprocess.run([node, "computer.mjs"], cwd=NODE_DIR, env=env, capture_output=True,
                          text=True, timeout=300)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    failures = [f"{r['name']}: {r['error']}" for r in lines if not r["ok"]]
    assert not failures, "\n".join(failures) + "\n" + proc.stderr
    assert len(lines) == 6 and proc.returncode == 0, proc.stdout + proc.stderr



# -- auth and the live view ----------------------------------------------------------------------------


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[RunnerProcess]:
    proc = RunnerProcess(["serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
                          "--api-key", "s3cret"], tmp_path)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop(timeout=15)


def test_the_live_view_shows_the_screen_and_takes_over_with_the_key_only(
        secured: RunnerProcess, page: PageServer) -> None:
    from playwright.sync_api import sync_playwright

    k = Kernel(base_url=secured.url, api_key="s3cret", max_retries=0, timeout=60)
    created = k.browsers.create(viewport={"width": 1024, "height": 768},
                                start_url=page.url + "?live=1")
    url = f"{secured.url}/browsers/{created.session_id}/computer"
    try:
        # Every computer route wants the key; a wrong one, or none, is a 401 (never a 404).
        for path in ("screenshot", "click_mouse", "batch", "clipboard/read", "cursor"):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                r = httpx.post(f"{url}/{path}", json={}, headers=headers)
                assert r.status_code == 401 and r.json()["code"] == "unauthorized", (path, r)
        with pytest.raises(NotFoundError):
            Kernel(base_url=secured.url, api_key="s3cret", max_retries=0).browsers.computer \
                .capture_screenshot("no-such-browser")
        assert created.browser_live_view_url is not None
        state = wait_state(page, lambda s: s["href"].endswith("?live=1"))
        chromium = CHROMIUM
        with sync_playwright() as pw:
            viewer = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run"])
            tab = viewer.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            live = created.browser_live_view_url
            tab.goto(live.replace("#", "?key=s3cret#"))
            tab.wait_for_function("document.getElementById('screen').width === 1024")
            assert tab.locator("#live-state").text_content() == "live"
            # The dashboard's cookie opens the page, never the API it calls.
            cookies = {c["name"]: c["value"] for c in tab.context.cookies()}
            assert httpx.post(f"{url}/screenshot", cookies=cookies).status_code == 401
            # Take over: a click on the picture of the button clicks the button.
            tab.check("#take-over")
            box = tab.locator("#screen").bounding_box()
            assert box is not None
            scale = box["width"] / 1024
            y = state["uiTop"] + BUTTON_Y

            def clicked() -> bool:
                tab.mouse.click(box["x"] + 500 * scale, box["y"] + y * scale)
                try:
                    poll(lambda: page.latest()["clicked"].startswith("clicked"), timeout=2)
                    return True
                except AssertionError:
                    return False

            poll(clicked, timeout=20)
            viewer.close()
            assert not errors, errors
    finally:
        k.browsers.delete_by_id(created.session_id)


def test_a_capital_letter_in_a_shortcut_is_the_shortcut_not_shift() -> None:
    """Models write Ctrl+L (and hold Control_L while pressing L): that is Ctrl+l, which
    focuses the address bar, not Ctrl+Shift+l."""
    from kernel_actions.runner.browsers.computer import normalize_key, shortcut_keys

    assert normalize_key("Ctrl+L", "k") == "ctrl+l"
    assert normalize_key("Control_L+L", "k") == "Control_L+l"
    assert normalize_key("ctrl+shift+T", "k") == "ctrl+shift+T"  # Shift was asked for
    assert normalize_key("L", "k") == "L"  # a capital on its own is typed as one
    assert shortcut_keys(["L"], ["Control_L"]) == ["l"]
    assert shortcut_keys(["L"], ["Shift_L", "ctrl"]) == ["L"]
    assert shortcut_keys(["Return"], ["ctrl"]) == ["Return"]
