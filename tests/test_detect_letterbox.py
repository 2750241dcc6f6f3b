"""Letterbox maths: geometry table, scale-back round trip, pixels equal to ultralytics'."""

from __future__ import annotations

import numpy as np
import pytest

from edge.detect.letterbox import (
    Geometry,
    Letterboxer,
    compute_geometry,
    letterbox_boxes,
    unletterbox_boxes,
)
from tests._models import offline_ultralytics

# (frame h, w) → (input h, w): expected (new_h, new_w, top, left), worked out by hand with
# ultralytics' rule: r = min(H/h, W/w); new = round(side * r); pad split round(d/2 - 0.1).
GEOMETRY_CASES = [
    ((320, 320), (320, 320), (320, 320, 0, 0)),        # identity
    ((640, 640), (320, 320), (320, 320, 0, 0)),        # pure downscale
    ((480, 640), (320, 320), (240, 320, 40, 0)),       # landscape 4:3
    ((1080, 1920), (320, 320), (180, 320, 70, 0)),     # landscape 16:9
    ((640, 480), (320, 320), (320, 240, 0, 40)),       # portrait
    ((100, 100), (320, 320), (320, 320, 0, 0)),        # upscale (scaleup=True)
    ((321, 320), (320, 320), (320, 319, 0, 0)),        # odd pad: 1 px goes right
    ((300, 401), (320, 320), (239, 320, 40, 0)),       # 81 px pad: 40 top, 41 bottom
    ((720, 1280), (384, 640), (360, 640, 12, 0)),      # rectangular input
    ((10, 1000), (320, 320), (3, 320, 158, 0)),        # extreme strip
    ((1, 5000), (320, 320), (1, 320, 159, 0)),         # at least one pixel
]


@pytest.mark.parametrize(("src", "dst", "expected"), GEOMETRY_CASES)
def test_geometry_table(src: tuple[int, int], dst: tuple[int, int],
                        expected: tuple[int, int, int, int]) -> None:
    g = compute_geometry(src, dst)
    assert (g.new_h, g.new_w, g.top, g.left) == expected
    assert g.top + g.new_h <= dst[0] and g.left + g.new_w <= dst[1]


def test_no_scaleup_keeps_small_frames_small() -> None:
    g = compute_geometry((100, 200), (320, 320), scaleup=False)
    assert (g.new_h, g.new_w, g.top, g.left) == (100, 200, 110, 60)


@pytest.mark.parametrize(("src", "dst", "_"), GEOMETRY_CASES)
def test_boxes_round_trip(src: tuple[int, int], dst: tuple[int, int], _: object) -> None:
    g = compute_geometry(src, dst)
    h, w = src
    boxes = np.array([[0, 0, w, h], [w * 0.1, h * 0.2, w * 0.5, h * 0.9],
                      [w * 0.25, h * 0.25, w * 0.75, h * 0.75]], np.float32)
    moved = boxes.copy()
    letterbox_boxes(moved, g)
    assert moved[:, 0::2].min() >= g.left - 1e-3 and moved[:, 0::2].max() <= g.left + g.new_w + 1e-3
    unletterbox_boxes(moved, g)
    np.testing.assert_allclose(moved, boxes, atol=1e-3 * max(h, w))


def test_scale_back_clips_to_the_frame() -> None:
    g = compute_geometry((480, 640), (320, 320))  # top pad 40
    boxes = np.array([[-10, 20, 330, 300]], np.float32)  # reaches into the padding
    unletterbox_boxes(boxes, g)
    np.testing.assert_allclose(boxes, [[0, 0, 640, 480]])


def test_scale_back_matches_a_worked_example() -> None:
    g = compute_geometry((480, 640), (320, 320))  # r = 0.5, top 40
    boxes = np.array([[50, 90, 100, 130]], np.float32)
    unletterbox_boxes(boxes, g)
    np.testing.assert_allclose(boxes, [[100, 100, 200, 180]])


@pytest.mark.parametrize("src", [(480, 640), (640, 480), (320, 320), (1080, 1920), (300, 401),
                                 (100, 150)])
def test_pixels_equal_ultralytics_letterbox(src: tuple[int, int]) -> None:
    """Same input tensor as ultralytics' predictor builds for a fixed-shape (ONNX) model."""
    offline_ultralytics()
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(src[0] * 7 + src[1])
    frame = rng.integers(0, 256, (*src, 3), np.uint8)
    theirs = np.asarray(LetterBox((320, 320), auto=False, stride=32)(image=frame))
    expected = np.ascontiguousarray(theirs[..., ::-1].transpose(2, 0, 1)).astype(np.float32) / 255
    buf = np.full((3, 320, 320), -1.0, np.float32)
    Letterboxer((320, 320))(frame, buf)
    np.testing.assert_array_equal(buf, expected)


def test_buffers_are_reused_and_padding_survives_frames() -> None:
    lb = Letterboxer((320, 320))
    buf = np.empty((3, 320, 320), np.float32)
    a = np.full((480, 640, 3), 255, np.uint8)
    g1 = lb(a, buf)
    resized = lb._resized[0]
    g2 = lb(np.zeros((480, 640, 3), np.uint8), buf)
    assert g1 is g2 and lb._resized[0] is resized  # same geometry object, same scratch buffer
    assert buf[:, :40].min() == buf[:, :40].max() == np.float32(114 / 255)
    assert buf[:, 40:280].max() == 0.0
    lb(np.zeros((320, 320, 3), np.uint8), buf)  # new frame size: padding area recomputed
    assert buf.max() == 0.0


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                 np.zeros((10, 10, 3), np.float32)])
def test_bad_frames_are_named(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 BGR"):
        Letterboxer((320, 320))(bad, np.empty((3, 320, 320), np.float32))


def test_geometry_rejects_empty_frames() -> None:
    with pytest.raises(ValueError, match="positive sizes"):
        compute_geometry((0, 10), (320, 320))


def test_geometry_gains_are_per_axis() -> None:
    g = Geometry(src_h=3, src_w=1000, dst_h=320, dst_w=320, new_h=1, new_w=320, top=159, left=0)
    assert g.gain_x == pytest.approx(0.32) and g.gain_y == pytest.approx(1 / 3)
