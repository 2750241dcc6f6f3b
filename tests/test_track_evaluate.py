"""Event-level scoring against ground truth, and the event grammar check."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from edge.track.evaluate import (
    detectable_defects,
    lifecycle_errors,
    match_event,
    score_events,
)


@dataclass(frozen=True)
class GT:
    defect_id: int
    class_id: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Ev:
    track_id: int
    kind: str
    class_id: int
    box: tuple[float, float, float, float]
    box_seq: int
    frame_seq: int


A = GT(1, 0, (100, 100, 140, 110))  # a thin scratch
B = GT(2, 0, (300, 100, 330, 130))
C = GT(3, 2, (100, 300, 130, 330))


@pytest.mark.parametrize(
    ("box", "cls", "expected"),
    [
        ((100, 100, 140, 110), 0, 1),
        ((105, 101, 143, 111), 0, 1),
        ((100, 100, 140, 110), 1, None),  # right place, wrong class
        ((110, 103, 125, 108), 0, 1),  # IoU 0.19 but centre inside: a partial box
        ((200, 200, 220, 220), 0, None),
        ((302, 98, 331, 131), 0, 2),
        ((100, 300, 130, 330), 2, 3),
    ],
)
def test_match_event(box: tuple[float, float, float, float], cls: int,
                     expected: int | None) -> None:
    assert match_event(box, cls, [A, B, C], min_iou=0.3) == expected


def _truth(frames: int, *defects: GT) -> dict[int, list[GT]]:
    return {i: list(defects) for i in range(frames)}


@pytest.mark.parametrize(
    ("events", "recall", "dups", "false_new"),
    [
        ([Ev(1, "new", 0, A.box, 2, 2), Ev(2, "new", 0, B.box, 2, 2),
          Ev(3, "new", 2, C.box, 3, 3)], 1.0, 0.0, 0),
        ([Ev(1, "new", 0, A.box, 2, 2), Ev(2, "new", 0, B.box, 2, 2)], 2 / 3, 0.0, 0),
        # A reported twice (track broken), plus an update/end that must not count as news.
        ([Ev(1, "new", 0, A.box, 2, 2), Ev(1, "update", 0, A.box, 3, 3),
          Ev(1, "end", 0, A.box, 4, 5), Ev(4, "new", 0, A.box, 6, 6),
          Ev(2, "new", 0, B.box, 2, 2), Ev(3, "new", 2, C.box, 3, 3)], 1.0, 1 / 3, 0),
        ([Ev(1, "new", 0, (500, 400, 520, 420), 2, 2)], 0.0, 0.0, 1),
        ([], 0.0, 0.0, 0),
    ],
)
def test_score_events(events: list[Ev], recall: float, dups: float, false_new: int) -> None:
    s = score_events(_truth(10, A, B, C), events, min_visible_frames=5)
    assert s.required == 3
    assert s.recall == pytest.approx(recall)
    assert s.duplicates_per_defect == pytest.approx(dups)
    assert s.false_new == false_new


def test_short_lived_defects_are_not_required_nor_false() -> None:
    truth = _truth(10, A)
    truth[3] = [A, B]  # B visible in one frame only
    truth[4] = [A, B]
    s = score_events(truth, [Ev(1, "new", 0, A.box, 2, 2), Ev(2, "new", 0, B.box, 4, 4)],
                     min_visible_frames=3)
    assert (s.required, s.found, s.false_new, s.recall) == (1, 1, 0, 1.0)
    assert s.summary()["new_events"] == 2
    assert score_events(truth, [], min_visible_frames=3).missed_ids == [1]


@pytest.mark.parametrize(
    ("events", "closed", "errors"),
    [
        ([("new", 1, 0), ("update", 1, 1), ("end", 1, 2)], True, []),
        ([("new", 2, 0), ("new", 1, 1), ("end", 1, 2), ("end", 2, 2)], True, []),
        ([("new", 1, 0), ("new", 1, 1)], False, ["second `new`"]),
        ([("update", 1, 0)], False, ["before `new`"]),
        ([("new", 1, 0), ("end", 1, 1), ("update", 1, 2)], False, ["after `end`"]),
        ([("new", 1, 0), ("end", 1, 1), ("end", 1, 2)], False, ["after `end`"]),
        ([("new", 1, 5), ("new", 2, 4)], False, ["frame order"]),
        ([("new", 1, 0)], True, ["no `end`"]),
        ([("new", 1, 0)], False, []),
    ],
)
def test_lifecycle_errors(events: list[tuple[str, int, int]], closed: bool,
                          errors: list[str]) -> None:
    evs = [Ev(t, k, 0, (0, 0, 1, 1), f, f) for k, t, f in events]
    got = lifecycle_errors(evs, closed=closed)
    assert len(got) == len(errors)
    for g, want in zip(got, errors, strict=True):
        assert want in g


def test_class_agnostic_scoring_counts_a_misnamed_defect() -> None:
    events = [Ev(1, "new", 1, A.box, 2, 2)]  # A is a scratch (0); the detector said crack (1)
    aware = score_events(_truth(10, A), events)
    agnostic = score_events(_truth(10, A), events, class_aware=False)
    assert (aware.recall, aware.false_new) == (0.0, 1)
    assert (agnostic.recall, agnostic.false_new) == (1.0, 0)
    assert match_event(A.box, None, [A, B, C], min_iou=0.3) == 1


def test_detectable_defects_needs_min_frames_of_matching_boxes() -> None:
    truth = _truth(6, A, B, C)
    dets = {i: [(A.box, 0.9)] for i in range(3)}  # A in 3 frames
    dets[0] = [*dets[0], ((302, 100, 330, 131), 0.8)]  # B once
    dets[4] = [((100, 300, 130, 330), 0.5), ((500, 400, 520, 420), 0.9)]  # C once, a stray box
    dets[5] = [((101, 301, 131, 331), 0.5)]
    assert detectable_defects(truth, dets, min_frames=3) == {1}
    assert detectable_defects(truth, dets, min_frames=2) == {1, 3}
    s = score_events(truth, [Ev(1, "new", 0, A.box, 2, 2)], min_visible_frames=3, only={1})
    assert (s.required, s.recall) == (1, 1.0)
