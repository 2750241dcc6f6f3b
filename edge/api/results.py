"""Detector output in the API's JSON shape, shared by ``/predict`` and ``lineinspect predict``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from edge.api.schemas import Box, Detection, ImageResult, ModelInfo
from edge.detect.types import Detections

if TYPE_CHECKING:  # the batch CLI uses this module without the server's imports
    from edge.api.deps import PredictDetector


def model_info(detector: PredictDetector) -> ModelInfo:
    m = detector.manifest
    return ModelInfo(name=m.name, version=m.version, sha256=m.sha256,
                     classes=list(detector.class_names), provider=detector.provider)


def image_result(name: str, image: np.ndarray, det: Detections, inference_ms: float,
                 names: Sequence[str]) -> ImageResult:
    detections = [
        Detection(class_id=c, class_name=names[c] if 0 <= c < len(names) else str(c),
                  score=s, box=Box(x1=b[0], y1=b[1], x2=b[2], y2=b[3]))
        for b, s, c in zip(det.xyxy.tolist(), det.score.tolist(), det.class_id.tolist(),
                           strict=True)
    ]
    h, w = image.shape[:2]
    return ImageResult(file=name, width=w, height=h, detections=detections,
                       inference_ms=round(inference_ms, 3))
