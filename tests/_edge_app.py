"""Building the edge HTTP app for tests from real parts.

``known_answer_detector`` is a real ONNX model through the real runtime whose output is fixed
(tests/_tiny_onnx.py), so API answers can be checked exactly. Live-video tests use the shipped
detector through tests/_standin_pipeline.py instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from edge.api.app import create_app
from edge.api.deps import AppDeps, PredictDetector, PredictRefiner, StatusSnapshot
from edge.api.feed import EventFeed
from edge.api.server import ApiServer, free_port
from edge.api.settings import ApiSettings
from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from edge.stream.hub import FrameHub
from edge.stream.settings import StreamSettings
from edge.stream.webrtc import StreamService
from tests._tiny_onnx import make_const_model, with_manifest

NAMES = ["scratch", "crack", "dent"]
LOOPBACK = [ip_address("127.0.0.1")]
# In model-input pixels (320x320): a scratch at (50,90)-(100,130), score 0.9, and a dent at
# (190,190)-(210,210), score 0.6. On a 320x320 upload these are the answers.
KNOWN_BOXES = [((75, 110, 50, 40), 0, 0.9), ((200, 200, 20, 20), 2, 0.6)]


def known_answer_detector(folder: Path) -> Detector:
    preds = np.zeros((4 + len(NAMES), 2100), np.float32)
    preds[:4] = 1.0
    for i, ((cx, cy, w, h), cls, score) in enumerate(KNOWN_BOXES):
        preds[:4, 50 * i + 3] = [cx, cy, w, h]
        preds[4 + cls, 50 * i + 3] = score
    path = make_const_model(folder / "known.onnx", preds, names=NAMES)
    with_manifest(path, NAMES)
    det = Detector(DetectorSettings(model=path, providers=["cpu"], intra_op_threads=1))
    det.warmup()
    return det


def loopback_stream(**overrides: Any) -> StreamSettings:
    """Stream settings for tests: host candidates on 127.0.0.1 only, no STUN."""
    return StreamSettings(ice_host_addresses=LOOPBACK, **overrides)


@dataclass
class AppParts:
    deps: AppDeps
    app: FastAPI
    cameras: dict[str, str] = field(default_factory=dict)  # camera -> state; tests flip it
    model_loaded: bool = True


def build_app(detector: PredictDetector | None, *, cameras: Sequence[str] = ("cam1",),
              api: ApiSettings | None = None, stream_settings: StreamSettings | None = None,
              stream: bool = False, feed: EventFeed | None = None,
              refiner: PredictRefiner | None = None) -> AppParts:
    """The app over a fresh hub/feed/registry; ``stream=True`` also starts a StreamService
    (stop it with ``parts.deps.stream.stop()`` or use :func:`running`)."""
    hub = FrameHub(cameras)
    state = {cid: "up" for cid in cameras}
    settings = stream_settings or loopback_stream()
    service = StreamService(hub, settings) if stream else None
    parts_box: list[AppParts] = []

    def status() -> StatusSnapshot:
        p = parts_box[0]
        return StatusSnapshot(p.model_loaded, dict(p.cameras), {"source": "tests"})

    deps = AppDeps(api=api or ApiSettings(), stream_settings=settings, hub=hub,
                   feed=feed or EventFeed(), status=status, registry=CollectorRegistry(),
                   detector=detector, stream=service, refiner=refiner)
    parts = AppParts(deps, create_app(deps), state)
    parts_box.append(parts)
    if service is not None:
        service.start()
    return parts


@contextmanager
def running(parts: AppParts) -> Iterator[ApiServer]:
    """Serve ``parts.app`` on a free 127.0.0.1 port; stops server and stream afterwards."""
    server = ApiServer(parts.app, "127.0.0.1", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if parts.deps.stream is not None:
            parts.deps.stream.stop()


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def colour_pixels(image: np.ndarray, bgr: tuple[int, int, int], tol: int = 60) -> int:
    """How many pixels are close to ``bgr`` (after lossy coding)."""
    diff = np.abs(image.astype(np.int16) - np.array(bgr, np.int16)).max(axis=2)
    return int((diff <= tol).sum())


Check = Callable[[], bool]
