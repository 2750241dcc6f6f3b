"""Pure numeric parts of the tracker: IoU, centre distance, motion, zones, assignment."""

from __future__ import annotations

import numpy as np
import pytest

from edge.track.assign import (
    CROSS_CLASS_PENALTY,
    INVALID,
    Gates,
    associate,
    cost_matrix,
    merge_across_classes,
    solve,
)
from edge.track.iou import (
    box_area,
    centre_distance_ratio,
    iou_matrix,
    pad_to_min_size,
    padded_iou,
    pair_geometry,
    size_ratio_matrix,
)
from edge.track.motion import (
    centre_outside,
    clip_boxes,
    ema,
    measured_velocities,
    predict_boxes,
)
from edge.track.settings import ZoneSettings
from edge.track.zones import ZoneFilter, points_in_polygon


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges share no area
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
        ((0, 0, 10, 10), (2, 2, 8, 8), 36 / 100),  # contained
        ((0, 0, 30, 3), (0, 2, 30, 5), 30 / 150),  # thin scratch 2 px off across its width
        ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),  # degenerate: 0, never NaN
        ((5, 5, 0, 0), (0, 0, 10, 10), 0.0),  # inverted box has no area
    ],
)
def test_iou_pairs(a: tuple[float, ...], b: tuple[float, ...], expected: float) -> None:
    got = iou_matrix(np.array([a], float), np.array([b], float))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected)
    assert iou_matrix(np.array([b], float), np.array([a], float))[0, 0] == pytest.approx(expected)


def test_iou_matrix_shapes_and_values_match_pairwise() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (7, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 30, (7, 2))], axis=1)
    xy = rng.uniform(0, 100, (5, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 30, (5, 2))], axis=1)
    m = iou_matrix(a, b)
    assert m.shape == (7, 5)
    for i in range(7):
        for j in range(5):
            assert m[i, j] == pytest.approx(iou_matrix(a[i:i + 1], b[j:j + 1])[0, 0])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 5)
    assert iou_matrix(a, []).shape == (7, 0)


def test_iou_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        iou_matrix(np.zeros((3, 3)), np.zeros((1, 4)))


@pytest.mark.parametrize(
    ("a", "b", "min_size", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0, 0.0),
        ((0, 0, 10, 10), (10, 0, 20, 10), 1.0, 1.0),  # one box size apart
        ((0, 0, 10, 10), (0, 20, 10, 30), 1.0, 2.0),
        ((0, 0, 10, 10), (30, 40, 40, 50), 1.0, 5.0),  # 3-4-5
        ((0, 0, 20, 20), (30, 5, 40, 15), 1.0, 25 / 15),  # mean of sizes 20 and 10
        ((0, 0, 40, 1), (0, 10, 40, 11), 1.0, 10.0),  # per axis: 10 px across a 1 px scratch
        ((0, 0, 40, 1), (0, 10, 40, 11), 8.0, 10 / 8),  # ... whose height is floored at 8 px
        ((0, 0, 40, 1), (10, 0, 50, 1), 8.0, 10 / 40),  # along it: a quarter of its length
        ((0, 0, 1, 1), (4, 0, 5, 1), 4.0, 1.0),  # tiny boxes use the size floor
    ],
)
def test_centre_distance_ratio(a: tuple[float, ...], b: tuple[float, ...], min_size: float,
                               expected: float) -> None:
    got = centre_distance_ratio(np.array([a], float), np.array([b], float), min_size)
    assert got[0, 0] == pytest.approx(expected)


def test_box_area() -> None:
    assert box_area(np.array([[0, 0, 4, 5], [3, 3, 1, 1]], float)).tolist() == [20.0, 0.0]


def test_prediction_and_velocity_round_trip() -> None:
    boxes = np.array([[0, 0, 10, 10], [100, 50, 120, 60]], float)
    vel = np.array([[17.0, 0.0], [-2.0, 1.5]])
    steps = np.array([1.0, 3.0])
    pred = predict_boxes(boxes, vel, steps)
    assert pred.tolist() == [[17, 0, 27, 10], [94, 54.5, 114, 64.5]]
    assert measured_velocities(boxes, pred, steps) == pytest.approx(vel)
    assert ema(np.array([0.0, 10.0]), np.array([10.0, 0.0]), 0.25).tolist() == [2.5, 7.5]


