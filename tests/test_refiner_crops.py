"""The refiner's training crops (models/data/refiner_crops.py): deterministic, made with
lineinspect.crops, one target per defect instance in the window, parts skipped."""

from __future__ import annotations

import numpy as np
import pytest

from lineinspect.crops import crop_image, crop_window
from models.data.refiner_crops import crops_of_frame, jitter_box, make_crops, target_mask


def test_same_seed_same_crops_and_another_seed_differs() -> None:
    a, b = make_crops(6, seed=5, size=64), make_crops(6, seed=5, size=64)
    c = make_crops(6, seed=6, size=64)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.masks, y.masks)
        assert np.array_equal(x.classes, y.classes) and x.window == y.window
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c, strict=True))


def _frame() -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    part = np.zeros((120, 160), bool)
    part[10:110, 10:150] = True
    dent = np.zeros_like(part)
    dent[40:60, 40:60] = True
    scratch = np.zeros_like(part)
    scratch[62:64, 30:70] = True  # close to the dent: inside its window
    far = np.zeros_like(part)
    far[100:105, 140:150] = True  # outside the dent's window
    return img, [(3, part), (2, dent), (0, scratch), (1, far)]


def test_one_sample_per_defect_with_the_other_defects_in_its_window() -> None:
    img, inst = _frame()
    samples = list(crops_of_frame(np.random.default_rng(1), img, inst, 64))
    assert [int(s.classes[0]) for s in samples] == [2, 0, 1]  # the part gives no sample
    dent = samples[0]
    assert list(dent.classes) == [2, 0]  # the scratch is in the dent's window, the far crack not
    for s, (_, mask) in zip(samples, inst[1:], strict=True):
        assert s.masks.shape[1:] == (64, 64) and all(m.any() for m in s.masks)
        assert np.array_equal(s.masks[0], target_mask(mask, s.window, 64))
        assert s.window == crop_window(s.box)  # the edge's default pad and min side
        assert np.array_equal(s.image, crop_image(img, s.window, 64))


def test_sub_pixel_scratch_keeps_its_centre_line() -> None:
    mask = np.zeros((400, 400), bool)
    mask[200, 20:380] = True  # 1 px wide, 360 long: 0.12 crop px wide at 64
    win = crop_window((20, 200, 380, 201))
    t = target_mask(mask, win, 64)
    assert t.any() and t.sum() < 64 * 3


@pytest.mark.parametrize("box", [(10.0, 10.0, 50.0, 20.0), (0.0, 0.0, 3.0, 200.0)])
def test_jitter_moves_each_edge_a_little_and_never_collapses(box) -> None:
    rng = np.random.default_rng(2)
    w, h = box[2] - box[0], box[3] - box[1]
    for _ in range(200):
        x1, y1, x2, y2 = jitter_box(rng, box)
        assert x2 - x1 >= 1.0 - 1e-9 and y2 - y1 >= 1.0 - 1e-9
        assert abs(x1 - box[0]) <= max(0.15 * w, 1.0) + 1e-9
        assert abs(y2 - box[3]) <= max(0.15 * h, 1.0) + 1e-9


def test_crops_come_from_frames_of_each_width_asked_for() -> None:
    """Several widths: the refiner meets defects at the pixel scales of several cameras."""
    crops = make_crops(30, seed=5, size=64, keep_frame_mask=True, widths=(416, 640))
    widths = {c.frame_mask.shape[1] for c in crops if c.frame_mask is not None}
    assert widths == {416, 640}
    default = make_crops(6, seed=5, size=64, keep_frame_mask=True)
    assert {c.frame_mask.shape[1] for c in default if c.frame_mask is not None} == {416}
