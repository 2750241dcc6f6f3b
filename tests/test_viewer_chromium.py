"""The viewer page in a real browser: Debian's Chromium, headless, driven by Playwright, against
the edge serving the synthetic conveyor through the shipped detector (tests/_viewer_session.py),
all inside a loopback-only network namespace so nothing leaves the machine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.stream.annotate import PALETTE
from tests._edge_app import colour_pixels
from tests._netns import netns_available, run_module_in_netns


def _palette_pixels(image: np.ndarray) -> int:
    return sum(colour_pixels(image, colour, tol=70) for colour in PALETTE)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    why = netns_available()
    assert why is None, f"loopback-only network namespaces are needed: {why}"
    out = tmp_path_factory.mktemp("viewer")
    log = out / "session.log"
    proc = run_module_in_netns("tests._viewer_session", [str(out)], timeout=600, log=log)
    result_file = out / "result.json"
    assert result_file.is_file(), f"no result (exit {proc.returncode}):\n{log.read_text()[-4000:]}"
    result = json.loads(result_file.read_text())
    assert "error" not in result, result.get("error", "") + log.read_text()[-3000:]
    return result, out


@pytest.mark.slow
def test_the_browser_runs_with_loopback_only(session: tuple[dict[str, Any], Path]) -> None:
    result, _ = session
    assert result["interfaces"] == ["lo"]


@pytest.mark.slow
def test_the_video_decodes_frames_continuously(session: tuple[dict[str, Any], Path]) -> None:
    result, _ = session
    assert result["codec"] == "h264" and result["viewers_server"] == 1
    samples = result["frames_decoded"]
    counts = [n for _, n in samples]
    assert counts == sorted(counts), samples
    span = samples[-1][0] - samples[0][0]
    rate = (counts[-1] - counts[0]) / span
    # The stream is set to 10 fps; the stand-in pipeline on a busy 2-core box may give fewer
    # new frames than that, but the video must keep moving.
    assert rate >= 3.0, f"framesDecoded rose by only {rate:.1f}/s: {samples}"


@pytest.mark.slow
def test_the_video_shows_the_detections_boxes(session: tuple[dict[str, Any], Path]) -> None:
    _, out = session
    shot = cv2.imread(str(out / "video.png"))
    assert shot is not None and shot.shape[0] > 100
    # Every frame of the clip has at least one detection, drawn in a palette colour (the
    # conveyor itself is grey/blue, with no such saturated colours).
    assert _palette_pixels(shot) > 200, "no boxes visible in the video screenshot"


@pytest.mark.slow
def test_the_defect_list_and_alarm_fill_from_live_events(
        session: tuple[dict[str, Any], Path]) -> None:
    result, _ = session
    assert result["standin"]["events"] > 0
    assert result["events_listed"] >= 1
    assert all(re.match(r"(NEW|UPDATE|END)\n(scratch|crack|dent) \d+% #\d+", t)
               for t in result["event_texts"]), result["event_texts"]
    assert result["alarm"].startswith("ALARM")
    assert float(result["pipe_fps"]) > 0
    # Handing frames to the stream costs the pipeline next to nothing (a reference swap; the
    # median, because single calls on a loaded box measure the OS scheduler and the GIL).
    assert result["standin"]["median_publish_s"] < 0.001, result["standin"]


@pytest.mark.slow
def test_an_uploaded_image_comes_back_annotated(session: tuple[dict[str, Any], Path]) -> None:
    result, out = session
    answer = json.loads(result["upload_json"])
    assert answer["file"] == "upload.png" and answer["detections"]
    annotated = cv2.imread(str(out / "upload_result.jpg"))
    original = cv2.imread(str(out / "upload.png"))
    assert annotated is not None and original is not None
    assert annotated.shape == original.shape
    assert _palette_pixels(annotated) > 200 and _palette_pixels(original) < 20
    assert not any("error" in line.lower() for line in result["console"]), result["console"]
