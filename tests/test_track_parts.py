"""The `part` class (v3 detectors): the whole part is seen, but never becomes a defect event."""

from __future__ import annotations

import pytest

from edge.track.lifecycle import EventTracker
from edge.track.settings import TrackingSettings
from tests.test_track_lifecycle import SIZE, dets, kinds, moving, run

WITH_PART = ("scratch", "crack", "dent", "part")


def _part_and_scratch(n: int) -> list[list[tuple[float, float, float, float, float, int]]]:
    """A large confident part box with a scratch inside it, both moving along the belt."""
    part = moving(50, 10, n, y=100, w=300, h=250, score=0.95, cls=3)
    scratch = moving(120, 10, n, y=200, w=30, h=8, score=0.8, cls=0)
    return [p + s for p, s in zip(part, scratch, strict=True)]


def test_part_boxes_never_become_events_but_defects_on_the_part_do() -> None:
    t = EventTracker(TrackingSettings(min_frames=2, max_missed_frames=1), WITH_PART)
    ev = run(t, [*_part_and_scratch(5), [], []])
    assert [e.class_name for e in ev] == ["scratch", "scratch"]
    assert [k for _, k, _ in kinds(ev)] == ["new", "end"]
    assert t.stats.ignored_non_defect == 5
    assert t.stats.ignored_low_score == 0


def test_part_detections_are_untracked_in_the_annotator_ids() -> None:
    t = EventTracker(TrackingSettings(min_frames=1), WITH_PART)
    t.update(dets((50, 100, 350, 350, 0.95, 3), (120, 200, 150, 208, 0.8, 0)), 0, 0.0, SIZE)
    assert t.last_track_ids.tolist() == [-1, 1]


def test_a_model_without_part_tracks_every_class() -> None:
    t = EventTracker(TrackingSettings(min_frames=2), ("scratch", "crack", "dent"))
    ev = run(t, moving(50, 10, 3, cls=2))
    assert [(e.kind, e.class_name) for e in ev] == [("new", "dent")]
    assert t.stats.ignored_non_defect == 0


def test_non_defect_classes_are_configurable() -> None:
    # A user's model with a `fixture` class that is no defect either.
    t = EventTracker(TrackingSettings(min_frames=1, non_defect_classes=["fixture"]),
                     ("fixture", "burr"))
    ev = run(t, [[(10, 10, 200, 200, 0.9, 0), (20, 20, 40, 40, 0.9, 1)]])
    assert [e.class_name for e in ev] == ["burr"]


def test_every_class_non_defect_is_refused() -> None:
    with pytest.raises(ValueError, match="non_defect_classes"):
        EventTracker(TrackingSettings(non_defect_classes=["part"]), ("part",))
