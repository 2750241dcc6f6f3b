"""The inference loop: newest frame of every camera → detector → each camera's pipeline.

``detector.workers`` threads run the model, each with its own detector (its own onnxruntime
session and buffers), batching frames of several cameras when the model has a dynamic batch.
One worker gives the lowest per-frame latency. Several pay off when one run does not use the
cores fully: on a 2-core CPU, two sessions of one intra-op thread each, run side by side, do
~35% more runs per second than one session of two threads on our small models (onnxruntime's
parallelism inside a run has sync points and serial ops that leave cores idle; a second run
fills them). Each run is slower, though, so capture-to-event latency grows.

Frames that arrive while every worker is busy are replaced in the capture mailbox (newest wins)
and counted there, so the loop never falls behind the cameras. Whichever worker detects a frame,
each camera's pipeline (tracker, events) gets its frames in capture order, one at a time: frames
are taken under one lock and numbered per camera (tickets, :class:`CameraTurns`), and a frame is
handed on only when every earlier ticket of its camera has been.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np

from edge.detect.types import Detections, Timings
from edge.pipeline.camera import CameraPipeline
from edge.sources.frame import EndOfStream, Frame

log = logging.getLogger(__name__)

SINGLE_WAIT_S = 0.1  # one camera: block on its mailbox this long per wake-up
IDLE_SLEEP_S = 0.002  # several cameras and none has a frame: nap instead of spinning


class BatchDetector(Protocol):
    """What the inference workers need of ``edge.detect.detector.Detector``."""

    batch_capacity: int
    timings: Timings

    def detect(self, frame: np.ndarray) -> Detections: ...

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]: ...


class Taken(NamedTuple):
    """A frame taken from a camera, with its place in that camera's order."""

    slot: int  # the camera's place in the loop's list
    cam: CameraPipeline
    frame: Frame
    ticket: int  # per camera: 0, 1, 2 ... in take order


class CameraTurns:
    """Per-camera tickets: ``issue`` in take order, ``wait`` for a ticket's turn, ``release``.

    A released ticket counts as done whether its frame was processed or abandoned (a failed
    worker releases its tickets unprocessed), so the cameras' turn never stalls on a dead worker.
    """

    def __init__(self, cameras: int) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._issued = [0] * cameras  # only touched under the loop's take lock
        self._next = [0] * cameras  # the ticket whose turn it is
        self._done: list[set[int]] = [set() for _ in range(cameras)]  # released ahead of turn

    def issue(self, cam: int) -> int:
        ticket = self._issued[cam]
        self._issued[cam] += 1
        return ticket

    def wait(self, cam: int, ticket: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._next[cam] == ticket)

    def release(self, cam: int, ticket: int) -> None:
        with self._cond:
            done = self._done[cam]
            if ticket >= self._next[cam]:
                done.add(ticket)
            while self._next[cam] in done:
                done.remove(self._next[cam])
                self._next[cam] += 1
            self._cond.notify_all()


