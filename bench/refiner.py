"""The refinement stage's cost to the frame path, and the refiner's own speed.

Same run, same machine, same recording of the synthetic conveyor, same shipped detector: the
edge pipeline unpaced (every frame processed, as fast as it goes) with refinement off, then on
with *every* defect flagged (``min_score 0``, every class the detector has; each track refined
once and again for a clearly better view, the product's policy) and the shipped refiner on its
own thread. Unpaced is the worst case: the refiner's onnxruntime session competes with the
detector's for the same cores; a paced camera leaves it the idle time between frames.

Prints the ratio ``fps_refine_on / fps_refine_off`` (target >= 0.85) and, as the last line, one
JSON object: ``fps_refine_off``, ``fps_refine_on``, ``ratio``, ``roi_p50_ms`` / ``roi_p99_ms``
(one ``Refiner.refine`` call per crop), ``mask_iou`` (the synthetic conveyor's truth has no
masks: the model side's evaluation on held-out crops, run in the same process; ``mask_iou_from``
says so), the refine counters
(crops queued / refined / dropped) and the hot path's cost per frame with crops.

    python bench/refiner.py [--seconds 10] [--fps 15] [--repeats 1] [--refine-workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.app import AgentParts, EdgeAgent, model_ref
from edge.metrics import EdgeMetrics
from edge.pipeline.sinks import CallbackSink
from edge.refine.model import SHIPPED_REFINER, Refiner
from edge.refine.stage import RefineStage
from edge.run import build_detectors
from edge.settings import EdgeSettings
from edge.sources.settings import FileSource

REPO = Path(__file__).resolve().parents[1]


class TimedRefiner:
    """The shipped refiner, with each ``refine`` call's wall time kept (the ROI figure)."""

    def __init__(self, refiner: Refiner) -> None:
        self._r = refiner
        self.input_size, self.pad = refiner.input_size, refiner.pad
        self.min_side, self.mask_threshold = refiner.min_side, refiner.mask_threshold
        self.ms: list[float] = []

    def refine(self, crop: np.ndarray, class_name: str | None = None) -> Any:
        t0 = time.perf_counter()
        got = self._r.refine(crop, class_name)
        self.ms.append((time.perf_counter() - t0) * 1000.0)
        return got


