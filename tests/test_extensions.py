"""Extensions through the official SDK: upload, list, metadata, download, delete; an
unpacked extension that changes a page, loaded at create and loaded into a running
browser; the Chrome Web Store import stays a 501; the front door's rules on every
extension endpoint."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import stat
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from kernel import APIStatusError, BadRequestError, ConflictError, Kernel, NotFoundError

from kernel_actions.runner.browsers.service import find_chromium
from kernel_actions.runner.errors import ApiError

from .conftest import RunnerProcess, http_server
from .door_checks import OTHER, assert_guarded, assert_other_users_refused
from .test_http_limits import address, read_response, stream_until_answered

try:
    CHROMIUM: str | None = find_chromium()
except ApiError:
    CHROMIUM = None
needs_chromium = pytest.mark.skipif(CHROMIUM is None or not sys.platform.startswith("linux"),
                                    reason="no Chromium on this Linux machine")

#: A content script that marks every page it runs in, and retitles it.
MARKER_JS = ("document.documentElement.setAttribute('data-marked-by', %s);"
             "document.title = 'marked: ' + document.title;")


def extension_zip(mark: str, *, folder: str = "", manifest: dict | None = None) -> bytes:
    """An unpacked MV3 extension whose content script marks pages with ``mark``."""
    manifest = manifest if manifest is not None else {
        "manifest_version": 3, "name": f"marker {mark}", "version": "1.0",
        "content_scripts": [{"matches": ["<all_urls>"], "js": ["mark.js"],
                             "run_at": "document_end"}]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(folder + "manifest.json", json.dumps(manifest))
        z.writestr(folder + "mark.js", MARKER_JS % json.dumps(mark))
    return buf.getvalue()


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess]) -> RunnerProcess:
    return start_runner(None, command="serve")


def test_extensions_through_the_sdk(runner: RunnerProcess, tmp_path: Path) -> None:
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    data = extension_zip("one")
    made = k.extensions.upload(file=("one.zip", data), name="marker-one")
    assert made.id and made.name == "marker-one" and made.size_bytes == len(data)
    assert made.checksum == hashlib.sha256(data).hexdigest() and made.last_used_at is None
    nested = k.extensions.upload(file=("two.zip", extension_zip("two", folder="ext/")))
    assert nested.name is None

    assert k.extensions.get("marker-one").id == made.id
    assert k.extensions.get(nested.id).size_bytes == nested.size_bytes
    assert {e.id for e in k.extensions.list()} == {made.id, nested.id}
    assert [e.id for e in k.extensions.list(name="marker-one")] == [made.id]
    assert [e.id for e in k.extensions.list(query="ONE")] == [made.id]
    assert k.extensions.download("marker-one").read() == data  # byte for byte

    with pytest.raises(ConflictError):
        k.extensions.upload(file=("x.zip", data), name="marker-one")
    with pytest.raises(BadRequestError):
        k.extensions.upload(file=("x.zip", data), name="has space")
    for bad in (b"not a zip", extension_zip("x", manifest={"name": "no version"}),
                _zip({"readme.txt": "no manifest"}), _zip({"../escape/manifest.json": "{}"})):
        with pytest.raises(BadRequestError):
            k.extensions.upload(file=("bad.zip", bad))
    with pytest.raises(APIStatusError) as store:
        k.extensions.download_from_chrome_store(url="https://chromewebstore.google.com/x")
    assert store.value.status_code == 501

    folder = tmp_path / "data" / "extensions"
    assert stat.S_IMODE((folder / "records").stat().st_mode) == 0o700
    k.extensions.delete("marker-one")
    with pytest.raises(NotFoundError):
        k.extensions.get(made.id)
    with pytest.raises(NotFoundError):
        k.browsers.create(extensions=[{"id": made.id}])
    assert not (folder / made.id).exists()
    assert [e.id for e in k.extensions.list()] == [nested.id]


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


@needs_chromium
def test_an_extension_changes_pages_loaded_at_create_or_into_a_running_browser(
        runner: RunnerProcess) -> None:
    from playwright.sync_api import sync_playwright

    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    k.extensions.upload(file=("m.zip", extension_zip("at-create")), name="marker")
    page_html = b"<!doctype html><title>plain</title><p>hello</p>"
    with http_server(lambda path: (200, "text/html", page_html)) as site, \
            sync_playwright() as pw:
        def visit(browser_cdp: str) -> tuple[str | None, str]:
            chromium = pw.chromium.connect_over_cdp(browser_cdp)
            try:
                page = chromium.contexts[0].new_page()
                page.goto(site + "/page")
                page.wait_for_function("document.documentElement.hasAttribute("
                                       "'data-marked-by')", timeout=15_000)
                return (page.get_attribute("html", "data-marked-by"), page.title())
            finally:
                chromium.close()

        with_ext = k.browsers.create(extensions=[{"name": "marker"}], timeout_seconds=60)
        assert visit(with_ext.cdp_ws_url) == ("at-create", "marked: plain")
        assert k.extensions.get("marker").last_used_at is not None
        k.browsers.delete_by_id(with_ext.session_id)

        # A browser without it: the page is as served; then it is loaded live.
        plain = k.browsers.create(timeout_seconds=60)
        chromium = pw.chromium.connect_over_cdp(plain.cdp_ws_url)
        try:
            page = chromium.contexts[0].new_page()
            page.goto(site + "/page")
            assert page.title() == "plain"
            assert page.get_attribute("html", "data-marked-by") is None
        finally:
            chromium.close()
        k.browsers.load_extensions(plain.session_id, extensions=[
            {"name": "live-one", "zip_file": ("l.zip", extension_zip("live", folder="x/"))}])
        assert visit(plain.cdp_ws_url) == ("live", "marked: plain")
        with pytest.raises(BadRequestError):
            k.browsers.load_extensions(plain.session_id, extensions=[
                {"name": "broken", "zip_file": ("b.zip", b"not a zip")}])
        with pytest.raises(NotFoundError):
            k.browsers.load_extensions("no-such-browser", extensions=[
                {"name": "x", "zip_file": ("l.zip", extension_zip("x"))}])
        k.browsers.delete_by_id(plain.session_id)


def test_extensions_behind_the_front_door(start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, "--api-key", "k3y", command="serve")
    k = Kernel(base_url=runner.url, api_key="k3y", max_retries=0)
    made = k.extensions.upload(file=("m.zip", extension_zip("x")), name="kept")
    one = f"/extensions/{made.id}"
    assert_guarded(runner.url or "", "k3y",
                   [("POST", "/extensions"), ("GET", "/extensions"), ("GET", one),
                    ("DELETE", one), ("GET", f"{one}/metadata"),
                    ("POST", "/browsers/some-browser/extensions")], [])
    key = {"Authorization": "Bearer k3y"}
    with httpx.Client(base_url=runner.url or "", timeout=60, headers=key) as c:
        for path in ("/extensions", "/browsers/some-browser/extensions"):
            # Over the upload limit by its declared length: refused before it is read.
            host, port = address(runner.url or "")
            with socket.create_connection((host, port)) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                             "Authorization: Bearer k3y\r\n"
                             "Content-Type: multipart/form-data; boundary=b\r\n"
                             f"Content-Length: {3 * 1024 ** 3}\r\n\r\n--b".encode())
                status, _, body = read_response(sock)
            assert status == 400 and b"too large" in body, body
        # Chunked, past the limit while it arrives (no length said): cut there.
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n'
        sent, status, _, body = stream_until_answered(
            runner.url or "", "/extensions",
            b"Authorization: Bearer k3y\r\nContent-Type: multipart/form-data; boundary=b\r\n",
            part + b"\0" * ((4 << 20) - len(part)), 3 << 30)
        assert status == 400 and b"too large" in body, body
        assert sent < 3 << 30
        for path in ("/extensions", "/browsers/some-browser/extensions"):
            # Not multipart, not JSON: a page's form post can't be one.
            r = c.post(path, content=b"a=b", headers={
                "Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Mode": "no-cors"})
            assert r.status_code == 415, r.text
            # A broken multipart body, and one without the parts asked for.
            r = c.post(path, content=b"--b\r\ngarbage",
                       headers={"Content-Type": "multipart/form-data; boundary=b"})
            assert r.status_code in (400, 404) and r.json()["code"], r.text
            r = c.post(path, files={"other": ("x", b"y")})
            assert r.status_code in (400, 404) and r.json()["code"], r.text
    assert [e.name for e in k.extensions.list()] == ["kept"]


@pytest.mark.skipif(OTHER is None, reason="no other uid to run a client as (root on Linux)")
def test_another_user_gets_no_extensions(runner: RunnerProcess) -> None:
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    made = k.extensions.upload(file=("m.zip", extension_zip("x")))
    assert_other_users_refused(runner.url or "", ["/extensions", f"/extensions/{made.id}",
                                                  f"/extensions/{made.id}/metadata"])
