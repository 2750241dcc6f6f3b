"""One `new` per physical defect on the synthetic conveyor video, scored against its ground truth.

Two sources of detections:
* the ground-truth boxes with detector-like noise (jitter, score noise, 1–3-frame misses, short
  false positives, class flips and double boxes of another class) — the tracker alone, many
  noise draws;
* the shipped ONNX detector on the rendered frames — the done-when of the edge issue.

Recall and duplicates are counted per physical defect, whatever class each `new` named: a
subscriber sees two events for one defect either way, and naming the class is the detector's job
(its mAP is on the model card). The class the tracker reports is checked separately: its vote
over the detections must beat the per-frame class noise by a wide margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.track.evaluate import (
    EventScore,
    TruthLike,
    detectable_defects,
    lifecycle_errors,
    score_events,
)
from edge.track.events import TrackEvent
from edge.track.lifecycle import EventTracker
from edge.track.settings import TrackingSettings
from edge.track.simulate import DetectorNoise, NoisyDetector, replay
from lineinspect.render.params import CLASS_NAMES
from lineinspect.render.video import ConveyorScene

WIDTH, HEIGHT, FPS = 640, 480, 15.0
SCENES = (0, 1)
FRAMES = 450  # 30 s of belt per scene: ~22 defects each
SHIPPED_MODEL = (Path(__file__).resolve().parents[1] / "models" / "artifacts" / "detector"
                 / "lineinspect-det-v2.onnx")


def _truth(scene: ConveyorScene, index: int) -> list[TruthLike]:
    # Labels only: a scene that can give them without drawing the frame saves ~90% of the time.
    labels = getattr(scene, "truth", None)
    return list(labels(index) if labels is not None else scene.render(index)[1])


@pytest.fixture(scope="module")
def truths() -> list[list[list[TruthLike]]]:
    out: list[list[list[TruthLike]]] = []
    for seed in SCENES:
        scene = ConveyorScene(seed, WIDTH, HEIGHT, FPS)
        out.append([_truth(scene, i) for i in range(FRAMES)])
    return out


def _total(scores: list[EventScore]) -> tuple[int, float, float, int]:
    required = sum(s.required for s in scores)
    found = sum(s.found for s in scores)
    dups = sum(s.duplicates for s in scores)
    return required, found / required, dups / required, sum(s.false_new for s in scores)


@pytest.mark.slow
def test_one_new_per_defect_under_detector_noise(truths: list[list[list[TruthLike]]]) -> None:
    scores: list[EventScore] = []
    physical: list[EventScore] = []
    for ti, truth in enumerate(truths):
        for noise_seed in range(4):
            noisy = NoisyDetector(DetectorNoise(), len(CLASS_NAMES), WIDTH, HEIGHT,
                                  np.random.default_rng([ti, noise_seed]))
            tracker = EventTracker(TrackingSettings(), CLASS_NAMES)
            run = replay(tracker, (noisy(g) for g in truth), (WIDTH, HEIGHT), FPS)
            assert lifecycle_errors(run.events, closed=True) == []
            scores.append(score_events(dict(enumerate(truth)), run.events))
            physical.append(score_events(dict(enumerate(truth)), run.events, class_aware=False))
    required, recall, dups_per_defect, false_new = _total(physical)
    assert required >= 100  # enough defects for the rates to mean something
    assert recall >= 0.95, [s.missed_ids for s in physical]
    assert dups_per_defect <= 0.05, [s.duplicate_ids for s in physical]
    assert false_new <= 0.02 * required
    # Right class: 10% of detections carry a wrong one, so naming a defect after any one
    # detection is wrong 10% of the time; the vote over its first frames must do clearly better
    # (measured 3–5%: two flips among the three frames before `new` still fool it).
    named_right = sum(s.found for s in scores) / sum(s.found for s in physical)
    assert named_right >= 1.0 - 0.6 * DetectorNoise().p_flip


@pytest.mark.slow
def test_iou_only_association_fails_where_ours_holds(truths: list[list[list[TruthLike]]]) -> None:
    """Our additions are what pass the bar: plain same-class IoU matching (ByteTrack's) loses
    fast small defects and splits class-flipping ones (fails if the scene stops exercising them)."""
    truth = truths[0]
    noisy = NoisyDetector(DetectorNoise(), len(CLASS_NAMES), WIDTH, HEIGHT,
                          np.random.default_rng(5))
    dets = [noisy(g) for g in truth]
    plain = EventTracker(TrackingSettings(belt_prior=False, centre_gate=0.0,
                                          match_across_classes=False, merge_iou=0.0), CLASS_NAMES)
    events = replay(plain, dets, (WIDTH, HEIGHT), FPS).events
    s = score_events(dict(enumerate(truth)), events, class_aware=False)
    assert s.recall < 0.95 or s.duplicates_per_defect > 0.05


@dataclass
class ShippedRun:
    truth: dict[int, list[TruthLike]]
    detectable: set[int]  # found by the detector in >= min_frames frames
    events: list[TrackEvent]


@pytest.fixture(scope="module")
def shipped_runs() -> list[ShippedRun]:
    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings

    settings = TrackingSettings()
    # As `edge run` builds it (edge.run.pipeline_detector_settings): scores down to the
    # tracker's low-confidence band, which keeps tracks alive through faint frames.
    detector = Detector(DetectorSettings(model=SHIPPED_MODEL, providers=["cpu"],
                                         conf_threshold=settings.low_confidence))
    runs = []
    for seed in SCENES:
        scene = ConveyorScene(seed, WIDTH, HEIGHT, FPS)
        truth: dict[int, list[TruthLike]] = {}
        dets = []
        for i in range(FRAMES):
            img, gt = scene.render(i)
            truth[i] = list(gt)
            dets.append(detector.detect(img))
        confident = {i: [(b, sc) for b, sc in zip(d.xyxy.tolist(), d.score.tolist(), strict=True)
                         if sc >= settings.default_confidence] for i, d in enumerate(dets)}
        tracker = EventTracker(settings, detector.class_names)
        events = replay(tracker, dets, (WIDTH, HEIGHT), FPS).events
        runs.append(ShippedRun(truth, detectable_defects(truth, confident, settings.min_frames),
                               events))
    return runs


@pytest.mark.slow
def test_shipped_detector_each_detectable_defect_gets_one_new(
        shipped_runs: list[ShippedRun]) -> None:
    """The tracker's share of the done-when: of the defects the shipped detector sees at all
    (in >= min_frames frames), >= 95% get a `new`, and duplicates stay <= 0.05 per defect."""
    scores = []
    for run in shipped_runs:
        assert lifecycle_errors(run.events, closed=True) == []
        scores.append(score_events(run.truth, run.events, class_aware=False,
                                   only=run.detectable))
    required, recall, dups_per_defect, _ = _total(scores)
    assert required >= 30
    assert recall >= 0.95, [s.missed_ids for s in scores]
    assert dups_per_defect <= 0.05, [s.duplicate_ids for s in scores]


@pytest.mark.slow
def test_shipped_detector_done_when(shipped_runs: list[ShippedRun]) -> None:
    """The issue's done-when end to end: recall >= 0.95 over every defect in view."""
    scores = [score_events(run.truth, run.events, class_aware=False) for run in shipped_runs]
    _, recall, dups_per_defect, _ = _total(scores)
    assert dups_per_defect <= 0.05
    assert recall >= 0.95, [s.missed_ids for s in scores]
