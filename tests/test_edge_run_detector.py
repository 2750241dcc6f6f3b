"""How `edge run` sets up its detector and what the viewer is shown of its detections: the
tracker's low-confidence band reaches the tracker, and only tracked or confident boxes reach
a person."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.detect.types import Detections
from edge.run import pipeline_detector_settings
from edge.services import _hub_hook
from edge.settings import EdgeSettings
from edge.sources.frame import Frame
from edge.stream.hub import FrameHub

CAM = {"id": "cam1", "source": {"kind": "synthetic"}}


def settings(conf: float, low: float, camera_low: float | None = None) -> EdgeSettings:
    cams: list[dict[str, Any]] = [CAM]
    if camera_low is not None:
        cams = [CAM, {**CAM, "id": "cam2", "tracking": {"low_confidence": camera_low}}]
    return EdgeSettings(site="p", line="l", station="s", cameras=cams,
                        detector={"conf_threshold": conf}, tracking={"low_confidence": low})


@pytest.mark.parametrize(("conf", "low", "camera_low", "floor"), [
    (0.25, 0.10, None, 0.10),  # defaults: the tracker's band is reported
    (0.05, 0.10, None, 0.05),  # a lower detector floor stays
    (0.25, 0.10, 0.02, 0.02),  # one camera's own tracking section asks for less
    (0.25, 0.30, None, 0.25),
])  # fmt: skip
def test_pipeline_detector_reports_down_to_the_tracker_band(
        conf: float, low: float, camera_low: float | None, floor: float) -> None:
    s = settings(conf, low, camera_low)
    got = pipeline_detector_settings(s)
    assert got.conf_threshold == pytest.approx(floor)
    assert s.detector.conf_threshold == conf  # the uploads' detector keeps the user's threshold
    assert got.model_dump(exclude={"conf_threshold"}) == s.detector.model_dump(
        exclude={"conf_threshold"})


def test_viewer_sees_tracked_and_confident_boxes_only() -> None:
    hub = FrameHub(["cam1"])
    hook = _hub_hook(hub, "cam1", ("scratch", "crack", "dent"), min_score=0.25)
    det = Detections(
        xyxy=np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70]],
                      np.float32),
        score=np.array([0.9, 0.2, 0.15, 0.3], np.float32),
        class_id=np.array([0, 1, 2, 0], np.int32))
    tracks = np.array([3, 4, -1, -1], np.int64)
    img = np.zeros((80, 80, 3), np.uint8)
    hook(Frame(img, 7, 1, 1), det, tracks)
    item = hub.latest("cam1")
    assert item is not None
    # kept: tracked+confident, tracked+faint, untracked+confident; dropped: untracked+faint
    assert item.overlay.score.tolist() == pytest.approx([0.9, 0.2, 0.3])
    assert item.overlay.track_id.tolist() == [3, 4, -1]
    assert item.overlay.xyxy[:, 0].tolist() == [0, 20, 60]
    assert item.overlay.class_id.tolist() == [0, 1, 0]