@pytest.mark.parametrize(
    ("box", "clipped", "outside"),
    [
        ((10, 10, 20, 20), (10, 10, 20, 20), False),
        ((-5, 10, 5, 20), (0, 10, 5, 20), False),  # centre on the edge at x=0: still in
        ((-15, 10, -5, 20), (0, 10, 0, 20), True),
        ((95, 10, 110, 20), (95, 10, 100, 20), True),  # centre x 102.5 >= width 100
        ((10, 75, 20, 90), (10, 75, 20, 80), True),
    ],
)
def test_clip_and_outside(box: tuple[float, ...], clipped: tuple[float, ...],
                          outside: bool) -> None:
    b = np.array([box], float)
    assert clip_boxes(b, 100, 80)[0].tolist() == list(clipped)
    assert bool(centre_outside(b, 100, 80)[0]) is outside


SQUARE = np.array([[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]])
CONCAVE = np.array([[0, 0], [1, 0], [1, 1], [0.5, 0.3], [0, 1]], float)  # a "V" notch at the top


@pytest.mark.parametrize(
    ("poly", "point", "inside"),
    [
        (SQUARE, (0.5, 0.5), True),
        (SQUARE, (0.1, 0.5), False),
        (SQUARE, (0.5, 0.9), False),
        (SQUARE, (0.79, 0.21), True),
        (CONCAVE, (0.5, 0.2), True),
        (CONCAVE, (0.5, 0.6), False),  # inside the notch
        (CONCAVE, (0.1, 0.6), True),
        (CONCAVE, (1.5, 0.5), False),
    ],
)
def test_points_in_polygon(poly: np.ndarray, point: tuple[float, float], inside: bool) -> None:
    assert points_in_polygon(np.array([point]), poly).tolist() == [inside]


def test_zone_filter_include_and_exclude() -> None:
    zones = ZoneFilter.from_settings([
        ZoneSettings(name="belt", mode="include", polygon=[(0, 0.2), (1, 0.2), (1, 0.8), (0, 0.8)]),
        ZoneSettings(name="bracket", mode="exclude",
                     polygon=[(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]),
    ])
    pts = np.array([[0.1, 0.5], [0.5, 0.5], [0.5, 0.1], [0.9, 0.7]])
    assert zones.allowed(pts).tolist() == [True, False, False, True]
    assert ZoneFilter.from_settings([]).allowed(pts).tolist() == [True] * 4
    only_exclude = ZoneFilter.from_settings([
        ZoneSettings(name="x", mode="exclude", polygon=[(0, 0), (0.3, 0), (0.3, 1)])])
    assert only_exclude.allowed(np.array([[0.25, 0.5], [0.9, 0.5]])).tolist() == [False, True]


GATES = Gates(min_iou=0.2, centre_gate=1.5)


@pytest.mark.parametrize(
    ("track", "det", "t_cls", "d_cls", "gates", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 0, 0, GATES, 0.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 0, 0, GATES, 1 - 1 / 3),
        ((0, 0, 10, 10), (0, 0, 10, 10), 0, 1, GATES, INVALID),  # other class
        ((0, 0, 10, 10), (12, 0, 22, 10), 0, 0, GATES, 2.2),  # centre-gated: 1 + 1.2
        ((0, 0, 10, 10), (12, 0, 22, 10), 0, 0, Gates(0.2, 0.0), INVALID),  # fallback off
        ((0, 0, 10, 10), (16, 0, 26, 10), 0, 0, GATES, INVALID),  # 1.6 sizes: too far
        # Thin scratch predicted 30 px off along its length: IoU 0.09, centre-gated (0.76).
        ((0, 0, 40, 3), (30, 1, 70, 4), 0, 0, GATES, 1 + np.hypot(30 / 40, 1 / 8)),
        # 13 px across it is too far (13 over the 8 px floor of its height).
        ((0, 0, 40, 3), (0, 13, 40, 16), 0, 0, GATES, INVALID),
        # A false positive of another shape near the prediction: shape gate says no.
        ((0, 0, 77, 9), (30, -10, 43, 30), 0, 0, Gates(0.2, 1.5, max_size_ratio=2.5), INVALID),
        ((0, 0, 77, 9), (30, -10, 43, 30), 0, 0, Gates(0.2, 1.5, max_size_ratio=0.0), 1 + np.hypot(
            (38.5 - 36.5) / 45, (4.5 - 10) / 24.5)),
    ],
)
def test_cost_matrix_gates(track: tuple[float, ...], det: tuple[float, ...], t_cls: int,
                           d_cls: int, gates: Gates, expected: float) -> None:
    c = cost_matrix(np.array([track], float), np.array([t_cls]), np.array([det], float),
                    np.array([d_cls]), gates)
    assert c[0, 0] == pytest.approx(expected)


