"""Where tests find real models, and how they import ultralytics without touching the network."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DETECTOR = REPO / "models" / "artifacts" / "detector" / "lineinspect-det-v2.onnx"
OVERRIDE_ENV = "LINEINSPECT_TEST_DETECTOR"


def shipped_detector() -> Path:
    """The committed default detector (``$LINEINSPECT_TEST_DETECTOR`` overrides, for development).

    Not a skip: a missing shipped model is a real defect of the repository.
    """
    override = os.environ.get(OVERRIDE_ENV)
    path = Path(override) if override else SHIPPED_DETECTOR
    if not path.is_file() or not path.with_suffix(".json").is_file():
        raise FileNotFoundError(
            f"detector {path} (or its manifest {path.with_suffix('.json').name}) is missing: "
            f"commit the shipped model or set {OVERRIDE_ENV}=/path/to/model.onnx")
    return path


def offline_ultralytics() -> None:
    """Import ultralytics in offline mode (no DNS probe, no downloads) if nobody did yet."""
    if "ultralytics" in sys.modules:
        return
    from models.train.offline import apply_settings, prepare_offline

    prepare_offline(Path(tempfile.gettempdir()) / "lineinspect-tests-yolo")
    import ultralytics  # noqa: F401

    apply_settings()
