"""Each browser's file system (``/browsers/{id}/fs/*``): a sandbox folder of its own.

On Kernel a browser is a machine, and ``fs`` reads and writes its disk by absolute path.
Here every browser gets a folder, ``<data>/browsers/<id>/fs``, that stands for its root:
``/tmp/a.txt`` in a request is ``<that folder>/tmp/a.txt``. No request can reach outside
it: a path is normalised as an absolute path (so ``/../../etc`` is ``/etc`` *inside* the
sandbox), and once the existing part of it is resolved (symlinks followed, absolute ones
included) it must still be inside the sandbox, or the request is refused. Uploaded zips
go through :func:`~kernel_actions.tooling.bundle.extract_bundle` (no ``..``, absolute names,
symlinks or bombs) and then each file through the same check. A regular file with more
than one name (a hard link, which may be a file of the developer's anywhere on the same
disk) is refused by ``read_file`` and left out of ``download_dir_zip``, as a symlink that
leads out is.

The browser's downloads land in it, at :data:`DOWNLOADS` (``Browser.setDownloadBehavior``
on the browser's DevTools pipe), so an app clicks a link and reads the file back through
``fs``. A client that sets its own download folder, as Kernel's docs show
(``Browser.setDownloadBehavior`` with ``downloadPath: "/tmp/downloads"``), names a folder
of the browser's file system, so that path is mapped into the sandbox too, except
Playwright's own artifacts folder (``playwright-artifacts-*``), which Playwright reads
itself for ``page.expect_download()``. Watches (``fs/watch``) report changes under a folder as SSE events, through
``watchfiles``.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ...timeutil import format_ns
from ...tooling.bundle import UnsafeBundleError, extract_bundle
from ..errors import ApiError, bad_request, not_found
from ..http.common import guard, json_response, read_json_body, sse_event
from .cdp import CdpMux

__all__ = ["Sandbox", "FileService", "DOWNLOADS", "MAX_FILE_BYTES", "sandbox_folder"]

#: Where, inside a browser's file system, its downloads are saved.
DOWNLOADS = "/tmp/downloads"
#: Largest file written or uploaded in one request (as the deployment upload limit).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Files up to this size are read whole and sent with their length; larger ones stream.
WHOLE_READ_BYTES = 8 * 1024 * 1024
#: Watches per browser, and events kept for a watch nobody reads.
MAX_WATCHES = 32
MAX_PENDING_EVENTS = 10_000
_MODE = re.compile(r"[0-7]{3,4}")
_CHUNK = 1024 * 1024


def sandbox_folder(browser_folder: Path) -> Path:
    return browser_folder / "fs"


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def _hard_linked(path: Any, links: int) -> ApiError:
    """A regular file with other names: one of them may lie outside the browser's file
    system (any file of the developer's), so it is refused, as a symlink out would be."""
    return _forbidden(f"{path!r} has {links} hard links: a file linked from elsewhere is "
                      "not read from a browser's file system")


class Sandbox:
    """Maps a browser's absolute paths into its folder and refuses what would escape."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = Path(os.path.realpath(root))

    def resolve(self, path: Any, name: str = "path", *, follow: bool = True) -> Path:
        """The host path for a browser path. ``follow=False`` leaves the last component
        unresolved (to delete, move or describe a symlink itself)."""
        if not isinstance(path, str) or not path:
            raise bad_request(f"{name!r} must be a non-empty absolute path")
        if not path.startswith("/"):
            raise bad_request(f"{name!r} must be an absolute path such as /tmp/file.txt, "
                              f"got {path!r}")
        if "\0" in path:
            raise bad_request(f"{name!r} must not contain a NUL character")
        virtual = os.path.normpath("/" + path.lstrip("/")).lstrip("/")
        host = self.root / virtual if virtual not in ("", ".") else self.root
        if follow:
            real = Path(os.path.realpath(host))
        else:
            real = Path(os.path.realpath(host.parent)) / host.name if host != self.root else (
                self.real_root)
        if real != self.real_root and self.real_root not in real.parents:
            raise _forbidden(f"{name!r} {path!r} leads outside the browser's file system "
                             "(through a symlink)")
        return real

    def virtual(self, host: Path) -> str:
        """The browser path of a host path inside the sandbox."""
        try:
            rel = host.relative_to(self.real_root)
        except ValueError:
            rel = host.relative_to(self.root)
        return "/" + rel.as_posix() if rel.parts else "/"

    def describe(self, host: Path) -> dict[str, Any]:
        info = host.lstat()
        is_dir = stat.S_ISDIR(info.st_mode)
        return {
            "name": host.name if host != self.real_root else "/",
            "path": self.virtual(host),
            "size_bytes": 0 if is_dir else info.st_size,
            "is_dir": is_dir,
            "mod_time": format_ns(info.st_mtime_ns),
            "mode": stat.filemode(info.st_mode),
        }


def _pack(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    """Add the regular file at ``path`` to ``archive``, checked on the open file: one with
    other names (hard links) is left out, as a symlink leading out of the sandbox is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return  # gone, or not ours to read
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            return
        entry = zipfile.ZipInfo.from_file(path, name)
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.file_size = info.st_size
        with archive.open(entry, "w") as sink:
            shutil.copyfileobj(source, sink, 1024 * 1024)


def _mode(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not _MODE.fullmatch(value):
        raise bad_request(f"'mode' must be an octal string such as 644 or 755, got {value!r}")
    return int(value, 8) & 0o7777


def _os_errors(handler: Callable[[Request], Awaitable[Response]]
               ) -> Callable[[Request], Awaitable[Response]]:
    """What the file system refuses (a name too long, a full disk, a busy file) is the
    request's problem, answered as a 4xx that says what happened, never a 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except FileNotFoundError as exc:
            raise not_found(f"no such file or folder: {exc.strerror}") from None
        except PermissionError as exc:
            raise _forbidden(f"not permitted: {exc.strerror}") from None
        except OSError as exc:
            raise bad_request(f"the file system refused: {exc.strerror or exc}") from None

    wrapped.__name__ = handler.__name__
    return wrapped


def _missing(path: str) -> ApiError:
    return not_found(f"{path!r} does not exist")


@dataclass(eq=False)
class _Watch:
    id: str
    folder: Path
    recursive: bool
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    events: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(MAX_PENDING_EVENTS))
    task: asyncio.Task[None] | None = None


class FileService:
    """The ``fs`` endpoints of every browser. ``find(id_or_name)`` gives ``(id, folder)`` of
    a running browser or raises 404."""

    def __init__(self, find: Callable[[str], tuple[str, Path]]) -> None:
        self._find = find
        self._watches: dict[str, dict[str, _Watch]] = {}

    def sandbox(self, id_or_name: str) -> tuple[str, Sandbox]:
        browser_id, folder = self._find(id_or_name)
        root = sandbox_folder(folder)
        root.mkdir(parents=True, exist_ok=True)
        return browser_id, Sandbox(root)

    @staticmethod
    async def route_downloads(mux: CdpMux, browser_folder: Path) -> None:
        """Save the browser's downloads into its file system, at :data:`DOWNLOADS`."""
        target = sandbox_folder(browser_folder) / DOWNLOADS.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        await mux.call("Browser.setDownloadBehavior",
                       {"behavior": "allow", "downloadPath": str(target)})

    @staticmethod
    def download_paths(browser_folder: Path) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        """A rewrite for :attr:`CdpMux.rewrite`: download folders into the sandbox."""
        box = Sandbox(sandbox_folder(browser_folder))

        def rewrite(method: str, params: dict[str, Any]) -> dict[str, Any]:
            path = params.get("downloadPath")
            if method not in ("Browser.setDownloadBehavior", "Page.setDownloadBehavior") or (
                    not isinstance(path, str) or not path.startswith("/")
                    or Path(path).name.startswith("playwright-artifacts-")):
                return params
            try:
                target = box.resolve(path, "downloadPath")
                target.mkdir(parents=True, exist_ok=True)
            except (ApiError, OSError):
                target = box.real_root / DOWNLOADS.lstrip("/")
            return {**params, "downloadPath": str(target)}

        return rewrite

    def forget(self, browser_id: str) -> None:
        """The browser closed: its watches end."""
        for watch in self._watches.pop(browser_id, {}).values():
            self._end(watch)

    @staticmethod
    def _end(watch: _Watch) -> None:
        watch.stop.set()
        with contextlib.suppress(asyncio.QueueFull):
            watch.events.put_nowait(None)

    # -- operations ----------------------------------------------------------------------

    async def _write_stream(self, target: Path, chunks: AsyncIterator[bytes], mode: int,
                            shown: str) -> None:
        if target.is_dir():
            raise bad_request(f"{shown!r} is a directory")
        if target.parent.exists() and not target.parent.is_dir():
            raise bad_request(f"the folder of {shown!r} is a file")
        target.parent.mkdir(parents=True, exist_ok=True)  # inside: resolve() checked it
        fd, tmp = tempfile.mkstemp(prefix=".upload.", dir=target.parent)
        try:
            written = 0
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > MAX_FILE_BYTES:
                        raise bad_request(f"file too large: the limit is {MAX_FILE_BYTES} bytes")
                    out.write(chunk)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def _form(self, request: Request, max_files: int) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_FILE_BYTES * 2:
            raise bad_request(f"upload too large: the limit is {MAX_FILE_BYTES} bytes a file")
        try:
            return await request.form(max_files=max_files, max_fields=2 * max_files + 10,
                                      max_part_size=1024 * 1024)
        except Exception as exc:
            raise bad_request(f"expected a multipart/form-data upload: {exc}") from None

    # -- HTTP ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        base = "/browsers/{id}/fs"
        endpoints = [
            ("create_directory", self.create_directory, "PUT"),
            ("delete_directory", self.delete_directory, "PUT"),
            ("delete_file", self.delete_file, "PUT"),
            ("download_dir_zip", self.download_dir_zip, "GET"),
            ("file_info", self.file_info, "GET"),
            ("list_files", self.list_files, "GET"),
            ("move", self.move, "PUT"),
            ("read_file", self.read_file, "GET"),
            ("set_file_permissions", self.set_file_permissions, "PUT"),
            ("upload", self.upload, "POST"),
            ("upload_zip", self.upload_zip, "POST"),
            ("write_file", self.write_file, "PUT"),
            ("watch", self.watch_start, "POST"),
            ("watch/{watch_id}/events", self.watch_events, "GET"),
            ("watch/{watch_id}", self.watch_stop, "DELETE"),
        ]
        return [Route(f"{base}/{path}", guard(_os_errors(endpoint)), methods=[method])
                for path, endpoint, method in endpoints]

    def _existing(self, request: Request, path: Any, name: str = "path", *,
                  follow: bool = True) -> tuple[Sandbox, Path]:
        """The request's browser's sandbox, and the host path of ``path`` in it, which must
        exist (``follow=False``: a symlink itself, even one that leads nowhere)."""
        _, box = self.sandbox(request.path_params["id"])
        target = box.resolve(path, name, follow=follow)
        if not target.exists() and (follow or not target.is_symlink()):
            raise _missing(str(path))
        return box, target

    def _existing_folder(self, request: Request, path: Any) -> tuple[Sandbox, Path]:
        box, target = self._existing(request, path)
        if not target.is_dir():
            raise bad_request(f"{path!r} is not a directory")
        return box, target

    async def create_directory(self, request: Request) -> Response:
        _, box = self.sandbox(request.path_params["id"])
        data = await read_json_body(request)
        target = box.resolve(data.get("path"))
        mode = _mode(data.get("mode"), 0o755)
        if target.exists() and not target.is_dir():
            raise ApiError(409, "conflict", f"{data['path']!r} exists and is a file")
        target.mkdir(parents=True, exist_ok=True, mode=mode)
        os.chmod(target, mode)
        return Response(status_code=200)

    async def delete_directory(self, request: Request) -> Response:
        data = await read_json_body(request)
        box, target = self._existing(request, data.get("path"), follow=False)
        if target == box.real_root:
            raise bad_request("the root folder can't be deleted")
        if target.is_symlink() or not target.is_dir():
            raise bad_request(f"{data['path']!r} is not a directory: use delete_file")
        await asyncio.to_thread(shutil.rmtree, target)
        return Response(status_code=200)

    async def delete_file(self, request: Request) -> Response:
        data = await read_json_body(request)
        _, target = self._existing(request, data.get("path"), follow=False)
        if target.is_dir() and not target.is_symlink():
            raise bad_request(f"{data['path']!r} is a directory: use delete_directory")
        target.unlink()
        return Response(status_code=200)

    async def file_info(self, request: Request) -> Response:
        box, target = self._existing(request, request.query_params.get("path"))
        return json_response(box.describe(target))

    async def list_files(self, request: Request) -> Response:
        box, target = self._existing_folder(request, request.query_params.get("path"))
        entries = sorted(target.iterdir(), key=lambda p: p.name)
        return json_response([box.describe(p) for p in entries])

    async def move(self, request: Request) -> Response:
        data = await read_json_body(request)
        box, src = self._existing(request, data.get("src_path"), "src_path", follow=False)
        dest = box.resolve(data.get("dest_path"), "dest_path", follow=False)
        if src == box.real_root:
            raise bad_request("the root folder can't be moved")
        if not dest.parent.is_dir():
            raise not_found(f"the folder of {data['dest_path']!r} does not exist")
        if dest == src or src in dest.parents:
            raise bad_request("a folder can't be moved into itself")
        if dest.is_dir() and not dest.is_symlink():
            dest = dest / src.name  # into the folder, as mv does
        os.replace(src, dest)
        return Response(status_code=200)

    async def read_file(self, request: Request) -> Response:
        path = request.query_params.get("path")
        _, target = self._existing(request, path)
        if target.is_dir():
            raise bad_request(f"{path!r} is a directory: use list_files or download_dir_zip")
        return await _file_as_it_is_now(target, path)

    async def set_file_permissions(self, request: Request) -> Response:
        data = await read_json_body(request)
        _, target = self._existing(request, data.get("path"))
        if data.get("mode") is None:
            raise bad_request("'mode' is required: an octal string such as 644")
        mode = _mode(data.get("mode"), 0o644)
        owner, group = data.get("owner"), data.get("group")
        uid = gid = -1
        try:
            if owner not in (None, ""):
                uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(str(owner)).pw_uid
            if group not in (None, ""):
                gid = int(group) if str(group).isdigit() else grp.getgrnam(str(group)).gr_gid
        except KeyError:
            raise bad_request(f"no such user or group: {owner or group!r}") from None
        try:
            if uid != -1 or gid != -1:
                os.chown(target, uid, gid)
        except PermissionError:
            raise _forbidden("changing the owner needs the runner to run as root") from None
        os.chmod(target, mode)
        return Response(status_code=200)

    async def write_file(self, request: Request) -> Response:
        _, box = self.sandbox(request.path_params["id"])
        path = request.query_params.get("path")
        target = box.resolve(path)
        mode = _mode(request.query_params.get("mode"), 0o644)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_FILE_BYTES:
            raise bad_request(f"file too large: the limit is {MAX_FILE_BYTES} bytes")
        await self._write_stream(target, request.stream(), mode, str(path))
        return Response(status_code=200)

    async def upload(self, request: Request) -> Response:
        _, box = self.sandbox(request.path_params["id"])
        form = await self._form(request, 100)
        pairs: dict[str, dict[str, Any]] = {}
        for key, value in form.multi_items():
            found = re.fullmatch(r"files\[(\d+)\]\[(file|dest_path)\]", key)
            if found:
                pairs.setdefault(found.group(1), {})[found.group(2)] = value
        if not pairs:
            raise bad_request("send files[N][file] and files[N][dest_path] parts")
        planned = []
        for index, pair in sorted(pairs.items(), key=lambda kv: int(kv[0])):
            upload_file, dest = pair.get("file"), pair.get("dest_path")
            if not isinstance(upload_file, UploadFile) or not isinstance(dest, str):
                raise bad_request(f"files[{index}] needs both a file and a dest_path")
            target = box.resolve(dest, f"files[{index}][dest_path]")
            planned.append((upload_file, target, dest))
        for upload_file, target, dest in planned:
            target.parent.mkdir(parents=True, exist_ok=True)
            box.resolve(dest)  # the folders just made are plain folders, still inside

            async def chunks(f: UploadFile = upload_file) -> AsyncIterator[bytes]:
                while chunk := await f.read(_CHUNK):
                    yield chunk

            await self._write_stream(target, chunks(), 0o644, dest)
        return Response(status_code=200)

    async def upload_zip(self, request: Request) -> Response:
        _, box = self.sandbox(request.path_params["id"])
        form = await self._form(request, 1)
        archive, dest = form.get("zip_file"), form.get("dest_path")
        if not isinstance(archive, UploadFile):
            raise bad_request("'zip_file' is required: a zip archive")
        if not isinstance(dest, str):
            raise bad_request("'dest_path' is required: the folder to extract into")
        target = box.resolve(dest, "dest_path")
        if target.exists() and not target.is_dir():
            raise bad_request(f"'dest_path' {dest!r} is a file")
        staging = Path(tempfile.mkdtemp(prefix=".unzip.", dir=box.root.parent))
        try:
            await asyncio.to_thread(self._unzip, archive, staging, box, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return Response(status_code=200)

    async def download_dir_zip(self, request: Request) -> Response:
        box, target = self._existing_folder(request, request.query_params.get("path"))
        fd, tmp = tempfile.mkstemp(prefix=".zip.", dir=box.root.parent)
        os.close(fd)
        await asyncio.to_thread(self._zip, target, Path(tmp), box)
        name = (target.name or "root") + ".zip"
        return FileResponse(tmp, media_type="application/zip", filename=name,
                            background=BackgroundTask(os.unlink, tmp))

    async def watch_start(self, request: Request) -> Response:
        data = await read_json_body(request)
        box, target = self._existing_folder(request, data.get("path"))
        browser_id, _ = self.sandbox(request.path_params["id"])  # its id, even when named
        recursive = data.get("recursive", False)
        if not isinstance(recursive, bool):
            raise bad_request("'recursive' must be true or false")
        watches = self._watches.setdefault(browser_id, {})
        if len(watches) >= MAX_WATCHES:
            raise ApiError(429, "rate_limited", f"at most {MAX_WATCHES} watches a browser: "
                           "stop one first", headers={"Retry-After": "1"})
        watch = _Watch(new_id(), target, recursive)
        watch.task = asyncio.ensure_future(self._run_watch(watch, box))
        watches[watch.id] = watch
        # Its first step creates the watcher: changes made after this answer are seen.
        for _ in range(3):
            await asyncio.sleep(0)
        return json_response({"watch_id": watch.id})

    def _find_watch(self, request: Request) -> _Watch:
        browser_id, _ = self.sandbox(request.path_params["id"])
        watch = self._watches.get(browser_id, {}).get(request.path_params["watch_id"])
        if watch is None:
            raise not_found(f"watch {request.path_params['watch_id']!r} not found")
        return watch

    async def watch_events(self, request: Request) -> Response:
        watch = self._find_watch(request)

        async def stream() -> AsyncIterator[bytes]:
            while True:
                event = await watch.events.get()
                if event is None:
                    watch.events.put_nowait(None)  # for any other reader
                    return
                yield sse_event(event)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def watch_stop(self, request: Request) -> Response:
        watch = self._find_watch(request)
        browser_id, _ = self.sandbox(request.path_params["id"])
        self._watches.get(browser_id, {}).pop(watch.id, None)
        self._end(watch)
        return Response(status_code=200)

    # -- blocking helpers (run in a thread) --------------------------------------------------

    @staticmethod
    def _unzip(archive: UploadFile, staging: Path, box: Sandbox, dest: str) -> None:
        extracted = staging / "x"
        try:
            names = extract_bundle(archive.file, extracted, max_total_bytes=MAX_FILE_BYTES)
        except UnsafeBundleError as exc:
            raise bad_request(f"unsafe or invalid zip: {exc}") from None
        for name in names:
            target = box.resolve(f"{dest.rstrip('/')}/{name}", "dest_path")
            target.parent.mkdir(parents=True, exist_ok=True)
            box.resolve(f"{dest.rstrip('/')}/{name}", "dest_path")
            if target.is_dir():
                raise bad_request(f"{name!r} in the zip is a folder in {dest!r}")
            os.replace(extracted / name, target)

    @staticmethod
    def _zip(folder: Path, out: Path, box: Sandbox) -> None:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for current, dirs, files in os.walk(folder):
                here = Path(current)
                for name in sorted(files):
                    path = here / name
                    if path.is_symlink():
                        real = Path(os.path.realpath(path))
                        if box.real_root not in real.parents:
                            continue  # never pack what lies outside the sandbox
                    _pack(archive, path, path.relative_to(folder).as_posix())
                for name in sorted(dirs):
                    if not any((here / name).iterdir()):
                        archive.writestr(f"{(here / name).relative_to(folder).as_posix()}/", b"")

    async def _run_watch(self, watch: _Watch, box: Sandbox) -> None:
        from watchfiles import Change, awatch

        kinds = {Change.added: "CREATE", Change.modified: "WRITE", Change.deleted: "DELETE"}
        try:
            async for changes in awatch(watch.folder, stop_event=watch.stop, debounce=50,
                                        step=20, recursive=watch.recursive,
                                        rust_timeout=200, yield_on_timeout=False):
                for change, raw in sorted(changes, key=lambda c: c[1]):
                    path = Path(raw)
                    if not watch.recursive and path.parent != watch.folder:
                        continue
                    event = {"type": kinds.get(change, "WRITE"), "path": box.virtual(path),
                             "name": path.name,
                             "is_dir": path.is_dir() if change != Change.deleted else False}
                    try:
                        watch.events.put_nowait(event)
                    except asyncio.QueueFull:
                        pass  # nobody reads this watch: drop the oldest news
        except Exception:  # the folder went away
            pass
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                watch.events.put_nowait(None)


async def _file_as_it_is_now(target: Path, path: str | None) -> Response:
    """The file's bytes as they are when it is read, even while something writes to it.

    A browser writes its downloads while an app may already read them: a file whose length
    is taken first and whose bytes are read later can grow or shrink in between, and the
    response would then break its own ``Content-Length``. So a file is read whole, to its
    end, and sent with the length of what was read; one too large to hold streams instead,
    with no length, to its end at the time of reading.
    """
    try:
        # Non-blocking, so that a FIFO can't hold the open; only regular files are read.
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _missing(str(path)) from None
    except OSError as exc:
        raise bad_request(f"{path!r} can't be read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise bad_request(f"{path!r} is not a regular file")
    if info.st_nlink > 1:
        os.close(fd)
        raise _hard_linked(path, info.st_nlink)
    file = os.fdopen(fd, "rb")
    headers = {"Content-Disposition": "attachment"}
    try:
        if info.st_size <= WHOLE_READ_BYTES:
            data = await asyncio.to_thread(file.read, WHOLE_READ_BYTES + 1)
            if len(data) <= WHOLE_READ_BYTES:
                file.close()
                return Response(data, media_type="application/octet-stream", headers=headers)
            file.seek(0)
    except BaseException:
        file.close()
        raise

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(file.read, 1024 * 1024):
                yield chunk
        finally:
            file.close()

    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)