def test_solve_is_optimal_where_greedy_is_not() -> None:
    # Greedy takes (0, 0) at cost 0.1 and leaves track 1 with nothing; optimal pairs both.
    cost = np.array([[0.1, 0.2], [0.3, INVALID]])
    rows, cols = solve(cost)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    rows, cols = solve(np.full((2, 3), INVALID))
    assert rows.size == cols.size == 0
    assert solve(np.zeros((0, 3)))[0].size == 0


def test_associate_two_stages() -> None:
    tracks = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 0, 110, 10]], float)
    t_cls = np.array([0, 0, 1])
    dets = np.array([
        [1, 0, 11, 10],  # high, track 0
        [51, 50, 61, 60],  # low, track 1 (second stage)
        [200, 200, 210, 210],  # high, no track: a seed
        [300, 300, 310, 310],  # low, no track: dropped (low never seeds)
        [101, 0, 111, 10],  # high but class 0 against track 2 of class 1: a seed
    ], float)
    d_cls = np.array([0, 0, 0, 0, 0])
    high = np.array([True, False, True, False, True])
    m = associate(cost_matrix(tracks, t_cls, dets, d_cls, GATES), high)
    pairs = sorted(zip(m.track_idx.tolist(), m.det_idx.tolist(), strict=True))
    assert pairs == [(0, 0), (1, 1)]
    assert m.unmatched_tracks.tolist() == [2]
    assert sorted(m.unmatched_dets.tolist()) == [2, 4]


def test_associate_prefers_high_score_detection() -> None:
    # A low-score detection overlapping better must not take the track from a high-score one.
    tracks = np.array([[0, 0, 10, 10]], float)
    dets = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], float)
    cost = cost_matrix(tracks, np.array([0]), dets, np.array([0, 0]), GATES)
    m = associate(cost, np.array([False, True]))
    assert m.det_idx.tolist() == [1]


def test_associate_empty_sides() -> None:
    cost = cost_matrix(np.zeros((0, 4)), np.zeros(0, int), np.array([[0, 0, 5, 5]], float),
                       np.array([0]), GATES)
    m = associate(cost, np.array([True]))
    assert m.unmatched_dets.tolist() == [0] and m.track_idx.size == 0
    cost = cost_matrix(np.array([[0, 0, 5, 5]], float), np.array([0]), np.zeros((0, 4)),
                       np.zeros(0, int), GATES)
    m = associate(cost, np.zeros(0, bool))
    assert m.unmatched_tracks.tolist() == [0]


def test_pair_geometry_matches_the_separate_functions() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 200, (9, 2))
    a = np.concatenate([xy, xy + rng.uniform(0, 40, (9, 2))], axis=1)
    xy = rng.uniform(0, 200, (6, 2))
    b = np.concatenate([xy, xy + rng.uniform(0, 40, (6, 2))], axis=1)
    iou, centre, size = pair_geometry(a, b, 8.0)
    assert iou == pytest.approx(iou_matrix(pad_to_min_size(a, 8.0), pad_to_min_size(b, 8.0)))
    assert centre == pytest.approx(centre_distance_ratio(a, b, 8.0))
    assert size == pytest.approx(size_ratio_matrix(a, b, 8.0))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (0, 0, 20, 10), 2.0),
        ((0, 0, 77, 9), (0, 0, 13, 40), 77 / 13),  # same area, other shape
        ((0, 0, 40, 2), (0, 0, 40, 6), 1.0),  # thin sides below the 8 px floor
    ],
)
def test_size_ratio(a: tuple[float, ...], b: tuple[float, ...], expected: float) -> None:
    assert size_ratio_matrix(np.array([a], float), np.array([b], float), 8.0)[0, 0] == (
        pytest.approx(expected))


