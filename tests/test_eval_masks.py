"""Mask metrics of the refiner evaluation (models/eval/masks.py) on hand-made masks."""

from __future__ import annotations

import numpy as np
import pytest

from models.eval.masks import (
    Score,
    area_error,
    box_as_mask,
    mask_iou,
    resolution_ceiling,
    summarise,
)


def _m(*rects: tuple[int, int, int, int]) -> np.ndarray:
    out = np.zeros((10, 10), bool)
    for x1, y1, x2, y2 in rects:
        out[y1:y2, x1:x2] = True
    return out


@pytest.mark.parametrize(("pred", "truth", "want"), [
    (_m((0, 0, 4, 4)), _m((0, 0, 4, 4)), 1.0),
    (_m((0, 0, 4, 4)), _m((2, 0, 6, 4)), 8 / 24),
    (_m((0, 0, 2, 2)), _m((5, 5, 7, 7)), 0.0),
    (_m(), _m(), 1.0),
    (_m(), _m((0, 0, 1, 1)), 0.0),
])
def test_mask_iou(pred, truth, want) -> None:
    assert mask_iou(pred, truth) == pytest.approx(want)


@pytest.mark.parametrize(("pred", "truth", "want"), [
    (100, 100, 0.0), (115, 100, 0.15), (85, 100, 0.15), (0, 40, 1.0), (300, 100, 2.0)])
def test_area_error(pred, truth, want) -> None:
    assert area_error(pred, truth) == pytest.approx(want)


def test_area_error_needs_a_truth() -> None:
    with pytest.raises(ValueError):
        area_error(3, 0)


@pytest.mark.parametrize(("box", "area"), [
    ((0.0, 0.0, 4.0, 3.0), 12), ((0.4, 0.4, 2.6, 1.6), 3 * 2), ((8.0, 8.0, 20.0, 20.0), 4)])
def test_box_as_mask_counts_pixel_centres(box, area) -> None:
    assert int(box_as_mask(box, 10, 10).sum()) == area


def test_summarise_means_and_medians_per_class() -> None:
    rows = [Score(0, 0.9, 0.1, 0.5, 1.0, True, True), Score(0, 0.7, 0.3, 0.3, 3.0, True, False),
            Score(2, 0.5, 0.2, 0.6, 0.5, False, False)]
    got = summarise(rows)
    assert got["scratch"]["mask_iou_mean"] == pytest.approx(0.8)
    assert got["scratch"]["area_err_median"] == pytest.approx(0.2)
    assert got["scratch"]["box_area_err_median"] == pytest.approx(2.0)
    assert got["all"]["n"] == 3 and got["crack"] == {"n": 0}
    assert got["dent"]["refined_share"] == 0.0


def test_resolution_ceiling_is_near_perfect_for_a_fine_grid() -> None:
    got = resolution_ceiling([128], count=8, seed=5)
    assert got["128"] and all(0.7 < v <= 1.0 for v in got["128"].values())


@pytest.mark.parametrize("width", [416, 640])
def test_held_out_cases_are_cut_from_frames_of_the_asked_width(width: int, tmp_path) -> None:
    from models.eval.masks import MaskEvalConfig, jittered_cases

    cfg = MaskEvalConfig(model=tmp_path / "unused.onnx", count=5, frame_width=width)
    cases = list(jittered_cases(cfg, pad=0.25, min_side=24.0))
    assert len(cases) == 5
    for case in cases:
        assert case.image.shape[1] == width and case.truth.shape == case.image.shape[:2]
        assert 0 <= case.class_id < 3 and case.truth.any()
