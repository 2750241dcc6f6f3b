"""Loading the refiner that ``/predict?model=refiner|both`` and ``lineinspect predict`` use.

A refiner that cannot be loaded is not fatal to the API (``model=detector`` still answers): the
reason becomes the 503 message of the refined views, so a caller learns how to enable it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edge.api.deps import PredictRefiner
    from edge.api.settings import ApiSettings

log = logging.getLogger(__name__)

ENABLE_HINT = ("set api.refiner: true and refine.model_path to a refiner ONNX file with its "
               "manifest (default: the shipped models/artifacts/refiner/"
               "lineinspect-refiner-v1.onnx), then restart")


class RefinerUnavailable(Exception):
    """The refiner cannot be loaded; the message says why."""


def open_refiner(path: Path | None, intra_op_threads: int = 1) -> PredictRefiner:
    """The refiner on ``path`` (None: the shipped one), warmed up."""
    try:
        from edge.refine.model import SHIPPED_REFINER, Refiner
    except ImportError as exc:  # a build without the refiner's runtime
        raise RefinerUnavailable(f"the refiner runtime is not installed ({exc})") from None
    from lineinspect.manifest import ManifestError

    model = (path or SHIPPED_REFINER).resolve()
    if not model.is_file():
        raise RefinerUnavailable(f"no refiner model at {model}")
    try:
        refiner = Refiner(model, intra_op_threads=intra_op_threads)
    except (ManifestError, OSError, ValueError, RuntimeError) as exc:
        raise RefinerUnavailable(f"cannot load the refiner {model}: {exc}") from None
    size = refiner.input_size  # the first upload should not pay for session start-up
    refiner.refine(np.zeros((size, size, 3), np.uint8))
    return refiner


def api_refiner(settings: ApiSettings,
                model_path: Path | None) -> tuple[PredictRefiner | None, str]:
    """The API's own refiner of ``model_path`` (``refine.model_path``; None: the shipped one)
    and "", or None and why (the 503 text of ``model=refiner|both``)."""
    if not settings.refiner:
        return None, f"the refiner is off on this edge (api.refiner: false); {ENABLE_HINT}"
    try:
        return open_refiner(model_path), ""
    except RefinerUnavailable as exc:
        log.warning("/predict?model=refiner|both will answer 503: %s", exc)
        return None, f"{exc}; {ENABLE_HINT}"
