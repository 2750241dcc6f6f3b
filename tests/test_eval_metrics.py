"""mAP maths: table-driven cases with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.eval.metrics import (
    IOU_THRESHOLDS,
    MetricAccumulator,
    average_precision,
    box_iou,
    match_predictions,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 10, 20, 20], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
    ],
)
def test_box_iou(a: list[float], b: list[float], expected: float) -> None:
    got = box_iou(np.array([a], float), np.array([b], float))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected, abs=1e-6)


def test_match_is_one_to_one_and_class_aware() -> None:
    gt_cls = np.array([0, 1])
    pred_cls = np.array([0, 0, 1])
    # Two class-0 predictions on the same class-0 truth: only the better one matches.
    iou = np.array([[0.9, 0.8, 0.9], [0.0, 0.0, 0.6]])
    correct = match_predictions(pred_cls, gt_cls, iou)
    assert correct[:, 0].tolist() == [True, False, True]
    # At IoU >= 0.65 the class-1 prediction (IoU 0.6) is no longer a hit.
    j = int(np.searchsorted(IOU_THRESHOLDS, 0.65))
    assert correct[:, j].tolist() == [True, False, False]


def test_wrong_class_never_matches() -> None:
    correct = match_predictions(np.array([1]), np.array([0]), np.array([[1.0]]))
    assert not correct.any()


@pytest.mark.parametrize(
    ("recall", "precision", "expected"),
    [
        ([1.0], [1.0], 1.0),  # perfect
        # As in ultralytics (and so comparable with its figures): the curve is closed with a
        # straight line from the last point to (recall 1, precision 0).
        ([0.5], [1.0], 0.75),
        ([0.5, 0.5], [1.0, 0.5], 0.625),  # a trailing false positive lowers the tail only
        ([0.25, 0.5, 0.75, 1.0], [1.0, 1.0, 1.0, 1.0], 1.0),
    ],
)
def test_average_precision(recall: list[float], precision: list[float], expected: float) -> None:
    assert average_precision(np.array(recall), np.array(precision)) == pytest.approx(
        expected, abs=0.011
    )


def test_accumulator_perfect_and_partial() -> None:
    acc = MetricAccumulator(["a", "b"])
    gt = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], float)
    acc.add(gt, np.array([0.9, 0.8]), np.array([0, 1]), gt, np.array([0, 1]))
    m = acc.compute()
    assert m.map50 == pytest.approx(1.0, abs=0.011)
    assert m.map50_95 == pytest.approx(1.0, abs=0.011)
    # Second image: class b missed entirely, one confident false positive of class a.
    acc.add(np.array([[50, 50, 60, 60]], float), np.array([0.95]), np.array([0]),
            np.array([[0, 0, 10, 10], [20, 20, 40, 40]], float), np.array([0, 1]))
    m2 = acc.compute()
    assert m2.map50 < 0.9
    assert m2.per_class["b"]["recall"] == pytest.approx(0.5, abs=0.01)
    assert m2.per_class["a"]["instances"] == 2


def test_no_predictions_gives_zero() -> None:
    acc = MetricAccumulator(["a"])
    acc.add(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), np.array([[0, 0, 5, 5]], float),
            np.array([0]))
    assert acc.compute().map50 == 0.0
