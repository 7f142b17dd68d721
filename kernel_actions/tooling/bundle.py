"""Receiving a bundle: safe extraction of an uploaded app zip.

Nothing is written outside the target folder: members that escape it (``../``,
absolute paths, drive letters), symlinks, and archives whose size or file count
is absurd (zip bombs) are refused, and the byte limit is enforced while
decompressing, not trusted from the headers. Extraction happens in a temporary
sibling folder renamed into place at the end, so a failure leaves nothing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["extract_bundle", "check_bundle", "read_bundle_manifest", "is_own_bundle",
           "UnsafeBundleError", "MANIFEST_NAME", "MAX_FILES", "MAX_TOTAL_BYTES", "MAX_RATIO"]

MANIFEST_NAME = "kernel-actions.json"
_CHUNK = 1024 * 1024
#: Files in a bundle, at most.
MAX_FILES = 10_000
#: Bytes once decompressed, at most (enforced while decompressing too).
MAX_TOTAL_BYTES = 500 * 1024 * 1024
#: Compression ratio, at most, of the whole archive and of any member over 1 MB: source
#: code and assets compress 2-20x; far more means a bomb made of repeated bytes.
MAX_RATIO = 100
#: Below this many decompressed bytes the ratio is not checked (tiny files compress well).
_RATIO_FLOOR = 1024 * 1024


def is_own_bundle(path: Path) -> bool:
    """Whether ``path`` is a zip that ``kernel-actions package`` wrote (it carries the manifest).

    Such archives are never app code: packaging leaves them out and reload ignores them.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return MANIFEST_NAME in zf.NameToInfo
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


class UnsafeBundleError(ValueError):
    """The archive can't be extracted safely; the message says why."""


def _open(source: bytes | Path | str) -> zipfile.ZipFile:
    try:
        if isinstance(source, bytes | bytearray):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeBundleError(f"not a zip archive ({exc})") from None


def _safe_name(name: str) -> PurePosixPath:
    if "\\" in name or "\0" in name:
        raise UnsafeBundleError(f"member {name!r} has a backslash or NUL in its path")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and len(path.parts[0]) == 2 and path.parts[0][1] == ":"):
        raise UnsafeBundleError(f"member {name!r} has an absolute path")
    if ".." in path.parts:
        raise UnsafeBundleError(f"member {name!r} escapes the target folder")
    return path


def _check_members(
    archive: zipfile.ZipFile, size: int | None, max_files: int, max_total_bytes: int,
    max_ratio: int,
) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    files = [m for m in members if not m.is_dir()]
    if len(files) > max_files:
        raise UnsafeBundleError(f"{len(files)} files: more than the limit of {max_files}")
    declared = sum(m.file_size for m in files)
    if declared > max_total_bytes:
        raise UnsafeBundleError(
            f"uncompressed size {declared} bytes is over the limit of {max_total_bytes}")
    for m in members:
        _safe_name(m.filename)
        mode = m.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeBundleError(f"member {m.filename!r} is a symlink")
        if m.compress_size and m.file_size / m.compress_size > max_ratio and (
                m.file_size > _RATIO_FLOOR):
            raise UnsafeBundleError(
                f"member {m.filename!r} expands {m.file_size // m.compress_size}x: "
                f"more than {max_ratio}x looks like a zip bomb")
    # Many small members, each under the floor, can amplify as much as one big one.
    compressed = size if size else sum(m.compress_size for m in files)
    if compressed and declared > _RATIO_FLOOR and declared / compressed > max_ratio:
        raise UnsafeBundleError(
            f"the archive expands {declared // compressed}x ({compressed} bytes to "
            f"{declared}): more than {max_ratio}x looks like a zip bomb")
    return files


def check_bundle(
    source: bytes | Path | str,
    *,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: int = MAX_RATIO,
) -> None:
    """Refuse (:class:`UnsafeBundleError`) what :func:`extract_bundle` would, from the
    archive's directory alone: nothing is decompressed or written."""
    size = len(source) if isinstance(source, bytes | bytearray) else None
    with _open(source) as archive:
        _check_members(archive, size, max_files, max_total_bytes, max_ratio)


def extract_bundle(
    source: bytes | Path | str,
    target_dir: Path,
    *,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: int = MAX_RATIO,
) -> list[str]:
    """Extract ``source`` (zip bytes or a path) into ``target_dir``, which must not exist.

    Returns the extracted files' relative paths. Raises :class:`UnsafeBundleError`.
    """
    target_dir = Path(target_dir)
    if target_dir.exists():
        raise UnsafeBundleError(f"target {target_dir} already exists")
    size = len(source) if isinstance(source, bytes | bytearray) else None
    with _open(source) as archive:
        files = _check_members(archive, size, max_files, max_total_bytes, max_ratio)
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", dir=target_dir.parent))
        written: list[str] = []
        total = 0
        try:
            for m in files:
                rel = _safe_name(m.filename)
                dest = tmp.joinpath(*rel.parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(m) as src, open(dest, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        total += len(chunk)
                        if total > max_total_bytes:
                            raise UnsafeBundleError(
                                f"more than {max_total_bytes} bytes once decompressed")
                        out.write(chunk)
                os.chmod(dest, 0o755 if (m.external_attr >> 16) & 0o111 else 0o644)
                written.append(rel.as_posix())
            os.replace(tmp, target_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return sorted(written)


def read_bundle_manifest(source: bytes | Path | str) -> dict[str, Any] | None:
    """The ``kernel-actions.json`` manifest a packaged bundle carries, if any."""
    with _open(source) as archive:
        try:
            with archive.open(MANIFEST_NAME) as f:
                data = json.loads(f.read(10 * 1024 * 1024))
        except KeyError:
            return None
        except ValueError as exc:
            raise UnsafeBundleError(f"{MANIFEST_NAME} is not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else None
