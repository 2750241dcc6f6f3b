"""The body of the browser test, run as ``python -m tests._viewer_session OUT_DIR`` inside a
loopback-only network namespace (tests/_netns.py), so the browser and the edge can reach each
other and nothing else.

It starts the edge app (stream + API) fed by the stand-in pipeline on the synthetic conveyor with
the shipped detector, drives Debian's Chromium with Playwright to the viewer page, and writes
what it observed to ``OUT_DIR/result.json`` plus screenshots; the pytest side asserts on them.
"""

from __future__ import annotations

import base64
import json
import socket
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from edge.api.settings import ApiSettings
from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from tests._edge_app import build_app, loopback_stream, running
from tests._models import shipped_detector
from tests._standin_pipeline import StandInPipeline, render_clip

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # Chromium only gathers ICE candidates on every interface (loopback included) for pages
    # allowed to use media devices; fake devices and auto-accepted prompts grant that.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
STREAM_FPS = 10.0
CAMERA_FPS = 10.0


def _detector(path: Path) -> Detector:
    det = Detector(DetectorSettings(model=path, providers=["cpu"], intra_op_threads=1))
    det.warmup()
    return det


def _wait(page: Any, js: str, timeout_s: float, poll_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(js)
        if value:
            return value
        time.sleep(poll_s)
    return value


FRAMES_DECODED = """async () => { const s = await window.lineinspect.inboundVideo();
                   return s ? (s.framesDecoded || 0) : 0; }"""


def observe(out: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    # The namespace's own interfaces (/sys/class/net would show the host's).
    result: dict[str, Any] = {"interfaces": sorted(name for _, name in socket.if_nameindex())}
    model = shipped_detector()
    pipeline_detector, api_detector = _detector(model), _detector(model)
    # A stretch of conveyor where the shipped model finds defects, replayed in a loop.
    clip = render_clip(seed=3, start=80, count=40)
    counts = [len(api_detector.detect(f)) for f in clip]
    best = max(range(len(clip)), key=counts.__getitem__)
    upload = out / "upload.png"
    cv2.imwrite(str(upload), clip[best])
    result["clip_detections"] = counts

    parts = build_app(api_detector, cameras=("cam1",), stream=True,
                      api=ApiSettings(), stream_settings=loopback_stream(fps=STREAM_FPS))
    pipeline = StandInPipeline("cam1", clip, CAMERA_FPS, pipeline_detector, parts.deps.hub,
                               parts.deps.feed)
    with running(parts) as server, sync_playwright() as pw, \
            tempfile.TemporaryDirectory() as profile:
        pipeline.start()
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            permissions=["camera", "microphone"], viewport={"width": 1280, "height": 1000})
        try:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(f"{server.url}/?camera=cam1")
            result["first_decoded"] = _wait(page, FRAMES_DECODED, 90)
            t0 = time.monotonic()
            samples = []
            for _ in range(6):
                time.sleep(1.0)
                samples.append((round(time.monotonic() - t0, 2), page.evaluate(FRAMES_DECODED)))
            result["frames_decoded"] = samples
            result["events_listed"] = _wait(
                page, "document.querySelectorAll('#events li').length", 60)
            result["event_texts"] = page.evaluate(
                "Array.from(document.querySelectorAll('#events li')).slice(0, 5)"
                ".map(li => li.innerText)")
            result["alarm"] = page.inner_text("#alarm")
            result["pipe_fps"] = page.inner_text("#pipe-fps")
            result["codec"] = page.inner_text("#codec")
            result["viewers_server"] = parts.deps.stream.viewer_count if parts.deps.stream else 0
            page.locator("#video").screenshot(path=str(out / "video.png"))
            page.screenshot(path=str(out / "page.png"), full_page=True)
            # Inspect an image through the page.
            page.set_input_files("#files", str(upload))
            page.click("#inspect-btn")
            page.wait_for_selector(".result.done img", timeout=90_000)
            result["upload_json"] = page.inner_text(".result pre")
            data_url = page.evaluate("""async () => {
                const img = document.querySelector('.result.done img');
                const blob = await (await fetch(img.src)).blob();
                return await new Promise(r => { const fr = new FileReader();
                  fr.onload = () => r(fr.result); fr.readAsDataURL(blob); }); }""")
            (out / "upload_result.jpg").write_bytes(base64.b64decode(data_url.split(",", 1)[1]))
            page.screenshot(path=str(out / "page_after_upload.png"), full_page=True)
            result["console"] = console[-20:]
        finally:
            browser.close()
            pipeline.stop()
    s = pipeline.stats
    result["standin"] = {"frames": s.frames, "events": s.events, "detections": s.detections,
                         "median_publish_s": statistics.median(s.publish_s or [0.0]),
                         "max_publish_s": max(s.publish_s or [0.0])}
    return result


def write_result(out: Path, observe: Callable[[], dict[str, Any]]) -> int:
    """Run a session's ``observe`` and write what it saw (or its traceback) to
    ``out/result.json``, which the pytest side reads; the exit code says which it was."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = observe()
    except Exception:
        result = {"error": traceback.format_exc()}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return 0 if "error" not in result else 1


def main() -> int:
    out = Path(sys.argv[1])
    return write_result(out, lambda: observe(out))


if __name__ == "__main__":
    sys.exit(main())
