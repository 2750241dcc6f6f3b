"""Association of detections to tracks: gated costs, optimal assignment, ByteTrack's two stages.

Choices, and why:

* **Optimal assignment** (Hungarian, ``scipy.optimize.linear_sum_assignment``) rather than greedy:
  defects of one class often sit close together on a part (a cluster of scratches); greedy
  highest-IoU-first can steal a neighbour's detection and then leave the neighbour unmatched,
  which ends one track early and starts a duplicate. On ~20 x 20 the solver costs ~10 µs.
* **Same class first**: with ``cross_class`` off a pair of different classes is never a match;
  with it on (the tracker's default) such a pair passes the same gates but costs
  ``CROSS_CLASS_PENALTY`` more, so it wins only when no same-class pairing does as well. Measured
  on the conveyor with a real model: the detector calls one scratch `scratch` in some frames and
  `crack` in others, and a same-class-only tracker then reports it twice (0.14 duplicate `new`
  per defect against 0.01).
* **Two gates**: IoU >= ``min_iou`` against the track's *predicted* box, or, failing that, centre
  distance within ``centre_gate`` box sizes. Small and thin defects overlap little between frames
  even with a good prediction (a 30 x 3 px scratch box predicted 2 px off across its thin side has
  IoU 0.2), so the centre gate is the fallback. Every IoU-gated pair costs less than any
  centre-gated pair (``1 - iou`` in [0, 1) against ``1 + ratio``), so overlap wins when present.
  A centre-gated pair must also have a similar shape (width and height each within
  ``max_size_ratio``): without overlap, shape is what tells a defect from a false positive
  near it, and a track that follows one false positive loses its defect and, later, duplicates it.
* **Two stages** (ByteTrack): confident detections are matched first to all tracks; the leftover
  tracks then get a chance at the low-score detections, which keep a track alive through a frame
  where the defect is blurred or glinting but never start a track of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from edge.track.iou import FloatArray, padded_iou, pair_geometry

INVALID = 1.0e6
CROSS_CLASS_PENALTY = 0.5
IntArray = npt.NDArray[np.intp]
_EMPTY = np.zeros(0, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class Gates:
    """When a (track, detection) pair may be matched at all."""

    min_iou: float
    centre_gate: float  # in box sizes; 0 disables the centre-distance fallback
    first_match_gate: float = 4.0  # centre gate of a track whose velocity is not known yet
    max_size_ratio: float = 2.5  # centre-gated pairs: width and height each within this factor
    cross_class: bool = False  # other-class pairs allowed (at CROSS_CLASS_PENALTY extra cost)
    min_size_px: float = 8.0  # floor of a box's sides in the centre gates (thin scratches)


@dataclass(frozen=True, slots=True)
class Matches:
    """Result of an association: index pairs and what is left on each side."""

    track_idx: IntArray
    det_idx: IntArray
    unmatched_tracks: IntArray
    unmatched_dets: IntArray


def cost_matrix(
    track_boxes: FloatArray,
    track_classes: npt.NDArray[np.integer],
    det_boxes: FloatArray,
    det_classes: npt.NDArray[np.integer],
    gates: Gates,
    velocity_known: npt.NDArray[np.bool_] | None = None,
) -> FloatArray:
    """(T, D) costs: ``1 - iou`` if IoU-gated, ``1 + ratio`` if centre-gated, else ``INVALID``.

    Tracks whose ``velocity_known`` is False (born before the belt speed was known, never matched
    since) have no useful prediction, so their centre gate is the wider ``first_match_gate``.
    """
    iou, ratio, shape = pair_geometry(track_boxes, det_boxes, gates.min_size_px)
    cost = 1.0 - iou
    allowed = iou >= gates.min_iou
    if gates.centre_gate > 0.0:
        if velocity_known is None or velocity_known.all():
            by_centre = ratio <= gates.centre_gate
        else:
            gate = np.where(velocity_known, gates.centre_gate, gates.first_match_gate)
            by_centre = ratio <= gate[:, None]
        by_centre &= ~allowed
        if gates.max_size_ratio > 0.0:
            by_centre &= shape <= gates.max_size_ratio
        cost[by_centre] = 1.0 + ratio[by_centre]
        allowed |= by_centre
    same = track_classes[:, None] == det_classes[None, :]
    if gates.cross_class:
        cost[~same] += CROSS_CLASS_PENALTY
    else:
        allowed &= same
    cost[~allowed] = INVALID
    return cost


def solve(cost: FloatArray) -> tuple[IntArray, IntArray]:
    """Minimum-cost assignment over the allowed pairs; returns (row indices, column indices)."""
    if cost.size == 0 or not (cost < INVALID).any():
        return _EMPTY, _EMPTY
    rows, cols = linear_sum_assignment(cost)
    keep = cost[rows, cols] < INVALID
    return rows[keep].astype(np.intp), cols[keep].astype(np.intp)


def _rest(n: int, used: IntArray) -> IntArray:
    mask = np.ones(n, dtype=bool)
    mask[used] = False
    return np.flatnonzero(mask)


def associate(cost: FloatArray, det_high: npt.NDArray[np.bool_]) -> Matches:
    """ByteTrack's two stages over one (T, D) cost matrix. ``unmatched_dets`` holds only
    high-score detections (the seeds of new tracks)."""
    n_tracks = cost.shape[0]
    high = np.flatnonzero(det_high)
    low = np.flatnonzero(~det_high)

    r1, c1 = solve(cost[:, high])
    t_left = _rest(n_tracks, r1)

    r2, c2 = _EMPTY, _EMPTY
    if len(low) and len(t_left):
        r2, c2 = solve(cost[np.ix_(t_left, low)])

    track_idx = np.concatenate((r1, t_left[r2]))
    det_idx = np.concatenate((high[c1], low[c2]))
    return Matches(
        track_idx=track_idx,
        det_idx=det_idx,
        unmatched_tracks=_rest(n_tracks, track_idx),
        unmatched_dets=high[_rest(len(high), c1)],
    )


def merge_across_classes(boxes: FloatArray, scores: FloatArray,
                         classes: npt.NDArray[np.integer], min_iou: float,
                         min_size: float) -> IntArray:
    """Class-agnostic NMS for boxes of *different* classes: ``owner[j]`` is the index of the
    better-scoring box that absorbs box ``j``, or -1 if ``j`` stands on its own.

    A detector with class-aware NMS reports one defect twice when it hesitates between two
    classes (a `crack` box on top of a `scratch` box); tracked separately those become two
    defects. Same-class overlaps are left alone: the detector's own NMS already kept them apart
    on purpose. IoU is taken on boxes padded to ``min_size`` (thin scratches).
    """
    n = len(scores)
    owner = np.full(n, -1, dtype=np.intp)
    if n < 2:
        return owner
    iou = padded_iou(boxes, boxes, min_size)
    clash = (iou >= min_iou) & (classes[:, None] != classes[None, :])
    if not clash.any():
        return owner
    for j in np.argsort(-scores, kind="stable").tolist():
        if owner[j] >= 0:
            continue
        # j stands; every lower-scoring, still free box it clashes with is absorbed by it.
        victims = np.flatnonzero(clash[j] & (owner < 0) & (scores <= scores[j]))
        victims = victims[victims != j]
        owner[victims] = j
    return owner
