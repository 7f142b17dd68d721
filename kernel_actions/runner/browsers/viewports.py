"""The viewport sizes a local browser takes: Kernel's documented presets, and any size
within the largest of them.

Kernel's API documents its known-good presets (``BrowserViewport`` in the official SDK:
``2560x1440@10``, ``1920x1080@25``, ... ``390x844@60``, and for GPU images resolutions
from ``360x250`` to ``1920x1200`` and ``800x1600``) and warns that other sizes "may
exhibit unstable live view or recording behavior". Here a browser's screen is an Xvfb
framebuffer on the developer's machine, and a screenshot or a replay frame is as large as
the screen: a 16384×16384 viewport is a 1 GiB framebuffer, and one screenshot of it took
the runner past 4 GB. So a viewport is accepted when each side is at most the largest
preset's (:data:`MAX_SIDE`) and its area at most the largest preset's
(:data:`MAX_PIXELS`, 2560×1440): every preset, portrait or landscape, and anything
smaller. Anything else is a 400 that names these limits and the presets.
"""

from __future__ import annotations

from typing import Any

from ..errors import bad_request

__all__ = ["GPU_RESOLUTIONS", "MAX_PIXELS", "MAX_REFRESH_RATE", "MAX_SIDE", "PRESETS",
           "check_viewport"]

#: Kernel's known-good presets (width, height, refresh rate).
PRESETS = ((2560, 1440, 10), (1920, 1080, 25), (1920, 1200, 25), (1440, 900, 25),
           (1280, 800, 60), (1024, 768, 60), (1200, 800, 60), (768, 1024, 60), (390, 844, 60))
#: Kernel's recommended resolutions for GPU images (with 60, 30, 25 or 10 Hz).
GPU_RESOLUTIONS = ((800, 600), (960, 720), (1024, 576), (1024, 768), (1152, 648),
                   (1200, 800), (1280, 720), (1368, 768), (1440, 900), (1600, 900),
                   (1920, 1080), (1920, 1200), (390, 844), (360, 250), (768, 1024),
                   (800, 1600))
#: The longest side of any preset.
MAX_SIDE = max(max(w, h) for w, h, _ in PRESETS)
#: The area of the largest preset (2560×1440).
MAX_PIXELS = max(w * h for w, h, _ in PRESETS)
MAX_REFRESH_RATE = 1000


def _limits() -> str:
    presets = ", ".join(f"{w}x{h}@{r}" for w, h, r in PRESETS)
    gpu = ", ".join(f"{w}x{h}" for w, h in GPU_RESOLUTIONS)
    return (f"width and height must each be between 1 and {MAX_SIDE}, and width × height at "
            f"most {MAX_PIXELS:,} pixels (2560x1440): Kernel's presets ({presets}; for GPU "
            f"images {gpu}) and any size within the largest of them")


def _side(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer; {_limits()}")
    if not 1 <= value <= MAX_SIDE:
        raise bad_request(f"'{name}' is {value}: {_limits()}")
    return value


def check_viewport(raw: Any) -> dict[str, int]:
    """A viewport from a request body, checked: ``{"width", "height"[, "refresh_rate"]}``."""
    if not isinstance(raw, dict):
        raise bad_request("'viewport' must be an object with 'width' and 'height'")
    width = _side(raw.get("width"), "viewport.width")
    height = _side(raw.get("height"), "viewport.height")
    if width * height > MAX_PIXELS:
        raise bad_request(f"viewport {width}x{height} is {width * height:,} pixels: "
                          f"{_limits()}")
    viewport = {"width": width, "height": height}
    rate = raw.get("refresh_rate")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int) or not (
                1 <= rate <= MAX_REFRESH_RATE):
            raise bad_request(f"'viewport.refresh_rate' must be an integer between 1 and "
                              f"{MAX_REFRESH_RATE}, got {rate!r}")
        viewport["refresh_rate"] = rate
    return viewport
