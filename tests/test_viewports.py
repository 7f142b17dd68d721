"""Viewports: Kernel's presets and any size within the largest of them are accepted, larger
ones are a 400 that names the limits; a screenshot is encoded holding one frame."""

from __future__ import annotations

import struct
import sys
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from kernel import BadRequestError

from kernel_actions.runner.browsers.png_frames import bgra_to_png, frame_digest
from kernel_actions.runner.browsers.viewports import (
    GPU_RESOLUTIONS,
    MAX_PIXELS,
    MAX_SIDE,
    PRESETS,
    check_viewport,
)
from kernel_actions.runner.errors import ApiError

from .conftest import CHROMIUM
from .helpers import RunnerProcess, sdk_client


def test_every_documented_preset_and_anything_within_them_is_accepted() -> None:
    for width, height, rate in PRESETS:
        assert check_viewport({"width": width, "height": height, "refresh_rate": rate}) == {
            "width": width, "height": height, "refresh_rate": rate}
    for width, height in GPU_RESOLUTIONS:
        assert check_viewport({"width": width, "height": height})["width"] == width
    assert check_viewport({"width": 1440, "height": 2560})["height"] == 2560  # portrait
    assert check_viewport({"width": 1, "height": 1}) == {"width": 1, "height": 1}
    assert (MAX_SIDE, MAX_PIXELS) == (2560, 2560 * 1440)


@pytest.mark.parametrize(("viewport", "names"), [
    ({"width": 16384, "height": 16384}, "viewport.width"),
    ({"width": 2561, "height": 100}, "viewport.width"),
    ({"width": 100, "height": 2561}, "viewport.height"),
    ({"width": 2560, "height": 1600}, "2560x1600"),
    ({"width": 0, "height": 10}, "viewport.width"),
    ({"width": "800", "height": 600}, "viewport.width"),
    ({"width": 800, "height": 600, "refresh_rate": 0}, "viewport.refresh_rate"),
])
def test_other_sizes_are_refused_naming_the_limits(viewport: dict, names: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_viewport(viewport)
    assert caught.value.status == 400
    message = caught.value.body()["message"]
    assert names in message, message
    if "refresh_rate" not in names:
        assert "2560x1440@10" in message and "1920x1080@25" in message, message


def test_the_sdk_gets_a_400_for_a_huge_viewport(start_runner: Callable[..., RunnerProcess]
                                                ) -> None:
    runner = start_runner(None, command="serve")
    with pytest.raises(BadRequestError) as caught:
        sdk_client(runner).browsers.create(viewport={"width": 16384, "height": 16384})
    assert "2560" in str(caught.value.body), caught.value.body


def _pixels(png: bytes) -> tuple[int, int, bytes]:
    width, height = struct.unpack(">II", png[16:24])
    data, at = b"", 8
    while at < len(png):
        (size,) = struct.unpack(">I", png[at:at + 4])
        if png[at + 4:at + 8] == b"IDAT":
            data += png[at + 8:at + 8 + size]
        at += 12 + size
    return width, height, zlib.decompress(data)


def test_a_frame_is_encoded_row_by_row_into_the_same_png_pixels() -> None:
    width, height = 7, 3
    raw = bytes(range(256)) * 1  # 64 BGRA pixels, more than 7x3 need
    raw = (raw * 2)[:width * height * 4]
    w, h, rows = _pixels(bgra_to_png(raw, width, height))
    assert (w, h) == (width, height)
    for y in range(height):
        row = rows[y * (1 + width * 3):(y + 1) * (1 + width * 3)]
        assert row[0] == 0
        for x in range(width):
            b, g, r, _ = raw[(y * width + x) * 4:(y * width + x) * 4 + 4]
            assert row[1 + x * 3:4 + x * 3] == bytes((r, g, b))
    assert frame_digest(raw) == frame_digest(bytearray(raw))
    assert frame_digest(raw) != frame_digest(raw[:-1] + b"\x01")


def test_encoding_holds_no_copy_of_the_frame() -> None:
    width, height = 1920, 1080
    frame = bytearray(b"\x20\x40\x60\xff") * (width * height)  # an even screen
    tracemalloc.start()
    try:
        png = bgra_to_png(frame, width, height)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _pixels(png)[:2] == (width, height)
    # Converting the frame to RGB first (as before) alone took three quarters of it.
    assert peak < len(frame) // 20, peak


@pytest.mark.skipif(CHROMIUM is None or not sys.platform.startswith("linux"),
                    reason="no Chromium or Chrome on this machine")
def test_the_largest_preset_makes_a_browser_and_its_screenshot(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    client = sdk_client(runner)
    browser = client.browsers.create(viewport={"width": 2560, "height": 1440,
                                               "refresh_rate": 10}, headless=False)
    try:
        assert (browser.viewport.width, browser.viewport.height) == (2560, 1440)
        shot = client.browsers.computer.capture_screenshot(browser.session_id).read()
        assert struct.unpack(">II", shot[16:24]) == (2560, 1440)
    finally:
        client.browsers.delete_by_id(browser.session_id)
