"""`lineinspect models eval-events`: `edge run` on a recording, scored against its truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineinspect.render.video import write_video
from models.eval.events import TruthBox, WireEvent, evaluate_videos, score_video
from tests._models import shipped_detector

TRUTH = {
    i: [TruthBox(1, 0, (100.0 + 10 * i, 100.0, 130.0 + 10 * i, 110.0)),
        TruthBox(2, 2, (300.0, 300.0, 340.0, 340.0))]
    for i in range(10)
}


def _new(track: int, cls: int, box: tuple[float, ...], seq: int) -> WireEvent:
    return WireEvent(track, "new", cls, box, seq, seq)


@pytest.mark.parametrize(("events", "recall", "class_recall", "dups", "false_new"), [
    ([], 0.0, 0.0, 0.0, 0.0),
    ([_new(1, 0, (140.0, 100.0, 170.0, 110.0), 4), _new(2, 2, (300.0, 300.0, 340.0, 340.0), 5)],
     1.0, 1.0, 0.0, 0.0),
    # The dent found but called a scratch: found, not class-found.
    ([_new(2, 0, (300.0, 300.0, 340.0, 340.0), 5)], 0.5, 0.0, 0.0, 0.0),
    # The same scratch announced twice, and a `new` on bare belt.
    ([_new(1, 0, (140.0, 100.0, 170.0, 110.0), 4), _new(3, 0, (150.0, 100.0, 180.0, 110.0), 5),
      _new(4, 1, (500.0, 20.0, 520.0, 40.0), 6)], 0.5, 0.5, 0.5, 0.5),
])
def test_score_video(events: list[WireEvent], recall: float, class_recall: float, dups: float,
                     false_new: float) -> None:
    r = score_video(events, TRUTH)
    assert (r["defects"], r["recall"], r["class_recall"]) == (2, recall, class_recall)
    assert (r["duplicates_per_defect"], r["false_new_per_defect"]) == (dups, false_new)


@pytest.mark.slow
def test_edge_run_on_the_test_scene_finds_its_defects_and_scores_repeatably(
        tmp_path: Path) -> None:
    video, _ = write_video(tmp_path / "scene0.mp4", seed=0, seconds=8.0, fps=15.0)
    first = evaluate_videos(shipped_detector(), [video], tmp_path / "ev")
    again = evaluate_videos(shipped_detector(), [video], tmp_path / "ev")
    assert first["defects"] >= 5
    assert first["recall"] >= 0.9  # the shipped model on the scene its card reports 1.00 on
    assert again["recall"] == first["recall"]
    assert again["false_new_per_defect"] == first["false_new_per_defect"]  # no stale events
