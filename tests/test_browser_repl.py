"""``browsers.repl`` through the official SDK: one persistent Node runtime per browser whose
bindings last across calls, with Playwright and raw CDP in scope, images and console output,
serialised calls, and a new ``repl_id`` after a reset, a timeout or a crash."""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Iterator

import pytest
from kernel import BadRequestError, Kernel, NotFoundError
from kernel.types import BrowserReplImageContent, BrowserReplTextContent

from kernel_actions.runner.browsers.computer import png_size

from .conftest import NEEDS_CHROMIUM, RunnerProcess, http_server
from .helpers import sdk_client, serve_runner

pytestmark = [NEEDS_CHROMIUM]
PAGE = b"<!doctype html><title>Repl Page</title><h1 id='h'>hello</h1>"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with http_server(lambda path: (200, "text/html", PAGE)) as url:
        yield url


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    with serve_runner(tmp_path_factory.mktemp("repl")) as proc:
        yield proc


@pytest.fixture(scope="module")
def k(runner: RunnerProcess) -> Kernel:
    return sdk_client(runner, timeout=120)


@pytest.fixture(scope="module")
def browser(k: Kernel) -> Iterator[str]:
    created = k.browsers.create(timeout_seconds=600).session_id
    yield created
    k.browsers.delete_by_id(created)


def texts(result: object, channel: str) -> str:
    return "".join(c.text for c in getattr(result, "content", None) or []
                   if isinstance(c, BrowserReplTextContent) and c.channel == channel)


def test_bindings_persist_and_an_image_is_emitted(k: Kernel, browser: str, site: str) -> None:
    first = k.browsers.repl(browser, code=(
        f"await page.goto({site!r});\n"
        "const heading = await page.textContent('#h');\n"
        "let calls = 1;\n"
        "function greet(name) { return `${heading}, ${name}` }\n"
        "console.log('loaded', heading); console.error('to stderr');"))
    assert first.success, first.error
    assert texts(first, "stdout") == "loaded hello\n" and texts(first, "stderr") == "to stderr\n"
    second = k.browsers.repl(browser, code=(
        "calls += 1; repl.write(greet('repl'), calls);\n"
        "const { result } = await cdp.send('Runtime.evaluate', {expression: 'document.title'});\n"
        "repl.write(result.value);\n"
        "repl.emitImage(await page.screenshot());"))
    assert second.success, second.error
    assert second.repl_id == first.repl_id
    assert texts(second, "write") == "hello, repl 2\nRepl Page\n"
    images = [c for c in second.content or [] if isinstance(c, BrowserReplImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    width, height = png_size(base64.b64decode(images[0].data_b64))
    assert width > 100 and height > 100
    # The output is in the order it was made.
    assert [c.type for c in second.content or []] == ["text", "image"]
    helped = k.browsers.repl(browser, code="repl.help(); repl.help('click')")
    assert "emitImage" in texts(helped, "write") and "page.click" in texts(helped, "write")


def test_errors_reset_and_serialised_calls(k: Kernel, browser: str) -> None:
    base = k.browsers.repl(browser, code="let kept = 'here'")
    assert base.success
    failed = k.browsers.repl(browser, code="repl.write(kept); throw new TypeError('nope')")
    assert not failed.success and failed.error == "TypeError: nope"
    assert failed.stack and "nope" in failed.stack and texts(failed, "write") == "here\n"
    assert failed.repl_id == base.repl_id and not failed.repl_terminated
    rejected = k.browsers.repl(browser, code="await Promise.reject(new Error('later'))")
    assert not rejected.success and rejected.error == "later"
    # Calls run one at a time: none runs while another is inside its await.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(k.browsers.repl, browser, code=(
            "globalThis.inside = true; await new Promise(r => setTimeout(r, 300)); "
            "globalThis.inside = false; kept = 'slow'")) for _ in range(2)]
        fast = [pool.submit(k.browsers.repl, browser,
                            code="repl.write(String(globalThis.inside))")
                for _ in range(2)]
        assert all(f.result().success for f in slow)
        assert {texts(f.result(), "write") for f in fast} <= {"false\n", "undefined\n"}
    fresh = k.browsers.repl(browser, code="repl.write(typeof kept)", reset=True)
    assert fresh.success and fresh.repl_id != base.repl_id
    assert texts(fresh, "write") == "undefined\n"
    only_reset = k.browsers.repl(browser, code="", reset=True)
    assert only_reset.success and only_reset.repl_id not in (base.repl_id, fresh.repl_id)


def test_a_timeout_or_a_crash_ends_the_repl(k: Kernel, browser: str) -> None:
    k.browsers.repl(browser, code="const before = 1")
    timed_out = k.browsers.repl(browser, code="while (true) {}", timeout_sec=2)
    assert not timed_out.success and timed_out.repl_terminated
    assert "timed out" in (timed_out.error or "")
    after = k.browsers.repl(browser, code="repl.write(typeof before)")
    assert after.success and after.repl_id != timed_out.repl_id
    assert texts(after, "write") == "undefined\n"
    crashed = k.browsers.repl(browser, code="process.exit(3)")
    assert not crashed.success and crashed.repl_terminated
    again = k.browsers.repl(browser, code="repl.write('alive')")
    assert again.success and again.repl_id not in (after.repl_id, crashed.repl_id)


def test_bad_requests(k: Kernel, browser: str) -> None:
    with pytest.raises(BadRequestError, match="empty"):
        k.browsers.repl(browser, code="  ")
    with pytest.raises(BadRequestError, match="timeout_sec"):
        k.browsers.repl(browser, code="1", timeout_sec=0)
    with pytest.raises(NotFoundError):
        k.browsers.repl("no-such-browser", code="1")
