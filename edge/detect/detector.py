"""The ONNX detector: manifest-checked model, letterbox → onnxruntime → decode + NMS.

No torch, no ultralytics: numpy, OpenCV and onnxruntime only. Buffers are allocated once at
start; a steady camera stream allocates only the small per-detection arrays.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import numpy as np

from edge.detect.decode import DecodeParams, DecodeScratch, decode_yolov8
from edge.detect.letterbox import Geometry, Letterboxer, unletterbox_boxes
from edge.detect.session import ProviderChoice, build_session
from edge.detect.settings import DetectorSettings
from edge.detect.types import Detections, Timings
from lineinspect.manifest import (
    ManifestError,
    ModelIO,
    ModelManifest,
    check_io,
    load_manifest,
    manifest_path_for,
    session_io,
    verify_file,
)

log = logging.getLogger(__name__)

SHIPPED_MODEL = Path("artifacts") / "detector" / "lineinspect-det-v2.onnx"


def shipped_model_path() -> Path:
    """The default detector committed under ``models/`` (located without importing ``models``)."""
    spec = importlib.util.find_spec("models")
    if spec is None or not spec.submodule_search_locations:
        raise ManifestError("no model configured and the shipped models/ folder is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / SHIPPED_MODEL


_NP_DTYPES = {"float32": np.float32, "float16": np.float16}


class Detector:
    """``detect(frame)`` for one BGR frame; ``detect_batch(frames)`` for several cameras.

    Not thread-safe: calls share the pre-allocated input buffer, so one Detector serves one
    inference thread; several cameras share it through ``detect_batch``.
    """

    def __init__(self, settings: DetectorSettings,
                 available_providers: Sequence[str] | None = None) -> None:
        self.settings = settings
        self.model_path = (settings.model or shipped_model_path()).resolve()
        self.manifest: ModelManifest = load_manifest(manifest_path_for(self.model_path))
        verify_file(self.model_path, self.manifest)
        session, choice = build_session(self.model_path, settings, available_providers)
        self.choice: ProviderChoice = choice
        self._session: Any = session
        self.io: ModelIO = check_io(self.model_path, self.manifest, *session_io(session))
        self.class_names: tuple[str, ...] = tuple(self.manifest.class_names)
        self.input_hw: tuple[int, int] = self.manifest.input.size
        self.batch_capacity = settings.batch_size if self.io.dynamic_batch else 1
        if settings.batch_size > 1 and not self.io.dynamic_batch:
            log.warning("batch_size=%d but %s has a fixed batch of 1; frames run one by one",
                        settings.batch_size, self.model_path.name)
        h, w = self.input_hw
        dtype = _NP_DTYPES[self.manifest.input.dtype]
        self._input = np.empty((self.batch_capacity, 3, h, w), dtype)
        self._input.fill(self.manifest.input.letterbox.pad_value / 255.0)
        lb = self.manifest.input.letterbox
        self._letterbox = Letterboxer((h, w), lb.pad_value, lb.scaleup)
        self._params = DecodeParams(conf=settings.conf_threshold, iou=settings.iou_threshold,
                                    max_det=settings.max_detections)
        self._scratch: DecodeScratch | None = None
        self._out_names = [self.io.output_name]
        self._in_name = self.io.input_name
        self.timings = Timings()

    @property
    def provider(self) -> str:
        """The execution provider the session actually runs on."""
        return str(self._session.get_providers()[0])

    def warmup(self) -> None:
        """Run the model on padding so first-frame latency (allocations, kernels) is paid now."""
        for _ in range(self.settings.warmup_runs):
            self._run(1)
            if self.batch_capacity > 1:
                self._run(self.batch_capacity)

    def _run(self, n: int) -> np.ndarray:
        out = self._session.run(self._out_names, {self._in_name: self._input[:n]})[0]
        return np.asarray(out)

    def _post(self, pred: np.ndarray, geom: Geometry) -> Detections:
        if self._scratch is None or self._scratch.best.shape[0] != pred.shape[1]:
            self._scratch = DecodeScratch(pred.shape[1])
        xyxy, score, cls = decode_yolov8(pred, self._params, self._scratch)
        if xyxy.shape[0]:
            unletterbox_boxes(xyxy, geom)
        return Detections(xyxy, score, cls)

    def detect(self, frame: np.ndarray) -> Detections:
        """Detections in ``frame`` (H, W, 3 uint8 BGR), in its own pixel coordinates."""
        t0 = perf_counter_ns()
        geom = self._letterbox(frame, self._input[0], slot=0)
        t1 = perf_counter_ns()
        out = self._run(1)
        t2 = perf_counter_ns()
        det = self._post(out[0], geom)
        t3 = perf_counter_ns()
        self._record(t0, t1, t2, t3, 1)
        return det

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One result per frame, run ``batch_size`` frames at a time on a dynamic-batch model."""
        if self.batch_capacity == 1:
            results = []
            pre = infer = post = 0.0
            for frame in frames:
                results.append(self.detect(frame))
                pre += self.timings.pre_ms
                infer += self.timings.infer_ms
                post += self.timings.post_ms
            self.timings.pre_ms, self.timings.infer_ms, self.timings.post_ms = pre, infer, post
            self.timings.frames = len(frames)
            return results
        results = []
        pre_ns = infer_ns = post_ns = 0
        for start in range(0, len(frames), self.batch_capacity):
            chunk = frames[start:start + self.batch_capacity]
            t0 = perf_counter_ns()
            geoms = [self._letterbox(f, self._input[i], slot=i) for i, f in enumerate(chunk)]
            t1 = perf_counter_ns()
            out = self._run(len(chunk))
            t2 = perf_counter_ns()
            results.extend(self._post(out[i], g) for i, g in enumerate(geoms))
            t3 = perf_counter_ns()
            pre_ns, infer_ns, post_ns = pre_ns + t1 - t0, infer_ns + t2 - t1, post_ns + t3 - t2
        self.timings.pre_ms, self.timings.infer_ms = pre_ns / 1e6, infer_ns / 1e6
        self.timings.post_ms, self.timings.frames = post_ns / 1e6, len(frames)
        return results

    def _record(self, t0: int, t1: int, t2: int, t3: int, frames: int) -> None:
        tm = self.timings
        tm.pre_ms, tm.infer_ms, tm.post_ms = (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6
        tm.frames = frames
