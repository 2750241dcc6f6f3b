"""The refiner threads: newest job → model → mask on the frame → sizes → ``update`` event.

Each thread owns one refiner (one onnxruntime session: a session's buffers are not shared).
The result goes straight to the camera's sinks (``FanOut.emit`` is thread-safe and never
blocks), as an ``update`` of the track's defect: same ``defect_id`` as its ``new``, a fresh
``event_id``, ``refined: true``, the mask (COCO RLE over the whole frame) and its measurements.

The update is sent even when the track has ended meanwhile (the crop was cut while it was
live; a subscriber keys on ``defect_id``, and the size of a defect that has left is still its
size), so a refined ``update`` may arrive after that defect's ``end``.

A mask whose RLE would not fit the contract (more than ``MAX_MASK_RUNS`` runs, or a payload over
``MAX_PAYLOAD_BYTES``) is left out: the update still carries the measurements, and the drop is
counted (reason ``mask_too_large``), instead of failing the event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from edge.refine.flagging import severity_from_size
from edge.refine.measure import Measurement, measure
from edge.refine.queue import NewestFirstQueue, RefineJob
from edge.track.events import TrackEvent
from edge.track.wire import RefinedSizes, severity_of, to_wire
from lineinspect.contract import MAX_PAYLOAD_BYTES, DefectEvent
from lineinspect.contract.v1 import MAX_MASK_RUNS
from lineinspect.crops import Pasted, paste_mask
from lineinspect.masks import rle_encode

log = logging.getLogger(__name__)

TAKE_WAIT_S = 0.25
PAYLOAD_MARGIN = 4096  # bytes left for every field besides the mask's counts


class RefinedLike(Protocol):
    """What a refiner returns (``edge.refine.model.RefinedMask``)."""

    @property
    def prob(self) -> np.ndarray: ...  # float32 (S, S), crop pixels

    @property
    def score(self) -> float: ...


class RefinerLike(Protocol):
    """What the stage needs of ``edge.refine.model.Refiner``."""

    input_size: int
    pad: float
    min_side: float
    mask_threshold: float

    def refine(self, crop: np.ndarray, class_name: str | None = None) -> RefinedLike | None: ...


def pasted_rle(pasted: Pasted, width: int, height: int) -> dict[str, list[int]]:
    """``rle_encode(pasted.full(width, height))`` without the whole frame: only the columns the
    mask spans are encoded (at full height); the columns before and after are one run of zeros
    each. A 640x480 frame is 307 k pixels; a defect's window a few thousand: this runs on the
    refiner thread, and less numpy there is less GIL taken from the frame path."""
    rh, rw = pasted.mask.shape
    if rw == 0 or rh == 0 or not pasted.mask.any():
        return {"size": [height, width], "counts": [height * width]}
    cols = np.zeros((height, rw), dtype=bool)
    cols[pasted.y0:pasted.y0 + rh] = pasted.mask
    rle = rle_encode(cols)
    counts = rle["counts"]
    counts[0] += pasted.x0 * height  # leading zero run: the columns left of the mask
    after = (width - pasted.x0 - rw) * height  # the columns right of it
    if len(counts) % 2 == 1:  # ends on a zero run: extend it
        counts[-1] += after
    elif after:
        counts.append(after)
    return {"size": [height, width], "counts": counts}


def rle_fits(counts: list[int]) -> bool:
    """Would a mask of these runs fit the contract's run and payload limits?"""
    if len(counts) > MAX_MASK_RUNS:
        return False
    digits = sum(len(str(c)) + 1 for c in counts)  # a number and its comma
    return digits + PAYLOAD_MARGIN <= MAX_PAYLOAD_BYTES


