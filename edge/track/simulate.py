"""Detector-like noise on ground-truth boxes, and a replay loop, to test and tune the tracker.

The failure modes a tracker must survive, each a knob: box jitter, per-frame score noise around a
per-defect base score (some defects are simply faint), runs of 1–3 missed frames, and false
positives that last a frame or two. Deterministic for a given generator.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.detect.types import Detections
from edge.track.evaluate import TruthLike
from edge.track.events import TrackEvent
from edge.track.lifecycle import DetectionsLike, EventTracker


@dataclass(frozen=True, slots=True)
class DetectorNoise:
    jitter: float = 0.06  # std of each box edge, as a share of the box's size
    jitter_px: float = 1.0  # plus this many pixels std
    base_score: tuple[float, float] = (0.45, 0.95)  # per-defect mean score, uniform
    score_sigma: float = 0.08  # per-frame score noise
    p_miss: float = 0.08  # chance per frame that a miss run starts
    miss_len: tuple[int, int] = (1, 3)  # inclusive range of a miss run's length
    fp_per_frame: float = 0.05  # expected false positives started per frame
    fp_len: tuple[int, int] = (1, 2)
    fp_score: tuple[float, float] = (0.3, 0.65)
    fp_size: tuple[float, float] = (10.0, 60.0)  # px
    # Class confusion, as a real detector does between look-alike classes (scratch / crack):
    p_flip: float = 0.1  # chance per frame that a defect is reported under another class
    p_double: float = 0.05  # chance per frame of a second box of another class on the defect


@dataclass
class _FalsePositive:
    box: npt.NDArray[np.float64]
    class_id: int
    score: float
    left: int


@dataclass
class NoisyDetector:
    """Turns each frame's ground truth into noisy detections; keeps per-defect state."""

    noise: DetectorNoise
    n_classes: int
    width: int
    height: int
    rng: np.random.Generator
    _base: dict[int, float] = field(default_factory=dict)
    _miss_left: dict[int, int] = field(default_factory=dict)
    _fps: list[_FalsePositive] = field(default_factory=list)

    def __call__(self, truths: Sequence[TruthLike]) -> Detections:
        nz, rng = self.noise, self.rng
        boxes: list[npt.NDArray[np.float64]] = []
        scores: list[float] = []
        classes: list[int] = []
        for t in truths:
            # _miss_left: > 0 frames still to miss; -1 the run just ended, so this frame is seen
            # (two runs never merge into one longer than ``miss_len``); 0 free to start a run.
            left = self._miss_left.get(t.defect_id, 0)
            if left == 0 and rng.random() < nz.p_miss:
                left = int(rng.integers(nz.miss_len[0], nz.miss_len[1] + 1))
            if left > 0:
                self._miss_left[t.defect_id] = left - 1 if left > 1 else -1
                continue
            self._miss_left[t.defect_id] = 0
            base = self._base.setdefault(t.defect_id, float(rng.uniform(*nz.base_score)))
            b = np.asarray(t.box, dtype=np.float64)
            size = np.array([b[2] - b[0], b[3] - b[1]] * 2)
            boxes.append(b + rng.normal(0.0, 1.0, 4) * (nz.jitter * size + nz.jitter_px))
            scores.append(float(np.clip(base + rng.normal(0.0, nz.score_sigma), 0.01, 0.99)))
            flip = self.n_classes > 1 and rng.random() < nz.p_flip
            classes.append(self._other(t.class_id) if flip else t.class_id)
            if self.n_classes > 1 and rng.random() < nz.p_double:
                boxes.append(b + rng.normal(0.0, 1.0, 4) * (nz.jitter * size + nz.jitter_px))
                scores.append(scores[-1] * float(rng.uniform(0.6, 1.0)))
                classes.append(self._other(classes[-1]))
        for _ in range(int(rng.poisson(nz.fp_per_frame))):
            w, h = rng.uniform(*nz.fp_size, 2)
            x, y = rng.uniform(0, self.width - w), rng.uniform(0, self.height - h)
            self._fps.append(_FalsePositive(
                np.array([x, y, x + w, y + h]), int(rng.integers(self.n_classes)),
                float(rng.uniform(*nz.fp_score)),
                int(rng.integers(nz.fp_len[0], nz.fp_len[1] + 1))))
        for fp in self._fps:
            boxes.append(fp.box)
            scores.append(fp.score)
            classes.append(fp.class_id)
            fp.left -= 1
        self._fps = [fp for fp in self._fps if fp.left > 0]
        arr = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        np.clip(arr[:, 0::2], 0, self.width, out=arr[:, 0::2])
        np.clip(arr[:, 1::2], 0, self.height, out=arr[:, 1::2])
        arr[:, 0::2].sort(axis=1)  # jitter may cross the edges of a thin box
        arr[:, 1::2].sort(axis=1)
        order = np.argsort(-np.array(scores), kind="stable")  # best first, as the detector
        arr = arr[order]
        scores = [scores[i] for i in order]
        classes = [classes[i] for i in order]
        return Detections(arr, np.array(scores, dtype=np.float32),
                          np.array(classes, dtype=np.int32))


    def _other(self, class_id: int) -> int:
        return (class_id + int(self.rng.integers(1, self.n_classes))) % self.n_classes


@dataclass
class Replay:
    """A tracker run over a whole sequence: its events (flushed at the end) and update costs."""

    events: list[TrackEvent]
    update_cpu_s: list[float]  # thread CPU time of each update(), immune to other processes
    update_wall_s: list[float]
    max_tracks: int = 0  # most live tracks after any update


def replay(tracker: EventTracker, detections: Iterable[DetectionsLike],
           frame_size: tuple[int, int], fps: float, t0: float = 1_700_000_000.0) -> Replay:
    """Feed one detection set per frame (frame_seq 0, 1, ...) and flush after the last."""
    out = Replay([], [], [])
    seq = 0
    for seq, det in enumerate(detections):
        c0, w0 = time.thread_time(), time.perf_counter()
        out.events += tracker.update(det, seq, t0 + seq / fps, frame_size)
        out.update_cpu_s.append(time.thread_time() - c0)
        out.update_wall_s.append(time.perf_counter() - w0)
        out.max_tracks = max(out.max_tracks, tracker.active_tracks)
    out.events += tracker.flush(seq + 1, t0 + (seq + 1) / fps)
    return out
