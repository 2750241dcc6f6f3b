"""Tracker benchmark: event-level accuracy on the synthetic conveyor, and update() cost.

    nice -n 15 .venv/bin/python bench/track_eval.py                  # noisy ground truth
    nice -n 15 .venv/bin/python bench/track_eval.py --detector shipped   # + the real detector

Accuracy (same ground truth, same noise, same run), scored per physical defect whatever class the
detector named it (``class recall`` also asks for the right class):
  * ``per-frame``: the obvious alternative, one event per confident detection per frame (what a
    detector-only pipeline publishes) — duplicates per defect is then ~ frames in view;
  * ``iou-only``: ByteTrack-style IoU association without our conveyor additions;
  * ``ours`` and ablations with one addition removed each.
Cost: ``update()`` with ~20 detections and ~20 live tracks, thread CPU time (the machine may be
busy) and wall time. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.detect.types import Detections
from edge.track.evaluate import EventScore, TruthLike, detectable_defects, score_events
from edge.track.lifecycle import EventTracker
from edge.track.settings import TrackingSettings
from edge.track.simulate import DetectorNoise, NoisyDetector, replay
from models.eval.events import WireEvent

CLASSES = ("scratch", "crack", "dent")
NOISE = {
    "realistic": DetectorNoise(),
    "no-class-confusion": DetectorNoise(p_flip=0.0, p_double=0.0),
    "harsh": DetectorNoise(jitter=0.1, p_miss=0.15, score_sigma=0.12, fp_per_frame=0.3),
}
VARIANTS: dict[str, dict[str, Any]] = {
    "ours": {},
    "no-belt-prior": {"belt_prior": False},
    "no-centre-gate": {"centre_gate": 0.0},
    "no-shape-gate": {"centre_max_size_ratio": 0.0},
    "same-class-only": {"match_across_classes": False, "merge_iou": 0.0},
    "iou-only": {"belt_prior": False, "centre_gate": 0.0, "match_across_classes": False,
                 "merge_iou": 0.0},
}


def render_truth(seed: int, frames: int, width: int, height: int,
                 fps: float) -> list[list[TruthLike]]:
    from lineinspect.render.video import ConveyorScene

    scene = ConveyorScene(seed, width, height, fps)
    return [list(scene.render(i)[1]) for i in range(frames)]


def per_frame_events(dets: Sequence[Detections], threshold: float) -> list[WireEvent]:
    """Every confident detection of every frame published as a `new` event."""
    return [WireEvent(0, "new", int(c), tuple(b), i, i)
            for i, d in enumerate(dets)
            for b, s, c in zip(d.xyxy.tolist(), d.score.tolist(), d.class_id.tolist(),
                               strict=True) if s >= threshold]


def add(total: dict[str, float], truth: Sequence[Sequence[TruthLike]],
        events: Sequence[Any]) -> None:
    """Tracker figures are class-agnostic (a defect the detector misnames still got its one
    `new`); ``class_recall`` also asks for the right class."""
    by_frame = dict(enumerate(truth))
    s: EventScore = score_events(by_frame, events, class_aware=False)
    aware = score_events(by_frame, events)
    for k in ("required", "found", "duplicates", "false_new", "new_events"):
        total[k] = total.get(k, 0) + getattr(s, k)
    total["found_class"] = total.get("found_class", 0) + aware.found


def rates(t: dict[str, float]) -> dict[str, float]:
    req = max(t.get("required", 0), 1)
    return {"required": t.get("required", 0), "recall": round(t.get("found", 0) / req, 4),
            "duplicates_per_defect": round(t.get("duplicates", 0) / req, 4),
            "false_new": t.get("false_new", 0),
            "class_recall": round(t.get("found_class", 0) / req, 4)}


def accuracy(truths: list[list[list[TruthLike]]], noise_seeds: int, width: int, height: int,
             fps: float) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for noise_name, noise in NOISE.items():
        totals: dict[str, dict[str, float]] = {v: {} for v in [*VARIANTS, "per-frame"]}
        for ti, truth in enumerate(truths):
            for ns in range(noise_seeds):
                det = NoisyDetector(noise, len(CLASSES), width, height,
                                    np.random.default_rng([ti, ns]))
                dets = [det(g) for g in truth]
                for name, kw in VARIANTS.items():
                    tracker = EventTracker(TrackingSettings(**kw), CLASSES)
                    run = replay(tracker, dets, (width, height), fps)
                    add(totals[name], truth, run.events)
                add(totals["per-frame"], truth,
                    per_frame_events(dets, TrackingSettings().default_confidence))
        out[noise_name] = {k: rates(v) for k, v in totals.items()}
    return out


def crowded_frames(n_frames: int, n_boxes: int, seed: int = 0) -> Iterator[Detections]:
    """~n_boxes defects moving on a 1280 x 720 belt (wrapping), jittered, random scores."""
    rng = np.random.default_rng(seed)
    w, h = 1280, 720
    xy = np.stack([rng.uniform(0, w - 60, n_boxes), rng.uniform(0, h - 60, n_boxes)], 1)
    wh = rng.uniform(12, 60, (n_boxes, 2))
    cls = rng.integers(0, len(CLASSES), n_boxes).astype(np.int32)
    for i in range(n_frames):
        x = (xy[:, 0] + 7 * i) % (w - 60)
        b = np.stack([x, xy[:, 1], x + wh[:, 0], xy[:, 1] + wh[:, 1]], 1)
        b += rng.normal(0, 1.0, b.shape)
        yield Detections(b.astype(np.float32), rng.uniform(0.3, 0.95, n_boxes).astype(np.float32),
                         cls)


def cost(n_frames: int = 3000, n_boxes: int = 20) -> dict[str, float]:
    tracker = EventTracker(TrackingSettings(), CLASSES)
    run = replay(tracker, crowded_frames(n_frames, n_boxes), (1280, 720), 30.0)
    cpu = np.array(run.update_cpu_s[100:]) * 1e6
    wall = np.array(run.update_wall_s[100:]) * 1e6
    return {"detections": n_boxes, "tracks": run.max_tracks,
            "cpu_p50_us": round(float(np.percentile(cpu, 50)), 1),
            "cpu_p99_us": round(float(np.percentile(cpu, 99)), 1),
            "wall_p50_us": round(float(np.percentile(wall, 50)), 1),
            "wall_p99_us": round(float(np.percentile(wall, 99)), 1)}


def with_detector(model: str, seed: int, frames: int, width: int, height: int,
                  fps: float) -> dict[str, Any]:
    """Real frames through the real ONNX detector, then the tracker; scored on the same GT."""
    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings
    from lineinspect.render.video import ConveyorScene

    settings = DetectorSettings(providers=["cpu"]) if model == "shipped" else DetectorSettings(
        model=Path(model), providers=["cpu"])
    detector = Detector(settings)
    scene = ConveyorScene(seed, width, height, fps)
    truth: list[list[TruthLike]] = []
    dets: list[Detections] = []
    t0 = time.perf_counter()
    for i in range(frames):
        img, gt = scene.render(i)
        truth.append(list(gt))
        dets.append(detector.detect(img))
    elapsed = time.perf_counter() - t0
    tracker = EventTracker(TrackingSettings(), detector.class_names)
    run = replay(tracker, dets, (width, height), fps)
    ours: dict[str, float] = {}
    naive: dict[str, float] = {}
    add(ours, truth, run.events)
    threshold = TrackingSettings().default_confidence
    add(naive, truth, per_frame_events(dets, threshold))
    by_frame = dict(enumerate(truth))
    confident = {i: [(b, s) for b, s in zip(d.xyxy.tolist(), d.score.tolist(), strict=True)
                     if s >= threshold] for i, d in enumerate(dets)}
    seen = detectable_defects(by_frame, confident, TrackingSettings().min_frames)
    own = score_events(by_frame, run.events, class_aware=False, only=seen)
    missed = score_events(by_frame, run.events, class_aware=False).missed_ids
    return {"model": str(detector.model_path), "frames": frames,
            "render_detect_s": round(elapsed, 1), "ours": rates(ours),
            "per-frame": rates(naive), "missed_ids": missed,
            "detectable": own.required, "tracker_recall_of_detectable": round(own.recall, 4),
            "tracker_missed_detectable": own.missed_ids}


def table(rows: dict[str, dict[str, float]], out: Callable[[str], None]) -> None:
    out(f"  {'variant':16} {'defects':>8} {'recall':>8} {'dup/defect':>11} {'false new':>10} "
        f"{'class recall':>13}")
    for name, r in rows.items():
        out(f"  {name:16} {r['required']:8.0f} {r['recall']:8.3f} "
            f"{r['duplicates_per_defect']:11.3f} {r['false_new']:10.0f} "
            f"{r['class_recall']:13.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="conveyor scenes")
    ap.add_argument("--frames", type=int, default=900, help="frames per scene (15 fps)")
    ap.add_argument("--noise-seeds", type=int, default=3)
    ap.add_argument("--detector", default=None,
                    help="'shipped' or an ONNX path: also score the real detector (seed 0)")
    args = ap.parse_args(argv)
    width, height, fps = 640, 480, 15.0
    result: dict[str, Any] = {}

    t0 = time.perf_counter()
    truths = [render_truth(s, args.frames, width, height, fps) for s in args.seeds]
    print(f"ground truth: {len(args.seeds)} scenes x {args.frames} frames "
          f"({time.perf_counter() - t0:.0f} s)")
    result["accuracy"] = accuracy(truths, args.noise_seeds, width, height, fps)
    for noise_name, rows in result["accuracy"].items():
        print(f"\nnoise: {noise_name} ({NOISE[noise_name]})")
        table(rows, print)

    result["cost"] = cost()
    result["cost_small"] = cost(n_boxes=5)
    print()
    for c in (result["cost_small"], result["cost"]):
        print(f"update() with {c['detections']} detections, {c['tracks']} tracks: CPU p50 "
              f"{c['cpu_p50_us']} us p99 {c['cpu_p99_us']} us; wall p50 {c['wall_p50_us']} us "
              f"p99 {c['wall_p99_us']} us")

    if args.detector:
        result["detector"] = with_detector(args.detector, args.seeds[0], args.frames, width,
                                           height, fps)
        d = result["detector"]
        print(f"\nreal detector {d['model']} on scene {args.seeds[0]}:\n  ours      {d['ours']}\n"
              f"  per-frame {d['per-frame']}\n  the detector sees {d['detectable']} defects in "
              f">= min_frames frames; the tracker reports "
              f"{d['tracker_recall_of_detectable']:.3f} of them")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
