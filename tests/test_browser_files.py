"""Each browser's file system (``browsers.fs``) through the official Python SDK: a sandbox
folder nothing escapes, that also receives the browser's downloads."""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel import BadRequestError, Kernel, NotFoundError, PermissionDeniedError
from websockets.sync.client import connect

from .conftest import BROWSER_MARKS, RunnerProcess, http_server, poll

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(start_runner: Callable[..., RunnerProcess], tmp_path: Path
           ) -> Iterator[tuple[Kernel, str, Path]]:
    """A runner, the SDK on it, one browser and that browser's sandbox folder."""
    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    browser = k.browsers.create(timeout_seconds=120)
    yield k, browser.session_id, tmp_path / "data" / "browsers" / browser.session_id / "fs"


def zip_of(entries: dict[str, bytes], symlink: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink[0])
            info.external_attr = (0o120777 << 16)
            z.writestr(info, symlink[1])
    return buf.getvalue()


def test_files_round_trip_through_the_sdk(served: tuple[Kernel, str, Path]) -> None:
    k, bid, root = served
    fs = k.browsers.fs
    fs.create_directory(bid, path="/work/sub", mode="750")
    assert (root / "work" / "sub").is_dir()
    assert oct((root / "work" / "sub").stat().st_mode & 0o777) == "0o750"
    fs.write_file(bid, b"hello \x00 bytes", path="/work/a.bin", mode="600")
    assert (root / "work" / "a.bin").read_bytes() == b"hello \x00 bytes"
    assert fs.read_file(bid, path="/work/a.bin").read() == b"hello \x00 bytes"

    info = fs.file_info(bid, path="/work/a.bin")
    assert (info.name, info.path, info.size_bytes, info.is_dir, info.mode) == (
        "a.bin", "/work/a.bin", 13, False, "-rw-------")
    listed = fs.list_files(bid, path="/work")
    assert [(f.name, f.path, f.is_dir) for f in listed] == [
        ("a.bin", "/work/a.bin", False), ("sub", "/work/sub", True)]
    assert listed[1].mode == "drwxr-x---" and listed[1].size_bytes == 0

    fs.set_file_permissions(bid, path="/work/a.bin", mode="644")
    assert fs.file_info(bid, path="/work/a.bin").mode == "-rw-r--r--"
    fs.move(bid, src_path="/work/a.bin", dest_path="/work/sub/b.bin")
    fs.move(bid, src_path="/work/sub/b.bin", dest_path="/work")  # into a folder, as mv
    assert [f.name for f in fs.list_files(bid, path="/work")] == ["b.bin", "sub"]

    fs.upload(bid, files=[{"dest_path": "/up/one.txt", "file": b"one"},
                          {"dest_path": "/up/deep/two.txt", "file": ("two.txt", b"two")}])
    assert (root / "up" / "one.txt").read_bytes() == b"one"
    assert (root / "up" / "deep" / "two.txt").read_bytes() == b"two"

    fs.upload_zip(bid, dest_path="/unzipped", zip_file=zip_of(
        {"x.txt": b"x", "nested/y.txt": b"y"}))
    assert (root / "unzipped" / "nested" / "y.txt").read_bytes() == b"y"
    archive = zipfile.ZipFile(io.BytesIO(fs.download_dir_zip(bid, path="/unzipped").read()))
    assert sorted(archive.namelist()) == ["nested/y.txt", "x.txt"]
    assert archive.read("x.txt") == b"x"

    fs.delete_file(bid, path="/work/b.bin")
    assert not (root / "work" / "b.bin").exists()
    fs.delete_directory(bid, path="/work")
    assert not (root / "work").exists()

    with pytest.raises(NotFoundError):
        fs.read_file(bid, path="/no/such/file").read()
    with pytest.raises(NotFoundError):
        fs.file_info(bid, path="/nope")
    with pytest.raises(BadRequestError):
        fs.write_file(bid, b"x", path="relative.txt")
    with pytest.raises(BadRequestError):
        fs.create_directory(bid, path="/d", mode="999")
    with pytest.raises(BadRequestError):
        fs.delete_file(bid, path="/up")  # a directory
    with pytest.raises(NotFoundError):
        fs.list_files("no-such-browser", path="/")
    # What the file system itself refuses is a 4xx too, never a 500.
    with pytest.raises(BadRequestError):
        fs.write_file(bid, b"x", path="/" + "n" * 300)
    with pytest.raises(BadRequestError):
        fs.create_directory(bid, path="/up/one.txt/below")  # a file in the way


