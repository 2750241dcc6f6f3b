"""What the edge HTTP app is built from: parts made and owned by the agent, passed in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry

from edge.api.feed import EventFeed
from edge.api.settings import ApiSettings
from edge.detect.types import Detections
from edge.stream.hub import FrameHub
from edge.stream.settings import StreamSettings
from edge.stream.webrtc import StreamService
from lineinspect.manifest import ModelManifest


class PredictDetector(Protocol):
    """What ``/predict`` needs of ``edge.detect.detector.Detector``."""

    class_names: tuple[str, ...]
    manifest: ModelManifest

    @property
    def provider(self) -> str: ...

    def detect(self, frame: np.ndarray) -> Detections: ...


class RefinedMaskLike(Protocol):
    """What ``/predict`` reads of ``edge.refine.model.RefinedMask``."""

    @property
    def prob(self) -> np.ndarray: ...  # float32 (S, S), crop pixels

    @property
    def score(self) -> float: ...


class PredictRefiner(Protocol):
    """What ``/predict?model=refiner|both`` needs of ``edge.refine.model.Refiner``: its crop
    geometry (so the API crops exactly as the model was trained) and one mask per crop.
    Properties, so plain attributes and read-only ones both satisfy it."""

    @property
    def input_size(self) -> int: ...

    @property
    def pad(self) -> float: ...

    @property
    def min_side(self) -> float: ...

    @property
    def mask_threshold(self) -> float: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def refine(self, crop: np.ndarray, class_name: str | None = None
               ) -> RefinedMaskLike | None: ...


REFINER_OFF = ("the refiner is not loaded on this edge: enable it with api.refiner: true and "
               "refine.model_path (default: the shipped models/artifacts/refiner/"
               "lineinspect-refiner-v1.onnx), then restart; model=detector needs no refiner")


@dataclass(frozen=True)
class StatusSnapshot:
    """The agent's own view of itself, from the status provider (called per request)."""

    model_loaded: bool
    cameras: Mapping[str, str]  # camera id -> "up" | "reconnecting" | "down"
    detail: Mapping[str, Any] = field(default_factory=dict)  # free-form, shown in /api/status

    def not_ready_reasons(self) -> list[str]:
        reasons = [] if self.model_loaded else ["the detector model is not loaded"]
        if not self.cameras:
            reasons.append("no camera is configured")
        reasons += [f"camera {cid} is {state}" for cid, state in self.cameras.items()
                    if state != "up"]
        return reasons


@dataclass
class AppDeps:
    """``detector`` serves uploads and must not be the pipeline's own instance (its buffers are
    reused per call); give the API a second ``Detector`` on the same model. ``stream`` None:
    live video off (WHEP answers 503). ``refiner`` None: ``model=refiner|both`` answers 503
    with ``refiner_off`` (why it is not loaded and how to load it)."""

    api: ApiSettings
    stream_settings: StreamSettings
    hub: FrameHub
    feed: EventFeed
    status: Callable[[], StatusSnapshot]
    registry: CollectorRegistry
    detector: PredictDetector | None = None
    stream: StreamService | None = None
    refiner: PredictRefiner | None = None
    refiner_off: str = REFINER_OFF

    @property
    def camera_ids(self) -> Sequence[str]:
        return self.hub.camera_ids
