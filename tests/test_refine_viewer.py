"""Refined masks on the live view: the drawing (translucent class-colour fill + outline, under
the boxes), the per-track board that moves a mask with its track, and one check in a real
browser (Debian's Chromium, headless, loopback-only namespace) that the played video shows the
fill where the refined track is and not on a track without a mask."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest

from edge.detect.types import Detections
from edge.services import _hub_hook
from edge.sources.frame import Frame
from edge.stream.annotate import MASK_ALPHA, class_colour, draw_overlay
from edge.stream.hub import FrameHub, Overlay
from edge.stream.masks import TrackMasks
from lineinspect.crops import Pasted
from tests._edge_app import colour_pixels
from tests._netns import netns_available, run_module_in_netns

GREY = 90


def blended(class_id: int, grey: int = GREY) -> tuple[int, int, int]:
    c = class_colour(class_id)
    return tuple(round(grey * (1 - MASK_ALPHA) + v * MASK_ALPHA) for v in c)  # type: ignore[return-value]


def overlay(masks: tuple[tuple[int, Pasted], ...]) -> Overlay:
    return Overlay(xyxy=np.array([[10, 10, 50, 50], [60, 10, 100, 50]], np.float32),
                   class_id=np.array([1, 2], np.int64), score=np.array([0.9, 0.8], np.float32),
                   track_id=np.array([3, 4], np.int64), class_names=("scratch", "crack", "dent"),
                   masks=masks)


def square(x0: int, y0: int, side: int) -> Pasted:
    return Pasted(x0, y0, np.ones((side, side), bool))


@pytest.mark.parametrize(("scale", "where"), [(1.0, (30, 30)), (0.5, (15, 15)), (2.0, (60, 60))])
def test_mask_is_filled_in_its_tracks_class_colour_and_outlined(
        scale: float, where: tuple[int, int]) -> None:
    canvas = np.full((round(120 * scale), round(120 * scale), 3), GREY, np.uint8)
    draw_overlay(canvas, overlay(((3, square(20, 20, 20)),)), scale, scale)
    x, y = where
    assert tuple(int(v) for v in canvas[y, x]) == pytest.approx(blended(1), abs=1)
    # the outline (class colour, full strength) runs along the mask's edge
    assert colour_pixels(canvas, class_colour(1), tol=5) > 0
    # track 4 has no mask: its box inside stays grey
    assert tuple(int(v) for v in canvas[round(30 * scale), round(80 * scale)]) == (GREY,) * 3


def test_masks_past_the_canvas_are_clipped() -> None:
    canvas = np.full((100, 100, 3), GREY, np.uint8)
    draw_overlay(canvas, overlay(((3, square(70, 70, 50)), (4, square(-30, -30, 10)))))
    assert tuple(int(v) for v in canvas[90, 90]) == pytest.approx(blended(1), abs=1)


def test_board_moves_a_mask_with_its_track_and_forgets_the_oldest() -> None:
    board = TrackMasks(capacity=2)
    board.put(3, square(20, 20, 10), (18.0, 18.0, 32.0, 32.0))
    # the part moved 15 px right and 5 down since the crop was cut
    (got,) = board.visible(np.array([3, 9]), np.array([[33, 23, 47, 37], [0, 0, 1, 1]], float))
    assert got[0] == 3 and (got[1].x0, got[1].y0) == (35, 25)
    board.put(4, square(0, 0, 2), (0, 0, 2, 2))
    board.put(5, square(0, 0, 2), (0, 0, 2, 2))
    assert len(board) == 2 and board.visible(np.array([3]), np.zeros((1, 4))) == ()


def test_hub_hook_hands_the_visible_tracks_masks_to_the_stream() -> None:
    hub = FrameHub(["cam1"])
    board = TrackMasks()
    board.put(4, square(20, 20, 10), (20.0, 20.0, 30.0, 30.0))
    hook = _hub_hook(hub, "cam1", ("scratch",), 0.25, board)
    det = Detections(np.array([[20, 20, 30, 30]], np.float32), np.array([0.9], np.float32),
                     np.array([0], np.int32))
    hook(Frame(np.zeros((64, 64, 3), np.uint8), 1, 1, 1), det, np.array([4]))
    item = hub.latest("cam1")
    assert item is not None and [t for t, _ in item.overlay.masks] == [4]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], np.ndarray]:
    why = netns_available()
    assert why is None, f"loopback-only network namespaces are needed: {why}"
    out = tmp_path_factory.mktemp("viewer-mask")
    log = out / "session.log"
    proc = run_module_in_netns("tests._viewer_mask_session", [str(out)], timeout=300, log=log)
    result_file = out / "result.json"
    assert result_file.is_file(), f"no result (exit {proc.returncode}):\n{log.read_text()[-4000:]}"
    result = json.loads(result_file.read_text())
    assert "error" not in result, result.get("error", "") + log.read_text()[-3000:]
    shot = cv2.imread(str(out / "video.png"))
    assert shot is not None
    return result, shot


@pytest.mark.slow
def test_chromium_plays_the_refined_mask_where_the_track_is(
        played: tuple[dict[str, Any], np.ndarray]) -> None:
    result, shot = played
    assert result["video_size"] == [640, 480]
    # The screenshot is the <video> element: map the frame's boxes into it (letterboxed).
    h, w = shot.shape[:2]
    s = min(w / 640, h / 480)
    ox, oy = (w - 640 * s) / 2, (h - 480 * s) / 2

    def region(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
        # the middle of a box: the mask's fill, clear of the box line and the label
        return shot[round(oy + (y1 + 30) * s):round(oy + (y2 - 30) * s),
                    round(ox + (x1 + 30) * s):round(ox + (x2 - 30) * s)]

    fill = blended(2)
    masked = region(180, 140, 300, 260)
    plain = region(400, 140, 520, 260)
    assert colour_pixels(masked, fill, tol=30) > 0.8 * masked.shape[0] * masked.shape[1]
    assert colour_pixels(plain, fill, tol=30) == 0
