"""Body of the cross-origin WHEP test, run as ``python -m tests._whep_cross_origin_session OUT
WHEP_JS`` inside a loopback-only network namespace (tests/_netns.py).

The edge app (stream + API, bearer token, one allowed web origin) streams the synthetic conveyor
through the shipped detector (tests/_standin_pipeline.py). Two static page servers on other
loopback ports serve the same HMI page (tests/whep_client/index.html + whip-whep's whep.js):
the allowed origin, whose page must play the stream in headless Chromium, and a second one
that is not listed, whose page must be refused. Observations go to ``OUT/result.json``.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edge.api.server import free_port
from edge.api.settings import ApiSettings
from tests._edge_app import build_app, loopback_stream, running
from tests._models import shipped_detector
from tests._standin_pipeline import StandInPipeline, render_clip
from tests._viewer_session import CHROMIUM, CHROMIUM_ARGS, _detector, _wait, write_result

TOKEN = "hmi-t0ken"
PAGE = Path(__file__).resolve().parent / "whep_client" / "index.html"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server(root: Path) -> Iterator[str]:
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def _play(browser: Any, page_origin: str, whep_url: str, wait_s: float) -> dict[str, Any]:
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(f"{page_origin}/index.html?whep={quote(whep_url)}&token={TOKEN}")
    state = _wait(page, "window.result && window.result.state !== 'starting' && window.result",
                  30)  # fmt: skip
    frames = _wait(page, "window.framesDecoded().then(n => n >= 10 && n)", wait_s)
    shot = page.locator("#video").bounding_box()
    out = {"result": state, "frames_decoded": frames or 0, "video_box": shot,
           "console": console[-10:]}
    page.evaluate("window.stopViewing && window.stopViewing()")
    page.close()
    return out


def observe(out: Path, whep_js: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    site = out / "site"
    site.mkdir()
    shutil.copy(PAGE, site / "index.html")
    shutil.copy(whep_js, site / "whep.js")
    model = shipped_detector()
    detector = _detector(model)
    clip = render_clip(seed=3, start=80, count=40)
    result: dict[str, Any] = {}
    with page_server(site) as allowed, page_server(site) as stranger:
        api = ApiSettings(token=TOKEN, cors_origins=[allowed])
        parts = build_app(None, cameras=("cam1",), stream=True, api=api,
                          stream_settings=loopback_stream(fps=10.0))  # fmt: skip
        pipeline = StandInPipeline("cam1", clip, 10.0, detector, parts.deps.hub, parts.deps.feed)
        with running(parts) as server, sync_playwright() as pw, \
                tempfile.TemporaryDirectory() as profile:  # fmt: skip
            pipeline.start()
            browser = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                permissions=["camera", "microphone"])  # fmt: skip
            try:
                whep_url = f"{server.url}/whep/cam1"
                result["allowed"] = _play(browser, allowed, whep_url, 90)
                result["allowed"]["origin"] = allowed
                time.sleep(1.0)
                sessions_before = parts.deps.stream.viewer_count if parts.deps.stream else -1
                result["stranger"] = _play(browser, stranger, whep_url, 5)
                result["stranger"]["origin"] = stranger
                result["viewers_after_stranger"] = (
                    parts.deps.stream.viewer_count if parts.deps.stream else -1)
                result["viewers_before_stranger"] = sessions_before
            finally:
                browser.close()
                pipeline.stop()
    return result


def main() -> int:
    out, whep_js = Path(sys.argv[1]), Path(sys.argv[2])
    return write_result(out, lambda: observe(out, whep_js))


if __name__ == "__main__":
    sys.exit(main())
