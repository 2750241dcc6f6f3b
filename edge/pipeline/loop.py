"""The inference loop: newest frame of every camera → detector → each camera's pipeline.

One thread runs the model for all cameras (onnxruntime already uses every core for one run, so
parallel runs would only contend), batching frames of several cameras when the model has a
dynamic batch. Frames that arrive while the model is busy are replaced in the capture mailbox
(newest wins) and counted there, so the loop never falls behind the cameras.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from edge.detect.types import Detections, Timings
from edge.pipeline.camera import CameraPipeline
from edge.sources.frame import EndOfStream, Frame

log = logging.getLogger(__name__)

SINGLE_WAIT_S = 0.1  # one camera: block on its mailbox this long per wake-up
IDLE_SLEEP_S = 0.002  # several cameras and none has a frame: nap instead of spinning


class DetectorLike(Protocol):
    batch_capacity: int
    timings: Timings

    def detect(self, frame: np.ndarray) -> Detections: ...

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]: ...


class InferenceLoop:
    """Runs until every source has ended or :meth:`stop` is called; then flushes the trackers."""

    def __init__(self, detector: DetectorLike, cameras: Sequence[CameraPipeline]) -> None:
        self.detector = detector
        self.cameras = list(cameras)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference")
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def start(self) -> InferenceLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        active = list(self.cameras)
        try:
            while active and not self._stop.is_set():
                if len(active) == 1:
                    self._step_single(active)
                else:
                    self._step_multi(active)
        except BaseException as exc:  # surfaced to the composition root, which exits non-zero
            self.error = exc
            log.exception("inference loop failed")
        finally:
            for cam in self.cameras:
                try:
                    cam.finish()
                except Exception:
                    log.exception("%s: flushing the tracker failed", cam.camera_id)
            self.finished.set()

    def _take(self, cam: CameraPipeline, timeout: float, active: list[CameraPipeline]
              ) -> Frame | None:
        try:
            return cam.capture.get(timeout)
        except EndOfStream as end:
            log.info("%s: source ended (%s)", cam.camera_id, end.reason)
            active.remove(cam)
            return None

    def _step_single(self, active: list[CameraPipeline]) -> None:
        cam = active[0]
        frame = self._take(cam, SINGLE_WAIT_S, active)
        if frame is None:
            return
        det = self.detector.detect(frame.image)
        cam.process(frame, det, self.detector.timings)

    def _step_multi(self, active: list[CameraPipeline]) -> None:
        got: list[tuple[CameraPipeline, Frame]] = []
        for cam in list(active):
            frame = self._take(cam, 0.0, active)
            if frame is not None:
                got.append((cam, frame))
        if not got:
            time.sleep(IDLE_SLEEP_S)
            return
        cap = self.detector.batch_capacity
        if cap > 1 and len(got) > 1:
            for i in range(0, len(got), cap):
                chunk = got[i:i + cap]
                dets = self.detector.detect_batch([f.image for _, f in chunk])
                share = 1.0 / len(chunk)
                for (cam, frame), det in zip(chunk, dets, strict=True):
                    cam.process(frame, det, self.detector.timings, share)
        else:
            for cam, frame in got:
                det = self.detector.detect(frame.image)
                cam.process(frame, det, self.detector.timings)