def test_a_file_is_read_as_it_is_while_it_changes(served: tuple[Kernel, str, Path]) -> None:
    from kernel_actions.runner.browsers.files import WHOLE_READ_BYTES

    k, bid, root = served
    fs = k.browsers.fs
    (root / "big").mkdir()
    big = bytes(range(256)) * (WHOLE_READ_BYTES // 256 + 4096)  # streams, with no length
    (root / "big" / "file.bin").write_bytes(big)
    assert fs.read_file(bid, path="/big/file.bin").read() == big

    # A FIFO is refused, and nothing waits for a writer that never comes.
    os.mkfifo(root / "big" / "pipe")
    with pytest.raises(BadRequestError):
        fs.read_file(bid, path="/big/pipe").read()

    # A file written to while it is read (as a download is) reads as a prefix of what is
    # being written, never as a broken response.
    growing = root / "big" / "growing.txt"
    growing.write_bytes(b"")
    line = b"0123456789abcdef" * 64
    done = threading.Event()

    def write() -> None:
        with growing.open("ab") as out:
            while not done.is_set():
                out.write(line)
                out.flush()
                if out.tell() > 64 * len(line):
                    out.truncate(0)
                    out.seek(0)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        for _ in range(50):
            got = fs.read_file(bid, path="/big/growing.txt").read()
            assert got == line * (len(got) // len(line)) + line[:len(got) % len(line)]
    finally:
        done.set()
        writer.join()


def test_nothing_escapes_the_sandbox(served: tuple[Kernel, str, Path], tmp_path: Path) -> None:
    k, bid, root = served
    fs = k.browsers.fs
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")

    # `..` is resolved as on an absolute path: it stops at the sandbox's root.
    fs.write_file(bid, b"dots", path="/../../../escape.txt")
    assert (root / "escape.txt").read_bytes() == b"dots"
    assert not (tmp_path / "escape.txt").exists()
    assert not (root.parent.parent / "escape.txt").exists()
    fs.upload(bid, files=[{"dest_path": "/a/../../../up.txt", "file": b"u"}])
    assert (root / "up.txt").read_bytes() == b"u"

    # Symlinks that point outside, absolute or relative, are refused.
    (root / "abs").symlink_to(secret)
    (root / "rel").symlink_to(os.path.relpath(secret, root))
    (root / "outdir").symlink_to(tmp_path)
    for path in ("/abs", "/rel", "/outdir/secret.txt"):
        with pytest.raises(PermissionDeniedError):
            fs.read_file(bid, path=path).read()
    with pytest.raises(PermissionDeniedError):
        fs.write_file(bid, b"overwritten", path="/abs")
    with pytest.raises(PermissionDeniedError):
        fs.write_file(bid, b"new", path="/outdir/new.txt")
    with pytest.raises(PermissionDeniedError):
        fs.list_files(bid, path="/outdir")
    with pytest.raises(PermissionDeniedError):
        fs.upload_zip(bid, dest_path="/outdir", zip_file=zip_of({"z.txt": b"z"}))
    with pytest.raises(PermissionDeniedError):
        fs.set_file_permissions(bid, path="/abs", mode="777")
    with pytest.raises(PermissionDeniedError):
        fs.move(bid, src_path="/escape.txt", dest_path="/outdir/moved.txt")
    assert secret.read_text() == "outside" and oct(secret.stat().st_mode & 0o777) != "0o777"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["secret.txt", "data", *[p.name for p in tmp_path.iterdir()
                                 if p.name not in ("secret.txt", "data")]])
    assert not (tmp_path / "new.txt").exists() and not (tmp_path / "moved.txt").exists()
    # A symlink itself can be deleted; what it points to stays.
    fs.delete_file(bid, path="/abs")
    assert secret.exists() and not (root / "abs").is_symlink()
    # A download of a folder never packs what a symlink inside points to outside.
    (root / "pack").mkdir()
    (root / "pack" / "in.txt").write_text("in")
    (root / "pack" / "link").symlink_to(secret)
    names = zipfile.ZipFile(io.BytesIO(fs.download_dir_zip(bid, path="/pack").read())).namelist()
    assert names == ["in.txt"]

    # Zip-slip and zip symlinks are refused, and nothing of such a zip is written.
    for bad in (zip_of({"../../slip.txt": b"s"}), zip_of({"/abs.txt": b"a"}),
                zip_of({"ok.txt": b"o"}, symlink=("link", "/etc/passwd"))):
        with pytest.raises(BadRequestError):
            fs.upload_zip(bid, dest_path="/z", zip_file=bad)
    assert not (root / "z").exists()
    assert not list(tmp_path.rglob("slip.txt"))
    with pytest.raises(BadRequestError):
        fs.upload_zip(bid, dest_path="/z", zip_file=b"not a zip")


def test_a_hard_link_planted_in_the_sandbox_is_neither_read_nor_packed(
        served: tuple[Kernel, str, Path], tmp_path: Path) -> None:
    k, bid, root = served
    fs = k.browsers.fs
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (root / "pack").mkdir(parents=True)
    (root / "pack" / "in.txt").write_text("in")
    # As code run for the browser (playwright.execute) could: a second name for a file
    # of the developer's, inside the sandbox.
    os.link(secret, root / "pack" / "linked.txt")
    with pytest.raises(PermissionDeniedError) as refused:
        fs.read_file(bid, path="/pack/linked.txt").read()
    assert "hard links" in str(refused.value.body)
    assert fs.read_file(bid, path="/pack/in.txt").read() == b"in"
    packed = zipfile.ZipFile(io.BytesIO(fs.download_dir_zip(bid, path="/pack").read()))
    assert packed.namelist() == ["in.txt"] and packed.read("in.txt") == b"in"
    assert secret.read_text() == "outside"


def test_a_download_lands_in_the_browser_file_system(served: tuple[Kernel, str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    k, bid, _ = served
    html = "text/html; charset=utf-8"
    page_html = b'<!doctype html><a id=get href="/report.csv">report</a>'

    def answer(path: str) -> tuple[int, str, bytes]:
        if path == "/report.csv":
            return 200, "application/octet-stream", b"a,b\n1,2\n"
        return 200, html, page_html

    def landed(folder: str) -> Any:
        # Chromium reserves the name with an empty file first and fills it when it's done,
        # so what landed is read until it holds the whole report.
        with contextlib.suppress(NotFoundError):
            return k.browsers.fs.read_file(bid, path=f"{folder}/report.csv").read() == (
                b"a,b\n1,2\n")
        return False

    browser = k.browsers.retrieve(bid)
    with http_server(answer) as url:
        # A client that sets nothing: downloads go to /tmp/downloads.
        with connect(browser.cdp_ws_url, open_timeout=20) as ws:
            def call(n: int, method: str, params: dict[str, Any], sid: str | None = None
                     ) -> dict[str, Any]:
                ws.send(json.dumps({"id": n, "method": method, "params": params,
                                    **({"sessionId": sid} if sid else {})}))
                while True:
                    got = json.loads(ws.recv(timeout=20))
                    if got.get("id") == n:
                        return got["result"]

            targets = call(1, "Target.getTargets", {})["targetInfos"]
            page_id = next(t["targetId"] for t in targets if t["type"] == "page")
            sid = call(2, "Target.attachToTarget", {"targetId": page_id, "flatten": True})[
                "sessionId"]
            call(3, "Page.navigate", {"url": url + "/"}, sid)
            call(4, "Runtime.evaluate", {"expression": "new Promise(r => { const go = () => "
                                          "{ document.getElementById('get').click(); r(1) }; "
                                          "document.readyState === 'complete' ? go() : "
                                          "addEventListener('load', go) })",
                                          "awaitPromise": True}, sid)
            poll(lambda: landed("/tmp/downloads"), timeout=30)
        assert k.browsers.fs.read_file(bid, path="/tmp/downloads/report.csv").read() == (
            b"a,b\n1,2\n")

        # Playwright, following Kernel's docs: a folder of the browser's own file system.
        with sync_playwright() as pw:
            chromium = pw.chromium.connect_over_cdp(browser.cdp_ws_url)
            cdp = chromium.new_browser_cdp_session()
            cdp.send("Browser.setDownloadBehavior", {"behavior": "allow",
                                                     "downloadPath": "/data/saved",
                                                     "eventsEnabled": True})
            page = chromium.contexts[0].pages[0]
            page.goto(url + "/")
            page.click("#get")
            poll(lambda: landed("/data/saved"), timeout=30)
            chromium.close()
    assert k.browsers.fs.read_file(bid, path="/data/saved/report.csv").read() == b"a,b\n1,2\n"
    assert not Path("/data/saved/report.csv").exists()


def test_a_watch_reports_changes_until_stopped(served: tuple[Kernel, str, Path]) -> None:
    k, bid, _ = served
    fs = k.browsers.fs
    fs.create_directory(bid, path="/watched")
    watch_id = fs.watch.start(bid, path="/watched", recursive=True).watch_id
    assert watch_id
    seen: list[tuple[str, str]] = []
    ended = threading.Event()

    def read() -> None:
        for event in fs.watch.events(watch_id, id_or_name=bid):
            seen.append((event.type, event.path))
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    fs.write_file(bid, b"1", path="/watched/new.txt")
    poll(lambda: ("CREATE", "/watched/new.txt") in seen or ("WRITE", "/watched/new.txt") in seen,
         timeout=20)
    fs.delete_file(bid, path="/watched/new.txt")
    poll(lambda: ("DELETE", "/watched/new.txt") in seen, timeout=20)
    fs.watch.stop(watch_id, id_or_name=bid)
    assert ended.wait(20), "the event stream ends when the watch stops"
    with pytest.raises(NotFoundError):
        fs.watch.stop(watch_id, id_or_name=bid)
    with pytest.raises(NotFoundError):
        fs.watch.start(bid, path="/no-such-folder")