def update_event(job: RefineJob, pasted: Pasted, m: Measurement, event_id: str) -> tuple[
        DefectEvent, bool]:
    """The refined ``update`` for ``job``'s track; second: whether the mask had to be left out."""
    cam = job.camera
    w, h = job.frame_size
    rle = pasted_rle(pasted, w, h)
    too_large = not rle_fits(rle["counts"])
    ev = TrackEvent(
        track_id=job.track_id, kind="update", reason="refinement", class_id=job.class_id,
        class_name=job.class_name, confidence=job.confidence, box=job.box,
        box_seq=job.frame_seq, frame_width=w, frame_height=h, frame_seq=job.frame_seq,
        ts=job.ts, index_in_frame=job.index_in_frame, first_seq=job.frame_seq,
        first_ts=job.ts, frames_seen=0, zone=job.zone,
        mask_rle=None if too_large else rle)
    wire = cam.wire
    fallback = severity_of(job.class_name, float(m.area_px), m.area_mm2, wire.severity)
    sizes = RefinedSizes(
        area_px=float(m.area_px),
        severity=severity_from_size(job.class_name, m, cam.rules, fallback),
        area_mm2=m.area_mm2, length_px=m.length_px, width_px=m.width_px,
        length_mm=m.length_mm, width_mm=m.width_mm)
    return to_wire(ev, wire, event_id, job.defect_id, sizes), too_large


class RefineWorker:
    """``len(refiners)`` threads taking jobs from ``queue`` until it is closed and drained."""

    def __init__(self, queue: NewestFirstQueue, refiners: Sequence[RefinerLike]) -> None:
        if not refiners:
            raise ValueError("the refine worker needs at least one refiner")
        self.queue = queue
        self.refiners = list(refiners)
        self._abandon = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(r,), daemon=True,
                                          name=f"refine-{i}")
                         for i, r in enumerate(self.refiners)]
        self.errors = 0

    def start(self) -> RefineWorker:
        for t in self._threads:
            t.start()
        return self

    def close(self, drain_timeout_s: float = 10.0) -> bool:
        """Finish the queued jobs (up to ``drain_timeout_s``; the rest are abandoned), then
        stop. True if every thread ended in time."""
        self.queue.close()
        deadline = time.monotonic() + drain_timeout_s
        for t in self._threads:
            if t.ident is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            left = self.queue.discard()  # counted as drops: they will never be refined
            log.warning("refiner: %d queued crop(s) dropped at shutdown (drain took over "
                        "%.0f s)", left, drain_timeout_s)
            self._abandon.set()
            for t in self._threads:
                t.join(5.0)
        return not any(t.is_alive() for t in self._threads)

    def _run(self, refiner: RefinerLike) -> None:
        while not self._abandon.is_set():
            job = self.queue.take(TAKE_WAIT_S)
            if job is None:
                if self.queue.closed:
                    return
                continue
            try:
                self.handle(refiner, job)
            except Exception:  # one bad crop must not stop refinement of the others
                self.errors += 1
                job.camera.count("error")
                if self.errors <= 10 or self.errors % 1000 == 0:
                    log.exception("refining track %d of %s failed (%d errors so far)",
                                  job.track_id, job.camera.wire.camera, self.errors)

    def handle(self, refiner: RefinerLike, job: RefineJob) -> DefectEvent | None:
        """Refine one job and emit its ``update``; None when the model found no mask."""
        cam = job.camera
        t0 = time.monotonic_ns()
        cam.observe("queue", (t0 - job.enqueued_ns) / 1e9)
        got = refiner.refine(job.crop, job.class_name)
        t1 = time.monotonic_ns()
        cam.observe("model", (t1 - t0) / 1e9)
        if got is None:
            cam.count("empty")
            return None
        w, h = job.frame_size
        pasted = paste_mask(got.prob, job.window, w, h, refiner.mask_threshold)
        m = measure(pasted, cam.calibration)
        if m.area_px == 0:
            cam.count("empty")
            return None
        event, too_large = update_event(job, pasted, m, cam.ids.next_str())
        if too_large:
            cam.count("mask_too_large")
        cam.emit(event, job.track_id, pasted, (time.monotonic_ns() - t0) / 1e6)
        return event
