"""Extracting an uploaded bundle: refusals and a clean round trip."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from kernel_actions.tooling.bundle import UnsafeBundleError, extract_bundle, read_bundle_manifest


def zip_of(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/evil", "C:/evil",
                                  "a\\..\\evil"])
def test_members_escaping_the_target_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeBundleError):
        extract_bundle(zip_of({"ok.py": b"", name: b"x"}), tmp_path / "t")
    assert not (tmp_path / "t").exists()
    assert list(tmp_path.iterdir()) == []


def test_symlinks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeBundleError, match="symlink"):
        extract_bundle(zip_of({"ok.py": b""}, symlink="link"), tmp_path / "t")


def test_too_many_files_and_bombs_are_refused(tmp_path: Path) -> None:
    many = zip_of({f"f{i}": b"" for i in range(20)})
    with pytest.raises(UnsafeBundleError, match="more than the limit of 10"):
        extract_bundle(many, tmp_path / "t", max_files=10)
    bomb = zip_of({"zeros": b"\0" * (20 * 1024 * 1024)})
    with pytest.raises(UnsafeBundleError, match="zip bomb"):
        extract_bundle(bomb, tmp_path / "t")
    with pytest.raises(UnsafeBundleError, match="over the limit"):
        extract_bundle(bomb, tmp_path / "t", max_total_bytes=1024 * 1024, max_ratio=10**9)
    assert not (tmp_path / "t").exists()


def test_limit_enforced_while_decompressing_not_trusting_headers(tmp_path: Path) -> None:
    data = bytearray(zip_of({"a": b"\0" * (4 * 1024 * 1024)}))
    # Lie about the uncompressed size in the central directory (4 MiB -> 16 bytes).
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (16).to_bytes(4, "little")
    with pytest.raises((UnsafeBundleError, zipfile.BadZipFile)):
        extract_bundle(bytes(data), tmp_path / "t", max_total_bytes=1024 * 1024, max_ratio=10**9)
    assert not (tmp_path / "t").exists()


def test_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(UnsafeBundleError, match="not a zip archive"):
        extract_bundle(b"hello", tmp_path / "t")


def test_round_trip_and_manifest(tmp_path: Path) -> None:
    data = zip_of({"main.py": b"print(1)\n", "pkg/mod.py": b"", "kernel-actions.json":
                   b'{"apps": [{"name": "x"}]}'})
    files = extract_bundle(data, tmp_path / "t")
    assert files == ["kernel-actions.json", "main.py", "pkg/mod.py"]
    assert (tmp_path / "t" / "pkg" / "mod.py").is_file()
    assert read_bundle_manifest(data) == {"apps": [{"name": "x"}]}
    assert read_bundle_manifest(zip_of({"a": b""})) is None


def test_many_small_members_amplifying_together_are_refused_without_extracting(
        tmp_path: Path) -> None:
    from kernel_actions.tooling.bundle import MAX_RATIO, check_bundle

    # Each member is under the 1 MB floor of the per-member check; together ~900x.
    bomb = zip_of({f"part{i}": b"\0" * (900 * 1024) for i in range(10)})
    with pytest.raises(UnsafeBundleError, match=r"the archive expands \d+x"):
        check_bundle(bomb)
    with pytest.raises(UnsafeBundleError, match="zip bomb"):
        extract_bundle(bomb, tmp_path / "t")
    assert not (tmp_path / "t").exists()
    # Ordinary source code is far below the limit.
    source = zip_of({f"mod{i}.py": (b"def f(x):\n    return x * %d\n" % i) * 200
                     for i in range(50)})
    check_bundle(source)
    assert MAX_RATIO <= 100
