"""The body of the refined-mask browser check, run as ``python -m tests._viewer_mask_session
OUT_DIR`` inside a loopback-only network namespace (tests/_netns.py).

The edge's own frame hook (``edge.services._hub_hook``) with a ``TrackMasks`` board, filled the
way the refiner thread fills it, feeds the real stream; Debian's Chromium plays it through the
viewer page, and a screenshot of the video goes to ``OUT_DIR/video.png`` for the pytest side.
Two tracked boxes are shown; only track 5 has a refined mask (a disc), track 6 has none.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.api.settings import ApiSettings
from edge.detect.types import Detections
from edge.services import _hub_hook
from edge.sources.frame import Frame
from edge.stream.masks import TrackMasks
from lineinspect.crops import Pasted
from tests._edge_app import build_app, loopback_stream, running
from tests._viewer_session import CHROMIUM, CHROMIUM_ARGS, FRAMES_DECODED, _wait, write_result

W, H = 640, 480
GREY = 90
MASK_BOX = (180.0, 140.0, 300.0, 260.0)  # track 5: disc of radius 50 inside it
PLAIN_BOX = (400.0, 140.0, 520.0, 260.0)  # track 6: no mask


def disc_mask() -> Pasted:
    yy, xx = np.mgrid[:120, :120]
    return Pasted(180, 140, (xx - 59.5) ** 2 + (yy - 59.5) ** 2 <= 50**2)


def observe(out: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    parts = build_app(None, cameras=("cam1",), stream=True, api=ApiSettings(),
                      stream_settings=loopback_stream(fps=10.0))
    masks = TrackMasks()
    masks.put(5, disc_mask(), MASK_BOX)  # as the refine worker does after a refinement
    hook = _hub_hook(parts.deps.hub, "cam1", ("scratch", "crack", "dent"), 0.25, masks)
    det = Detections(np.array([MASK_BOX, PLAIN_BOX], np.float32),
                     np.array([0.9, 0.9], np.float32), np.array([2, 2], np.int32))
    tracks = np.array([5, 6], np.int64)
    stop = threading.Event()

    def feed() -> None:
        seq = 0
        while not stop.wait(0.1):
            hook(Frame(np.full((H, W, 3), GREY, np.uint8), seq, time.time_ns(),
                       time.monotonic_ns()), det, tracks)
            seq += 1

    feeder = threading.Thread(target=feed, daemon=True)
    result: dict[str, Any] = {}
    with running(parts) as server, sync_playwright() as pw, \
            tempfile.TemporaryDirectory() as profile:
        feeder.start()
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            permissions=["camera", "microphone"], viewport={"width": 1280, "height": 1000})
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/?camera=cam1")
            result["first_decoded"] = _wait(page, FRAMES_DECODED, 90)
            time.sleep(3.0)  # a few seconds of video: past the first, blurry key frames
            result["video_size"] = page.evaluate(
                "[document.querySelector('#video').videoWidth, "
                "document.querySelector('#video').videoHeight]")
            page.locator("#video").screenshot(path=str(out / "video.png"))
        finally:
            browser.close()
            stop.set()
    return result


def main() -> int:
    out = Path(sys.argv[1])
    return write_result(out, lambda: observe(out))


if __name__ == "__main__":
    sys.exit(main())
