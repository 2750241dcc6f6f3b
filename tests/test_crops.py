"""The refiner's crop geometry: windows, crops and the way back (lineinspect/crops.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lineinspect.crops import crop_image, crop_mask, crop_window, paste_mask


@pytest.mark.parametrize(("box", "pad", "min_side", "want"), [
    ((10, 20, 30, 60), 0.25, 24, (-10.0, 10.0, 60.0)),      # tall box: side 40 * 1.5, centred
    ((100, 100, 104, 102), 0.25, 24, (90.0, 89.0, 24.0)),  # tiny pit: the minimum side
    ((0, 0, 200, 10), 0.0, 24, (0.0, -95.0, 200.0)),       # thin scratch: square, not stretched
])
def test_window_is_a_square_centred_on_the_box(box, pad, min_side, want) -> None:
    assert tuple(crop_window(box, pad, min_side)) == pytest.approx(want)


@pytest.mark.parametrize("box", [(5, 5, 5, 9), (5, 9, 8, 2)])
def test_empty_box_is_refused(box) -> None:
    with pytest.raises(ValueError, match="empty"):
        crop_window(box)


def test_crop_then_paste_gives_back_the_mask_in_frame_pixels() -> None:
    h, w = 240, 320
    truth = np.zeros((h, w), dtype=bool)
    truth[100:104, 40:200] = True  # a 4 px wide scratch, 160 px long
    win = crop_window((40, 100, 200, 104))
    back = paste_mask(crop_mask(truth, win, 128), win, w, h).full(w, h)
    inter = (back & truth).sum()
    assert inter / (back | truth).sum() > 0.8


def test_window_past_the_frame_is_black_outside_and_paste_is_clipped() -> None:
    img = np.full((50, 60, 3), 200, dtype=np.uint8)
    win = crop_window((0, 0, 20, 20), pad=0.5)  # reaches 10 px past the top-left corner
    crop = crop_image(img, win, 40)
    assert crop.shape == (40, 40, 3)
    assert crop[0, 0].tolist() == [0, 0, 0] and crop[39, 39].tolist() == [200, 200, 200]
    pasted = paste_mask(np.ones((40, 40), dtype=bool), win, 60, 50)
    assert (pasted.x0, pasted.y0) == (0, 0) and pasted.mask.shape == (30, 30)


def test_crop_fills_a_given_buffer() -> None:
    img = np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8)
    buf = np.empty((32, 32, 3), dtype=np.uint8)
    out = crop_image(img, crop_window((20, 20, 40, 40)), 32, out=buf)
    assert out is buf or np.shares_memory(out, buf)
    with pytest.raises(ValueError, match="shape"):
        crop_image(img, crop_window((20, 20, 40, 40)), 32, out=np.empty((16, 16, 3), np.uint8))