def test_unknown_velocity_widens_the_centre_gate() -> None:
    # 3 box sizes apart: too far for a track with a prediction, fine for one without.
    tracks = np.array([[0, 0, 10, 10], [0, 100, 10, 110]], float)
    dets = np.array([[30, 0, 40, 10], [30, 100, 40, 110]], float)
    cost = cost_matrix(tracks, np.zeros(2, int), dets, np.zeros(2, int), GATES,
                       np.array([True, False]))
    assert cost[0, 0] == INVALID
    assert cost[1, 1] == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("box", "padded"),
    [
        ((0, 0, 40, 3), (0, -2.5, 40, 5.5)),  # a thin scratch: height padded about its centre
        ((10, 10, 12, 30), (7, 10, 15, 30)),
        ((0, 0, 20, 20), (0, 0, 20, 20)),  # big enough: unchanged
    ],
)
def test_pad_to_min_size(box: tuple[float, ...], padded: tuple[float, ...]) -> None:
    assert pad_to_min_size(np.array([box], float), 8.0)[0].tolist() == list(padded)


def test_padded_iou_keeps_a_jittered_thin_scratch_matched() -> None:
    # Same 50 px scratch, its box 3 px tall then 1 px tall and 1 px lower: raw IoU 0.0 — padded
    # to 8 px, the overlap along its length shows.
    a = np.array([[100, 336, 150, 339]], float)
    b = np.array([[102, 339.5, 152, 340.5]], float)
    assert iou_matrix(a, b)[0, 0] == 0.0
    assert pair_geometry(a, b, 8.0)[0][0, 0] == pytest.approx(48 * 5.5 / (800 - 48 * 5.5))


@pytest.mark.parametrize(
    ("rows", "owner"),
    [
        # crack box on top of a scratch box: the better one keeps it
        ([(0, 0, 40, 10, 0.9, 0), (1, 0, 41, 10, 0.6, 1)], [-1, 0]),
        ([(0, 0, 40, 10, 0.5, 0), (1, 0, 41, 10, 0.6, 1)], [1, -1]),
        # same class overlapping: the detector's NMS kept both on purpose
        ([(0, 0, 40, 10, 0.9, 0), (1, 0, 41, 10, 0.6, 0)], [-1, -1]),
        # other class, but little overlap: two defects
        ([(0, 0, 40, 10, 0.9, 0), (30, 0, 70, 10, 0.6, 1)], [-1, -1]),
        # thin boxes touching, one above the other: overlap only once padded to 8 px
        ([(0, 0, 40, 2, 0.9, 0), (0, 2, 40, 4, 0.8, 1)], [-1, 0]),
        # three hypotheses on one defect
        ([(0, 0, 40, 10, 0.7, 2), (0, 1, 40, 11, 0.9, 0), (1, 0, 41, 10, 0.8, 1)], [1, -1, 1]),
        ([(0, 0, 40, 10, 0.9, 0)], [-1]),
    ],
)
def test_merge_across_classes(rows: list[tuple[float, ...]], owner: list[int]) -> None:
    a = np.array(rows, float)
    got = merge_across_classes(a[:, :4], a[:, 4], a[:, 5].astype(int), 0.5, 8.0)
    assert got.tolist() == owner


def test_cross_class_pairs_cost_more_than_same_class() -> None:
    tracks = np.array([[0, 0, 20, 20]], float)
    dets = np.array([[1, 0, 21, 20], [1, 0, 21, 20]], float)
    gates = Gates(0.2, 1.5, cross_class=True)
    cost = cost_matrix(tracks, np.array([0]), dets, np.array([0, 1]), gates)
    assert cost[0, 1] == pytest.approx(cost[0, 0] + CROSS_CLASS_PENALTY)
    strict = cost_matrix(tracks, np.array([0]), dets, np.array([0, 1]), GATES)
    assert strict[0, 1] == INVALID


def test_padded_iou_is_iou_of_padded_boxes() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (6, 2))
    a = np.concatenate([xy, xy + rng.uniform(0, 20, (6, 2))], axis=1)
    assert padded_iou(a, a[::-1], 8.0) == pytest.approx(
        iou_matrix(pad_to_min_size(a, 8.0), pad_to_min_size(a[::-1], 8.0)))
