"""EventTracker: one `new` per defect, `update` on better evidence, one `end`, zones, thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.detect.types import Detections
from edge.track.evaluate import lifecycle_errors
from edge.track.events import TrackEvent
from edge.track.lifecycle import EventTracker
from edge.track.settings import TrackingSettings, ZoneSettings

CLASSES = ("scratch", "crack", "dent")
SIZE = (640, 480)
Row = tuple[float, float, float, float, float, int]  # x1, y1, x2, y2, score, class


def dets(*rows: Row) -> Detections:
    if not rows:
        return Detections.empty()
    a = np.array(rows, dtype=np.float64)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32),
                      a[:, 5].astype(np.int32))


def run(tracker: EventTracker, frames: Sequence[Sequence[Row]], start: int = 0,
        fps: float = 10.0) -> list[TrackEvent]:
    out: list[TrackEvent] = []
    for i, rows in enumerate(frames, start):
        out += tracker.update(dets(*rows), i, 1_700_000_000.0 + i / fps, SIZE)
    return out


def tracker(**kw: object) -> EventTracker:
    return EventTracker(TrackingSettings(**kw), CLASSES)


def kinds(events: Sequence[TrackEvent]) -> list[tuple[int, str, int]]:
    return [(e.frame_seq, e.kind, e.track_id) for e in events]


def moving(x0: float, dx: float, n: int, y: float = 200, w: float = 20, h: float = 20,
           score: float = 0.8, cls: int = 0) -> list[list[Row]]:
    return [[(x0 + i * dx, y, x0 + i * dx + w, y + h, score, cls)] for i in range(n)]


def test_one_new_after_min_frames_then_one_end() -> None:
    t = tracker(min_frames=3, max_missed_frames=2)
    frames = [*moving(100, 10, 6), [], [], []]
    ev = run(t, frames)
    assert kinds(ev) == [(2, "new", 1), (8, "end", 1)]
    new, end = ev
    assert (new.class_id, new.class_name, new.reason) == (0, "scratch", "confirmed")
    assert new.box == (120.0, 200.0, 140.0, 220.0) and new.box_seq == 2
    assert (new.frame_width, new.frame_height, new.index_in_frame) == (640, 480, 0)
    assert new.ts == pytest.approx(1_700_000_000.2)
    assert (new.first_seq, new.frames_seen) == (0, 3)
    assert new.confidence == pytest.approx(0.8)
    assert end.reason == "missed" and end.box_seq == 5 and end.frames_seen == 6


@pytest.mark.parametrize(
    ("min_frames", "seen", "expect_new"),
    [(1, 1, True), (3, 2, False), (3, 3, True), (5, 4, False)],
)
def test_flicker_shorter_than_min_frames_is_silent(min_frames: int, seen: int,
                                                   expect_new: bool) -> None:
    t = tracker(min_frames=min_frames, max_missed_frames=1)
    ev = run(t, [*moving(100, 5, seen), [], [], []])
    assert [e.kind for e in ev] == (["new", "end"] if expect_new else [])
    assert t.stats.tracks_silent_end == (0 if expect_new else 1)


@pytest.mark.parametrize(
    ("gap", "ends"),
    [(4, False), (5, False), (6, True)],  # max_missed_frames=5: survives 5 misses, not 6
)
def test_missed_frames_keep_or_end_the_track(gap: int, ends: bool) -> None:
    t = tracker(max_missed_frames=5)
    frames = moving(50, 8, 14)
    for i in range(4, 4 + gap):
        frames[i] = []
    ev = run(t, frames)
    assert [e.kind for e in ev if e.kind == "new"] == (["new", "new"] if ends else ["new"])
    assert [e.reason for e in ev if e.kind == "end"] == (["missed"] if ends else [])


def test_prediction_bridges_misses_of_a_moving_defect() -> None:
    # 3 frames unseen while moving 25 px a frame: found again 100 px on, same track.
    t = tracker(max_missed_frames=5)
    frames = moving(20, 25, 14, w=12, h=12)
    frames[6] = frames[7] = frames[8] = []
    ev = run(t, frames)
    assert [e.kind for e in ev] == ["new"]
    assert t.active_tracks == 1


def test_leaving_the_frame_ends_at_once() -> None:
    t = tracker(max_missed_frames=20)
    frames = moving(500, 30, 5, w=30)  # x1 = 500..620: the last box is cut by the edge
    frames = [[(r[0], r[1], min(r[2], 640.0), r[3], r[4], r[5]) for r in f] for f in frames]
    ev = run(t, [*frames, [], []])
    ends = [e for e in ev if e.kind == "end"]
    assert len(ends) == 1 and ends[0].reason == "left_frame" and ends[0].frame_seq == 5


def test_low_scores_keep_alive_but_do_not_confirm_or_seed() -> None:
    t = tracker(min_frames=3, default_confidence=0.5, low_confidence=0.2)
    hi, lo = 0.9, 0.3
    frames = [[(100 + 5 * i, 100, 120 + 5 * i, 120, s, 0)] for i, s in
              enumerate([hi, lo, lo, lo, hi, lo, hi])]
    ev = run(t, frames)
    assert kinds(ev) == [(6, "new", 1)]  # third confident frame, one track all along
    assert t.stats.tracks_started == 1
    only_low = tracker(default_confidence=0.5, low_confidence=0.2)
    assert run(only_low, moving(100, 5, 10, score=lo)) == []
    assert only_low.stats.tracks_started == 0
    floor = tracker(default_confidence=0.5, low_confidence=0.2)
    run(floor, moving(100, 5, 3, score=0.1))
    assert floor.stats.ignored_low_score == 3


def test_per_class_thresholds() -> None:
    t = tracker(default_confidence=0.5, class_confidence={"crack": 0.8})
    frames = [[(100, 100, 120, 120, 0.7, 0), (300, 100, 320, 120, 0.7, 1),
               (500, 300, 520, 320, 0.85, 1)] for _ in range(4)]
    ev = run(t, frames)
    assert sorted((e.class_name, e.box[0]) for e in ev) == [("crack", 500.0), ("scratch", 100.0)]


def test_unknown_class_in_thresholds_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"class_confidence names unknown class\(es\) \['crak'\]"):
        tracker(class_confidence={"crak": 0.5})


@pytest.mark.parametrize(
    ("scores", "gain", "updates"),
    [
        ((0.5, 0.5, 0.5, 0.55, 0.59, 0.9), 0.1, [(5, 0.9)]),
        ((0.5, 0.5, 0.5, 0.65, 0.7, 0.8), 0.1, [(3, 0.65), (5, 0.8)]),
        ((0.5, 0.5, 0.5, 0.58, 0.59, 0.4), 0.1, []),
        ((0.5, 0.5, 0.5, 0.51, 0.52), 0.0, [(3, 0.51), (4, 0.52)]),
    ],
)
def test_update_when_confidence_gains(scores: tuple[float, ...], gain: float,
                                      updates: list[tuple[int, float]]) -> None:
    t = tracker(min_frames=3, update_min_gain=gain, default_confidence=0.35)
    frames = [[(100 + 4 * i, 100, 130 + 4 * i, 130, s, 2)] for i, s in enumerate(scores)]
    ev = run(t, frames)
    got = [(e.frame_seq, round(e.confidence, 4)) for e in ev if e.kind == "update"]
    assert got == updates
    assert all(e.reason == "score" for e in ev if e.kind == "update")


def test_refinement_attaches_mask() -> None:
    rle = {"size": [480, 640], "counts": [1000, 20, 306180]}
    t = tracker(min_frames=2, max_missed_frames=0)
    run(t, moving(100, 5, 1))
    t.attach_refinement(1, rle)  # not announced yet: rides with `new`
    ev = run(t, moving(105, 5, 1), start=1)
    assert [(e.kind, e.mask_rle is rle) for e in ev] == [("new", True)]
    t.attach_refinement(1, rle, confidence=0.95)
    ev = run(t, moving(110, 5, 1), start=2)
    assert [(e.kind, e.reason, e.confidence) for e in ev] == [("update", "refinement", 0.95)]
    ev = run(t, [[]], start=3)
    assert [e.kind for e in ev] == ["end"]
    t.attach_refinement(1, rle)  # the track has ended: dropped and counted, never emitted
    assert run(t, [[]], start=4) == []
    assert t.stats.refinements_dropped == 1


def test_two_same_class_defects_in_one_frame() -> None:
    t = tracker(min_frames=2)
    frame = [(100, 100, 120, 120, 0.9, 0), (140, 100, 160, 120, 0.8, 0)]
    ev = run(t, [frame, frame])
    assert [(e.kind, e.track_id, e.index_in_frame) for e in ev] == [
        ("new", 1, 0), ("new", 2, 1)]
    assert t.next_track_id == 3


def test_track_ids_increase_from_first_track_id() -> None:
    t = EventTracker(TrackingSettings(min_frames=1, max_missed_frames=0), CLASSES,
                     first_track_id=1000)
    ev = run(t, [[(10, 10, 30, 30, 0.9, 0)], [], [(200, 10, 220, 30, 0.9, 1)], []])
    assert [(e.kind, e.track_id) for e in ev] == [
        ("new", 1000), ("end", 1000), ("new", 1001), ("end", 1001)]


ZONES = [
    ZoneSettings(name="belt", mode="include", polygon=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)]),
    ZoneSettings(name="gear-face", mode="include",
                 polygon=[(0.5, 0), (1, 0), (1, 0.5), (0.5, 0.5)]),
    ZoneSettings(name="clamp", mode="exclude",
                 polygon=[(0.1, 0.1), (0.2, 0.1), (0.2, 0.2), (0.1, 0.2)]),
]


@pytest.mark.parametrize(
    ("box", "zone"),
    [
        ((20, 400, 40, 420), "belt"),
        ((400, 20, 420, 40), "gear-face"),
        ((400, 400, 420, 420), None),  # bottom right: in no include zone, ignored
        ((90, 70, 100, 80), None),  # centre (95, 75) inside the clamp: excluded
        ((40, 30, 50, 40), "belt"),  # just outside the clamp
    ],
)
def test_zones(box: tuple[float, float, float, float], zone: str | None) -> None:
    t = tracker(min_frames=1, zones=ZONES)
    ev = run(t, [[(*box, 0.9, 0)]])
    assert [e.zone for e in ev] == ([zone] if zone else [])
    assert t.stats.ignored_zone == (0 if zone else 1)


def test_min_box_area() -> None:
    t = tracker(min_frames=1, min_box_area_px=100)
    ev = run(t, [[(0, 0, 9, 9, 0.9, 0), (100, 100, 110, 110, 0.9, 0)]])
    assert [e.box for e in ev] == [(100.0, 100.0, 110.0, 110.0)]
    assert t.stats.ignored_small == 1


def test_fast_small_defect_needs_motion_model() -> None:
    # 10 px defects moving 25 px a frame never overlap themselves between frames.
    frames = [[(10 + 25 * i, 200, 20 + 25 * i, 210, 0.9, 0),
               (10 + 25 * i, 300, 20 + 25 * i, 310, 0.9, 0)] for i in range(20)]
    full = tracker()
    ev = run(full, frames)
    assert [e.kind for e in ev] == ["new", "new"]
    assert full.stats.tracks_started == 2
    bare = tracker(centre_gate=0.0, belt_prior=False)
    assert run(bare, frames) == []  # every frame starts fresh tracks: never confirmed
    assert bare.stats.tracks_started == 40


def test_belt_prior_starts_new_tracks_at_belt_speed() -> None:
    # Once the belt speed is known, a defect entering later is matched from its second frame
    # even though it moves six of its own sizes per frame.
    old = [(10 + 60 * i, 100, 60 + 60 * i, 150, 0.9, 1) for i in range(8)]
    young = [(5 + 60 * i, 300, 15 + 60 * i, 310, 0.9, 0) for i in range(4)]
    frames = [[o] for o in old[:4]] + [[o, y] for o, y in zip(old[4:], young, strict=True)]
    t = tracker()
    ev = run(t, frames)
    assert [(e.kind, e.class_name) for e in ev] == [("new", "crack"), ("new", "scratch")]
    assert t.stats.tracks_started == 2
    no_prior = tracker(belt_prior=False)
    assert [e.class_name for e in run(no_prior, frames)] == ["crack"]
    assert no_prior.stats.tracks_started == 5


def test_last_track_ids_label_the_input_detections() -> None:
    t = tracker(default_confidence=0.5, low_confidence=0.2)
    run(t, [[(100, 100, 120, 120, 0.9, 0)]])
    run(t, [[(0, 0, 5, 5, 0.1, 0), (102, 100, 122, 120, 0.3, 0), (300, 300, 330, 330, 0.9, 1),
             (500, 10, 520, 30, 0.3, 2)]], start=1)
    assert t.last_track_ids.tolist() == [-1, 1, 2, -1]


def test_resolution_change_ends_tracks_in_the_old_frame() -> None:
    t = tracker(min_frames=1)
    run(t, [[(600, 400, 630, 430, 0.9, 0)]])
    ev = t.update(dets(), 1, 1.0, (320, 240))
    assert [(e.kind, e.reason, e.frame_width, e.frame_height) for e in ev] == [
        ("end", "flush", 640, 480)]


def test_flush_ends_announced_tracks_only() -> None:
    t = tracker(min_frames=2)
    run(t, [[(10, 10, 30, 30, 0.9, 0)], [(12, 10, 32, 30, 0.9, 0), (300, 300, 320, 320, 0.9, 1)]])
    ev = t.flush(2, 5.0)
    assert [(e.kind, e.reason, e.track_id) for e in ev] == [("end", "flush", 1)]
    assert t.active_tracks == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Detections(np.zeros((2, 3), np.float32), np.zeros(2, np.float32),
                    np.zeros(2, np.int32)), r"xyxy \(N, 4\)"),
        (Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32),
                    np.zeros(2, np.int32)), r"xyxy \(N, 4\)"),
        (Detections(np.zeros((1, 4), np.float32), np.ones(1, np.float32),
                    np.array([3], np.int32)), r"class id out of range 0..2: \[3\]"),
    ],
)
def test_bad_detections_are_clear_errors(bad: Detections, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tracker().update(bad, 0, 0.0, SIZE)


@pytest.mark.parametrize("size", [(0, 480), (640, -1), (640,), "640x480"])
def test_bad_frame_size(size: object) -> None:
    with pytest.raises(ValueError, match="frame_size"):
        tracker().update(dets(), 0, 0.0, size)  # type: ignore[arg-type]


row = st.tuples(
    st.floats(0, 600), st.floats(0, 440), st.floats(2, 60), st.floats(2, 60),
    st.floats(0.0, 1.0), st.integers(0, 2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(row, max_size=6), min_size=1, max_size=25),
       st.integers(1, 4), st.integers(0, 3))
def test_event_grammar_holds_for_any_input(frames: list[list[tuple[float, ...]]],
                                           min_frames: int, max_missed: int) -> None:
    t = tracker(min_frames=min_frames, max_missed_frames=max_missed)
    events: list[TrackEvent] = []
    for i, f in enumerate(frames):
        rows = [(x, y, x + w, y + h, s, c) for x, y, w, h, s, c in f]
        got = t.update(dets(*rows), i, float(i), SIZE)  # type: ignore[arg-type]
        assert [e.index_in_frame for e in got] == list(range(len(got)))
        events += got
    events += t.flush(len(frames), float(len(frames)))
    assert lifecycle_errors(events, closed=True) == []
    assert t.stats.events_new == t.stats.events_end


def test_max_tracks_bounds_memory_and_counts_drops() -> None:
    t = tracker(max_tracks=3, min_frames=1)
    frame = [(40 * i, 10, 40 * i + 20, 30, 0.9, 0) for i in range(5)]
    ev = run(t, [frame])
    assert [e.track_id for e in ev] == [1, 2, 3]
    assert (t.active_tracks, t.stats.seeds_dropped) == (3, 2)


def test_refinement_queue_is_bounded() -> None:
    t = tracker(min_frames=1)
    run(t, moving(100, 5, 1))
    rle = {"size": [480, 640], "counts": [307200]}
    for _ in range(300):
        t.attach_refinement(1, rle)
    ev = run(t, moving(105, 5, 1), start=1)
    assert [(e.kind, e.reason) for e in ev] == [("update", "refinement")]  # coalesced
    assert t.stats.refinements_overflow == 44


def test_class_flip_keeps_one_track_and_the_vote_names_it() -> None:
    # A scratch the detector calls `crack` in one frame of four: one defect, a scratch.
    classes = [0, 1, 0, 0, 0, 0]
    frames = [[(100 + 10 * i, 100, 140 + 10 * i, 106, 0.8, c)] for i, c in enumerate(classes)]
    t = tracker(min_frames=3)
    ev = run(t, frames)
    assert [(e.kind, e.class_name) for e in ev] == [("new", "scratch")]
    strict = tracker(min_frames=3, match_across_classes=False, merge_iou=0.0)
    assert [e.kind for e in run(strict, frames + frames[2:])] == ["new"]
    assert strict.stats.tracks_started == 2  # the flipped frame started a second track


def test_double_box_of_another_class_is_one_defect() -> None:
    # Class-aware NMS keeps a `dent` box on top of a `crack` box in every frame.
    frames = [[(100 + 10 * i, 100, 130 + 10 * i, 130, 0.8, 1),
               (101 + 10 * i, 101, 131 + 10 * i, 131, 0.6, 2)] for i in range(5)]
    t = tracker(min_frames=3)
    ev = run(t, frames)
    assert [(e.kind, e.class_name) for e in ev] == [("new", "crack")]
    assert t.stats.merged == 5 and t.stats.tracks_started == 1
    assert t.last_track_ids.tolist() == [1, 1]
    strict = tracker(min_frames=3, merge_iou=0.0)
    assert [e.class_name for e in run(strict, frames)] == ["crack", "dent"]


def test_votes_pick_the_majority_class_before_new() -> None:
    classes = [1, 0, 0]  # first seen as crack, then twice as scratch
    frames = [[(100 + 10 * i, 100, 140 + 10 * i, 106, 0.7, c)] for i, c in enumerate(classes)]
    ev = run(tracker(min_frames=3), frames)
    assert [(e.kind, e.class_name, e.class_id) for e in ev] == [("new", "scratch", 0)]


def test_confirmed_track_keeps_its_detection_against_a_young_one() -> None:
    # An announced scratch and, from a stray box, a young dent track predicted on the same spot:
    # the next (crack-labelled) detection goes to the announced defect.
    t = tracker(min_frames=2, merge_iou=0.0)
    run(t, [[(100, 100, 140, 110, 0.9, 0)], [(110, 100, 150, 110, 0.9, 0)]])
    run(t, [[(120, 100, 160, 110, 0.9, 0), (119, 99, 161, 111, 0.9, 2)]], start=2)
    run(t, [[(130, 100, 170, 110, 0.9, 1)]], start=3)
    assert t.last_track_ids.tolist() == [1]