class TimedOffer:
    """The camera's refine hook, timed: what the frame path pays to flag, crop and queue. Wall
    time includes waiting for the GIL and the cores (the refiner thread, and on this VM the
    training job); the thread's CPU time is the work itself."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.us_with_crops: list[float] = []
        self.cpu_us_with_crops: list[float] = []

    def offer(self, *args: Any) -> int:
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        n = int(self.inner.offer(*args))
        if n:
            self.us_with_crops.append((time.perf_counter_ns() - t0) / 1000.0)
            self.cpu_us_with_crops.append((time.thread_time_ns() - c0) / 1000.0)
        return n


def _settings(video: Path, refine: bool, class_names: list[str], workers: int) -> EdgeSettings:
    return EdgeSettings(
        site="bench", line="l1", station="s1",
        cameras=[{"id": "cam1", "mm_per_px": 0.2, "source": FileSource(path=video, pace=False)}],
        detector={"providers": ["cpu"]}, tracking={"min_frames": 2},
        refine={"enabled": refine, "min_score": 0.0, "classes": class_names,
                "workers": workers})


def run(video: Path, refine: bool, workers: int) -> dict[str, Any]:
    base = _settings(video, False, ["scratch"], workers)
    dets = build_detectors(base)
    names = [n for n in dets[0].class_names if n not in base.tracking.non_defect_classes]
    settings = _settings(video, refine, names, workers)
    metrics = EdgeMetrics()
    timed = [TimedRefiner(Refiner(SHIPPED_REFINER)) for _ in range(workers)] if refine else []
    stage = RefineStage(settings.refine, timed, metrics) if refine else None
    events: list[object] = []
    lock = threading.Lock()

    def take(e: object) -> None:
        with lock:
            events.append(e)

    parts = AgentParts(detector=dets, model=model_ref(dets[0]), class_names=dets[0].class_names,
                       sinks=[CallbackSink("count", take)], metrics=metrics, refine=stage)
    agent = EdgeAgent(settings, parts)
    t0 = time.perf_counter()
    agent.start()
    cam = agent.cameras[0]
    hook = TimedOffer(cam.refine) if cam.refine is not None else None
    if hook is not None:
        cam.refine = hook  # before the first frame: the loop has only just started
    agent.wait()
    dt = time.perf_counter() - t0
    agent.stop()  # drains the refiner's queue
    out: dict[str, Any] = {"fps": cam.counters.frames / dt, "frames": cam.counters.frames,
                           "events": len(events)}
    if stage is not None and hook is not None:
        c = stage.cameras["cam1"].ctx.counters
        ms = [m for t in timed for m in t.ms]
        out.update(queued=c.queued, refined=c.refined, dropped=c.dropped, empty=c.empty,
                   mask_too_large=c.mask_too_large, roi_ms=ms, offer_us=hook.us_with_crops,
                   offer_cpu_us=hook.cpu_us_with_crops)
    return out


def _mask_iou(crops: int) -> tuple[float | None, str]:
    """The synthetic conveyor's truth has boxes, not masks, so the mask IoU is the model side's
    own evaluation (``models.eval.masks``), run here on ``crops`` held-out jittered-box crops
    through the same edge runtime: mean IoU of the pasted-back mask against the true mask."""
    if crops <= 0:
        return None, "skipped (--iou-crops 0)"
    from models.eval.masks import MaskEvalConfig, evaluate_refiner

    report = evaluate_refiner(MaskEvalConfig(model=SHIPPED_REFINER, count=crops))
    got = report["jittered"]["all"]
    return (float(got["mask_iou_mean"]),
            f"models.eval.masks: {got['n']} held-out jittered-box crops (world "
            f"{report['world']}, seed {report['seed']}); box-only IoU {got['box_iou_mean']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="recording length")
    ap.add_argument("--fps", type=float, default=15.0, help="recording frame rate")
    ap.add_argument("--repeats", type=int, default=1, help="alternating off/on pairs")
    ap.add_argument("--refine-workers", type=int, default=1)
    ap.add_argument("--iou-crops", type=int, default=100,
                    help="held-out crops for the mask IoU (models.eval.masks); 0: skip")
    args = ap.parse_args()
    from lineinspect.render.video import write_video

    work = Path(tempfile.mkdtemp(prefix="lineinspect-bench-refiner-"))
    video, _ = write_video(work / "conveyor.mp4", seed=11, seconds=args.seconds, fps=args.fps)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.seconds:g} s at {args.fps:g} fps, 640x480; refiner {SHIPPED_REFINER.name}, "
          f"{args.refine_workers} worker(s)")
    offs, ons = [], []
    for _ in range(args.repeats):  # alternate: this VM's speed drifts between runs
        offs.append(run(video, False, args.refine_workers))
        ons.append(run(video, True, args.refine_workers))
    off = sorted(offs, key=lambda r: r["fps"])[len(offs) // 2]
    on = sorted(ons, key=lambda r: r["fps"])[len(ons) // 2]
    roi = np.array([m for r in ons for m in r["roi_ms"]] or [float("nan")])
    offer = np.array([u for r in ons for u in r["offer_us"]] or [float("nan")])
    offer_cpu = np.array([u for r in ons for u in r["offer_cpu_us"]] or [float("nan")])
    ratio = on["fps"] / off["fps"]
    iou, iou_from = _mask_iou(args.iou_crops)
    print(f"refine off: {off['fps']:.1f} fps ({off['frames']} frames, {off['events']} events); "
          f"runs {[round(r['fps'], 1) for r in offs]}")
    print(f"refine on:  {on['fps']:.1f} fps ({on['frames']} frames, {on['events']} events); "
          f"runs {[round(r['fps'], 1) for r in ons]}; crops {on['queued']}, refined "
          f"{on['refined']}, dropped {on['dropped']}, empty {on['empty']}")
    print(f"ratio on/off {ratio:.3f} (target >= 0.85); refine p50 {np.percentile(roi, 50):.1f} "
          f"ms, p99 {np.percentile(roi, 99):.1f} ms over {roi.size} crops; hot path per frame "
          f"with crops p50 {np.percentile(offer, 50):.0f} us wall, "
          f"{np.percentile(offer_cpu, 50):.0f} us CPU")
    print(json.dumps({
        "fps_refine_off": round(off["fps"], 2), "fps_refine_on": round(on["fps"], 2),
        "ratio": round(ratio, 3),
        "roi_p50_ms": round(float(np.percentile(roi, 50)), 2),
        "roi_p99_ms": round(float(np.percentile(roi, 99)), 2),
        "mask_iou": None if iou is None else round(iou, 4), "mask_iou_from": iou_from,
        "crops": on["queued"], "refined": on["refined"], "dropped": on["dropped"],
        "offer_p50_us": round(float(np.percentile(offer, 50)), 1),
        "offer_p99_us": round(float(np.percentile(offer, 99)), 1),
        "offer_cpu_p50_us": round(float(np.percentile(offer_cpu, 50)), 1),
        "frames": on["frames"], "repeats": args.repeats, "refine_workers": args.refine_workers,
    }))


if __name__ == "__main__":
    main()