class InferenceLoop:
    """Runs until every source has ended, :meth:`stop` or a failure; then flushes the trackers.

    One thread per detector in ``detectors`` (a detector is not thread-safe; each worker owns
    one). Deadlock freedom of the ordered hand-off: tickets are issued in one global take order
    (take steps are serialised by ``_take_lock``, and nobody waits for a turn while holding it),
    and a worker holding the tickets of take step *k* waits only for tickets of the same camera
    issued in earlier steps. The worker holding the earliest unreleased ticket therefore never
    waits, finishes or fails, and releases it (always, in a ``finally``): by induction every
    waiter is reached. Within a step a worker goes through its frames in the loop's camera
    order, each camera at most once, so it never waits on a ticket it holds itself.
    """

    def __init__(self, detectors: Sequence[BatchDetector],
                 cameras: Sequence[CameraPipeline]) -> None:
        if not detectors:
            raise ValueError("the inference loop needs at least one detector")
        self.detectors = list(detectors)
        self.cameras = list(cameras)
        self._active = list(self.cameras)  # sources not ended; only changed under _take_lock
        self._take_lock = threading.Lock()
        self._turns = CameraTurns(len(self.cameras))
        self._stop = threading.Event()
        self._state_lock = threading.Lock()
        self._running = len(self.detectors)
        multi = len(self.detectors) > 1
        self._threads = [
            threading.Thread(target=self._work, args=(det,),
                             name=f"inference-{i}" if multi else "inference")
            for i, det in enumerate(self.detectors)]
        self.error: BaseException | None = None
        self.finished = threading.Event()

    @property
    def detector(self) -> BatchDetector:
        """The first worker's detector."""
        return self.detectors[0]

    def start(self) -> InferenceLoop:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            if t.ident is not None:
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.alive

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- workers --------------------------------------------------------------------------------
    def _work(self, det: BatchDetector) -> None:
        try:
            while not self._stop.is_set():
                got = self._take_step()
                if got is None:
                    break
                if got:
                    self._run_step(det, got)
                elif len(self.cameras) > 1:
                    time.sleep(IDLE_SLEEP_S)
        except BaseException as exc:  # surfaced to the composition root, which exits non-zero
            with self._state_lock:
                if self.error is None:
                    self.error = exc
            self._stop.set()  # the other workers drop the frames they hold and end
            log.exception("inference loop failed")
        finally:
            self._worker_done()

    def _worker_done(self) -> None:
        with self._state_lock:
            self._running -= 1
            last = self._running == 0
        if not last:
            return
        # Every worker has ended: no frame is in flight, so the trackers can be flushed.
        for cam in self.cameras:
            try:
                cam.finish()
            except Exception:
                log.exception("%s: flushing the tracker failed", cam.camera_id)
        self.finished.set()

    def _take_step(self) -> list[Taken] | None:
        """Frames to detect now (maybe none); None once every source has ended or on stop."""
        with self._take_lock:
            active = self._active
            if not active or self._stop.is_set():
                return None
            got: list[Taken] = []
            if len(active) == 1:
                self._take(active[0], SINGLE_WAIT_S, got)
            else:
                for cam in list(active):  # the loop's camera order, each camera at most once
                    self._take(cam, 0.0, got)
            return got

    def _take(self, cam: CameraPipeline, timeout: float, got: list[Taken]) -> None:
        try:
            frame = cam.capture.get(timeout)
        except EndOfStream as end:
            log.info("%s: source ended (%s)", cam.camera_id, end.reason)
            self._active.remove(cam)
            return
        if frame is not None:
            index = self.cameras.index(cam)
            got.append(Taken(index, cam, frame, self._turns.issue(index)))

    def _run_step(self, det: BatchDetector, got: list[Taken]) -> None:
        handed = 0  # frames of ``got`` given to _hand_on, which releases their tickets
        try:
            cap = det.batch_capacity
            if cap > 1 and len(got) > 1:
                for i in range(0, len(got), cap):
                    chunk = got[i:i + cap]
                    dets = det.detect_batch([t.frame.image for t in chunk])
                    share = 1.0 / len(chunk)
                    for t, d in zip(chunk, dets, strict=True):
                        handed += 1
                        self._hand_on(t, d, det.timings, share)
            else:
                for t in got:
                    d = det.detect(t.frame.image)
                    handed += 1
                    self._hand_on(t, d, det.timings, 1.0)
        finally:
            for t in got[handed:]:  # failed part-way: give up the rest, in turn or not
                self._turns.release(t.slot, t.ticket)

    def _hand_on(self, t: Taken, det: Detections, timings: Timings, share: float) -> None:
        """The camera's pipeline gets ``t`` once every earlier frame of the camera has gone."""
        try:
            self._turns.wait(t.slot, t.ticket)
            if self.error is None:  # after a failure elsewhere, frames in flight are dropped
                t.cam.process(t.frame, det, timings, share)
        finally:
            self._turns.release(t.slot, t.ticket)
