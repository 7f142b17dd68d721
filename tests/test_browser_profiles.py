"""Profiles through the official Python SDK: CRUD, and cookies and local storage that a
browser saves (``save_changes``) and the next browser loads. Real Chromium, real page."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import pytest
from kernel import BadRequestError, ConflictError, Kernel, NotFoundError

from .conftest import BROWSER_MARKS, RunnerProcess, http_server

pytestmark = BROWSER_MARKS


def test_profile_crud(start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    first = k.profiles.create(name="shop-login")
    assert first.id and first.name == "shop-login" and first.created_at
    second = k.profiles.create()
    assert second.name is None
    assert k.profiles.retrieve("shop-login").id == first.id
    assert k.profiles.retrieve(first.id).name == "shop-login"
    assert {p.id for p in k.profiles.list()} == {first.id, second.id}
    assert [p.id for p in k.profiles.list(name="shop-login")] == [first.id]
    assert [p.id for p in k.profiles.list(query="SHOP")] == [first.id]
    assert len(k.profiles.list(limit=1).items) == 1
    with pytest.raises(ConflictError) as taken:
        k.profiles.create(name="shop-login")
    assert taken.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(BadRequestError):
        k.profiles.create(name="has space")
    renamed = k.profiles.update(second.id, name="other")
    assert renamed.name == "other" and k.profiles.retrieve("other").id == second.id
    with pytest.raises(ConflictError):
        k.profiles.update(second.id, name="shop-login")
    tar = tarfile.open(fileobj=io.BytesIO(k.profiles.download(first.id, format="tar").read()))
    assert tar.getnames() == ["."]
    with pytest.raises(BadRequestError):
        k.profiles.download(first.id, format="tar.zst").read()
    k.profiles.delete("other")
    with pytest.raises(NotFoundError):
        k.profiles.retrieve(second.id)
    with pytest.raises(NotFoundError):
        k.browsers.create(profile={"name": "no-such-profile"})


def test_cookies_and_storage_survive_into_the_next_browser(
        start_runner: Callable[..., RunnerProcess]) -> None:
    from playwright.sync_api import sync_playwright

    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    profile = k.profiles.create(name="kept")
    page_html = b"<!doctype html><title>p</title>"

    with http_server(lambda path: (200, "text/html", page_html)) as url, \
            sync_playwright() as pw:
        def visit(browser_id: str) -> tuple[str, str | None]:
            cdp_url = k.browsers.retrieve(browser_id).cdp_ws_url
            chromium = pw.chromium.connect_over_cdp(cdp_url)
            try:
                page = chromium.contexts[0].pages[0]
                page.goto(url + "/")
                return page.evaluate("document.cookie"), page.evaluate(
                    "localStorage.getItem('k')")
            finally:
                chromium.close()

        saver = k.browsers.create(profile={"name": "kept", "save_changes": True},
                                  timeout_seconds=60)
        # One browser at a time saves into a profile.
        with pytest.raises(ConflictError):
            k.browsers.create(profile={"id": profile.id, "save_changes": True})
        chromium = pw.chromium.connect_over_cdp(saver.cdp_ws_url)
        page = chromium.contexts[0].pages[0]
        page.goto(url + "/")
        page.evaluate("document.cookie = 'session=abc123; max-age=86400; path=/'")
        page.evaluate("localStorage.setItem('k', 'stored value')")
        chromium.close()
        k.browsers.delete_by_id(saver.session_id)
        assert k.profiles.retrieve(profile.id).last_used_at is not None

        # Loaded (without saving) by a new browser: the cookie and the storage are there.
        reader = k.browsers.create(profile={"id": profile.id}, timeout_seconds=60)
        cookie, stored = visit(reader.session_id)
        assert "session=abc123" in cookie and stored == "stored value"
        # It changes things but does not save them.
        chromium = pw.chromium.connect_over_cdp(reader.cdp_ws_url)
        chromium.contexts[0].pages[0].evaluate("localStorage.setItem('k', 'not saved')")
        chromium.close()
        k.browsers.delete_by_id(reader.session_id)

        again = k.browsers.create(profile={"name": "kept"}, timeout_seconds=60)
        assert visit(again.session_id)[1] == "stored value"
        # A browser without the profile has neither.
        plain = k.browsers.create(timeout_seconds=60)
        assert visit(plain.session_id) == ("", None)
