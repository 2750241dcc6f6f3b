"""Edge pipeline throughput and latency against raw onnxruntime and ultralytics' predictor.

Same run, same machine, same video, same fp32 model:
  (a) raw ``session.run`` fps on tensors pre-processed beforehand (the ceiling): one session
      with onnxruntime's default threads, and ``--workers`` sessions run side by side;
  (b) our pipeline end to end (decode → letterbox → run → decode/NMS → track → events), unpaced,
      every frame processed, with ``--workers`` inference workers (``detector.workers``, the
      throughput configuration) and with one; and its p50/p99 capture-to-event latency with the
      source paced at or below model speed, with ``--latency-workers`` workers (default 1, the
      product's latency configuration) and, for comparison, with ``--workers`` (``--repeats``
      paced runs of each, alternating; the run with the median p99 is reported);
  (c) ultralytics ``YOLO(model.onnx).predict(stream=True)`` over the same video;
  (d) our pipeline with the INT8 model (``--workers`` and one worker), and ultralytics'
      predictor on that INT8 model.
The last line printed is one JSON object with the figures; ``workers`` says how many workers
``fps_pipeline``/``fps_pipeline_int8`` ran with, ``p99_latency_workers`` how many the
``p50_latency_ms``/``p99_latency_ms``/``model_latency_ms`` figures ran with.

    python bench/edge_pipeline.py [--model M.onnx] [--int8 M-int8.onnx] [--seconds 30]
                                  [--workers 2] [--latency-workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from edge.app import AgentParts, EdgeAgent, model_ref
from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from edge.metrics import EdgeMetrics
from edge.pipeline.sinks import CallbackSink
from edge.run import build_detectors
from edge.settings import EdgeSettings
from edge.sources.settings import FileSource

REPO = Path(__file__).resolve().parents[1]

T = TypeVar("T")
DEFAULT_MODEL = REPO / "models" / "artifacts" / "detector" / "lineinspect-det-v2.onnx"
DEFAULT_INT8 = REPO / "models" / "artifacts" / "detector" / "lineinspect-det-v2-int8.onnx"


def _video(seconds: float, fps: float, workdir: Path) -> Path:
    from lineinspect.render.video import write_video

    path, _ = write_video(workdir / "conveyor.mp4", seed=11, seconds=seconds, fps=fps)
    return path


def _frames(video: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def raw_ort_fps(model: Path, frames: list[np.ndarray], runs: int,
                sessions: int = 1) -> tuple[float, float]:
    """fps and mean ms of session.run alone, inputs letterboxed beforehand; with ``sessions``
    > 1, that many sessions (threads split as ``detector.workers`` splits them) run side by side
    from as many threads, ``runs`` in all."""
    ds = DetectorSettings(model=model, providers=["cpu"], warmup_runs=3, workers=sessions)
    dets = [Detector(ds) for _ in range(sessions)]
    tensors = []
    for img in frames[:32]:
        buf = np.empty_like(dets[0]._input[:1])
        dets[0]._letterbox(img, buf[0], slot=0)
        tensors.append(buf)

    def loop(det: Detector, n: int) -> None:
        sess, name, out = det._session, det._in_name, det._out_names
        for i in range(n):
            sess.run(out, {name: tensors[i % len(tensors)]})

    for det in dets:
        det.warmup()
    threads = [threading.Thread(target=loop, args=(d, runs // sessions)) for d in dets]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    done = runs // sessions * sessions
    return done / dt, dt / done * 1000 * sessions


SPIN: bool | None = None  # --spinning/--no-spinning; None: the product's default


def _settings(video: Path, model: Path, pace: bool, workers: int = 1) -> EdgeSettings:
    detector: dict[str, object] = {"model": model, "providers": ["cpu"], "workers": workers}
    if SPIN is not None:
        detector["thread_spinning"] = SPIN
    return EdgeSettings(site="bench", line="l1", station="s1",
                        cameras=[{"id": "cam1", "source": FileSource(path=video, pace=pace)}],
                        detector=detector)


def pipeline_run(video: Path, model: Path, pace: bool, workers: int) -> dict[str, float]:
    settings = _settings(video, model, pace, workers)
    dets = build_detectors(settings)  # as `edge run` builds them, warmed up
    det = dets[0]
    events: list[object] = []
    parts = AgentParts(detector=dets, model=model_ref(det), class_names=det.class_names,
                       sinks=[CallbackSink("count", events.append)], metrics=EdgeMetrics())
    agent = EdgeAgent(settings, parts)
    t0 = time.perf_counter()
    agent.start()
    agent.wait()
    dt = time.perf_counter() - t0
    agent.stop()
    cam = agent.cameras[0]
    frames = cam.counters.frames
    p50, p99 = cam.event_latency.percentiles((50.0, 99.0))
    f50, f99 = cam.frame_latency.percentiles((50.0, 99.0))
    m50 = cam.model_latency.percentiles((50.0,))[0]
    return {"fps": frames / dt, "frames": frames, "events": len(events),
            "dropped": cam.counters.capture_dropped, "event_p50_ms": p50, "event_p99_ms": p99,
            "frame_p50_ms": f50, "frame_p99_ms": f99, "model_p50_ms": m50}


def ultralytics_fps(model: Path, video: Path, imgsz: int) -> tuple[float, int]:
    from models.train.offline import apply_settings, prepare_offline

    prepare_offline(Path(tempfile.gettempdir()) / "lineinspect-bench-yolo")
    from ultralytics import YOLO

    apply_settings()
    yolo = YOLO(str(model), task="detect")
    # Warm up on the first frames, as the pipeline's warm-up does.
    for _ in yolo.predict(str(video), stream=True, imgsz=imgsz, device="cpu", verbose=False,
                          vid_stride=50):
        pass
    n = 0
    t0 = time.perf_counter()
    for _ in yolo.predict(str(video), stream=True, imgsz=imgsz, device="cpu", verbose=False):
        n += 1
    return n / (time.perf_counter() - t0), n


def _median(runs: list[T], key: Callable[[T], float]) -> T:
    return sorted(runs, key=key)[len(runs) // 2]


def _fps_runs(runs: list[dict[str, float]]) -> list[float]:
    return [round(r["fps"], 1) for r in runs]


def _paced(video: Path, model: Path, fps: float, workers: int,
           runs: list[dict[str, float]]) -> dict[str, float]:
    """Latency with the source paced at the video's rate, below model speed: what a camera
    does. The median of ``runs`` by p99 (a p99 of one 20 s run is its 3rd-worst frame)."""
    paced = _median(runs, key=lambda r: r["event_p99_ms"])
    print(f"    pipeline paced at {fps:g} fps, {workers} worker(s): capture-to-event p50 "
          f"{paced['event_p50_ms']:.1f} ms, p99 {paced['event_p99_ms']:.1f} ms; "
          f"model p50 {paced['model_p50_ms']:.1f} ms (p99/model "
          f"{paced['event_p99_ms'] / paced['model_p50_ms']:.2f}); p99 runs "
          f"{[round(r['event_p99_ms'], 1) for r in runs]}, model p50 runs "
          f"{[round(r['model_p50_ms'], 1) for r in runs]}")
    return paced


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--int8", type=Path, default=DEFAULT_INT8)
    ap.add_argument("--seconds", type=float, default=30.0, help="video length")
    ap.add_argument("--fps", type=float, default=15.0, help="video frame rate")
    ap.add_argument("--runs", type=int, default=300, help="raw session.run calls")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating runs of each contender; medians are reported")
    ap.add_argument("--spinning", action=argparse.BooleanOptionalAction, default=None,
                    help="pipeline detector's onnxruntime thread spinning (default: settings')")
    ap.add_argument("--workers", type=int, default=2,
                    help="detector.workers of the unpaced (throughput) pipeline runs; default 2, "
                    "the throughput configuration for a 2-core CPU box")
    ap.add_argument("--latency-workers", type=int, default=1,
                    help="detector.workers of the paced latency figures (default 1: the lowest "
                    "latency); the paced run is repeated with --workers for comparison")
    args = ap.parse_args()
    global SPIN
    SPIN = args.spinning
    nw, lw = args.workers, args.latency_workers
    work = Path(tempfile.mkdtemp(prefix="lineinspect-bench-"))
    video = _video(args.seconds, args.fps, work)
    frames = _frames(video)
    imgsz = Detector(DetectorSettings(model=args.model, providers=["cpu"])).input_hw[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"video {len(frames)} frames 640x480; model {args.model.name} @ {imgsz}px; "
          f"throughput runs with {nw} worker(s), latency with {lw}")

    # Alternate the contenders and keep medians: this VM's speed drifts between back-to-back
    # runs by more than the differences being measured.
    raws, rawns, pipes, pipe1s, uls = [], [], [], [], []
    for _ in range(args.repeats):
        raws.append(raw_ort_fps(args.model, frames, args.runs))
        if nw > 1:
            rawns.append(raw_ort_fps(args.model, frames, args.runs, sessions=nw))
        pipes.append(pipeline_run(video, args.model, pace=False, workers=nw))
        if nw > 1:
            pipe1s.append(pipeline_run(video, args.model, pace=False, workers=1))
        uls.append(ultralytics_fps(args.model, video, imgsz))
    raw_fps, raw_ms = _median(raws, key=lambda r: r[0])
    pipe = _median(pipes, key=lambda r: r["fps"])
    pipe1 = _median(pipe1s, key=lambda r: r["fps"]) if pipe1s else pipe
    ul_fps, ul_n = _median(uls, key=lambda r: r[0])
    print(f"(a) raw onnxruntime session.run: {raw_fps:.1f} fps ({raw_ms:.1f} ms); "
          f"runs {[round(r[0], 1) for r in raws]}")
    if rawns:
        rn = _median(rawns, key=lambda r: r[0])
        print(f"    {nw} sessions side by side: {rn[0]:.1f} fps ({rn[1]:.1f} ms a run); "
              f"runs {[round(r[0], 1) for r in rawns]}")
    print(f"(b) pipeline fp32, unpaced, {nw} worker(s): {pipe['fps']:.1f} fps over "
          f"{pipe['frames']} frames, {pipe['events']} events; runs {_fps_runs(pipes)}")
    if pipe1s:
        print(f"    1 worker: {pipe1['fps']:.1f} fps, {pipe1['events']} events; "
              f"runs {_fps_runs(pipe1s)}")
    print(f"(c) ultralytics predict(stream=True) fp32: {ul_fps:.1f} fps over {ul_n} frames; "
          f"runs {[round(r[0], 1) for r in uls]}")
    # Paced runs alternate the latency and the throughput configuration, medians of each.
    lat_runs: list[dict[str, float]] = []
    latn_runs: list[dict[str, float]] = []
    for _ in range(args.repeats):
        lat_runs.append(pipeline_run(video, args.model, pace=True, workers=lw))
        if nw != lw:
            latn_runs.append(pipeline_run(video, args.model, pace=True, workers=nw))
    paced = _paced(video, args.model, args.fps, lw, lat_runs)
    result: dict[str, float | int | str | list[float]] = {
        "fps_raw_ort": round(raw_fps, 2), "fps_pipeline": round(pipe["fps"], 2),
        "fps_pipeline_1worker": round(pipe1["fps"], 2),
        "fps_ultralytics": round(ul_fps, 2),
        "p50_latency_ms": round(paced["event_p50_ms"], 2),
        "p99_latency_ms": round(paced["event_p99_ms"], 2),
        "model_latency_ms": round(paced["model_p50_ms"], 2),
        "pipeline_vs_raw": round(pipe["fps"] / raw_fps, 3),
        "pipeline_1worker_vs_raw": round(pipe1["fps"] / raw_fps, 3),
        "pipeline_vs_ultralytics": round(pipe["fps"] / ul_fps, 3),
        "p99_latency_vs_model": round(paced["event_p99_ms"] / paced["model_p50_ms"], 2),
        "p99_latency_ms_runs": [round(r["event_p99_ms"], 2) for r in lat_runs],
        "workers": nw, "p99_latency_workers": lw,
        "repeats": args.repeats,
        "thread_spinning": str(_settings(video, args.model, False).detector.thread_spinning),
    }
    if rawns:
        rawn_fps = _median(rawns, key=lambda r: r[0])[0]
        result["fps_raw_ort_sessions"] = round(rawn_fps, 2)
        result["pipeline_vs_raw_sessions"] = round(pipe["fps"] / rawn_fps, 3)
    if nw != lw:
        pn = _paced(video, args.model, args.fps, nw, latn_runs)
        result.update({"p50_latency_ms_workers": round(pn["event_p50_ms"], 2),
                       "p99_latency_ms_workers": round(pn["event_p99_ms"], 2),
                       "model_latency_ms_workers": round(pn["model_p50_ms"], 2),
                       "p99_latency_vs_model_workers": round(
                           pn["event_p99_ms"] / pn["model_p50_ms"], 2),
                       "p99_latency_ms_workers_runs": [round(r["event_p99_ms"], 2)
                                                       for r in latn_runs]})
    if args.int8.is_file():
        p8s, p81s, u8s = [], [], []
        for _ in range(args.repeats):
            p8s.append(pipeline_run(video, args.int8, pace=False, workers=nw))
            if nw > 1:
                p81s.append(pipeline_run(video, args.int8, pace=False, workers=1))
            u8s.append(ultralytics_fps(args.int8, video, imgsz))
        pi8 = _median(p8s, key=lambda r: r["fps"])
        pi81 = _median(p81s, key=lambda r: r["fps"]) if p81s else pi8
        ul8 = _median(u8s, key=lambda r: r[0])[0]
        print(f"(d) pipeline INT8, {nw} worker(s): {pi8['fps']:.1f} fps (1 worker "
              f"{pi81['fps']:.1f}); ultralytics on INT8: {ul8:.1f} fps; runs {_fps_runs(p8s)} "
              f"(1 worker {_fps_runs(p81s)}) vs {[round(r[0], 1) for r in u8s]}")
        result.update({"fps_pipeline_int8": round(pi8["fps"], 2),
                       "fps_pipeline_int8_1worker": round(pi81["fps"], 2),
                       "fps_ultralytics_int8": round(ul8, 2),
                       "int8_vs_ultralytics_fp32": round(pi8["fps"] / ul_fps, 3),
                       "int8_vs_ultralytics_int8": round(pi8["fps"] / ul8, 3),
                       "int8_1worker_vs_ultralytics_int8": round(pi81["fps"] / ul8, 3)})
    else:
        print(f"(d) skipped: no INT8 model at {args.int8}")
    print(f"ratios: pipeline/raw {result['pipeline_vs_raw']}, pipeline/ultralytics "
          f"{result['pipeline_vs_ultralytics']}, p99/model {result['p99_latency_vs_model']}"
          f" ({lw} worker(s)), INT8 pipeline/ultralytics INT8 "
          f"{result.get('int8_vs_ultralytics_int8', '-')}")
    print(json.dumps(result))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
