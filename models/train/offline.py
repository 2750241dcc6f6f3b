"""Make ultralytics run with no network: no font, weight, hub, update or telemetry download.

Call :func:`prepare_offline` *before* ``import ultralytics``: ultralytics decides whether it is
online, where its settings live and whether it may pip-install at import time.

Where ultralytics reaches out (8.x), and what turns each off here:
- ``is_online()`` DNS probe → ``YOLO_OFFLINE=1``.
- ``check_requirements`` auto-install via pip → ``YOLO_AUTOINSTALL=False``.
- Usage telemetry (``events``) and hub sync → settings ``sync=False``, ``hub=False``.
- ``check_font('Arial.ttf')`` on every dataset check and plot → a font of our own (matplotlib's
  DejaVuSans) copied to ``$YOLO_CONFIG_DIR/Ultralytics/Arial.ttf`` (and ``Arial.Unicode.ttf``).
- Weight downloads (``yolov8n.pt``, and ``check_amp``'s ``yolo11n.pt`` on CUDA) → we build from a
  ``.yaml`` or a local ``.pt`` only, and pass ``amp=False`` off-GPU.
- Logger integrations (mlflow, wandb, comet, clearml, …) → disabled in settings; we log to MLflow
  ourselves (:mod:`models.train.tracking`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

INTEGRATIONS_OFF = {
    "sync": False, "hub": False, "mlflow": False, "wandb": False, "comet": False,
    "clearml": False, "dvc": False, "neptune": False, "raytune": False, "tensorboard": False,
    "vscode_msg": False,
}


def _font_source() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def prepare_offline(config_dir: Path) -> Path:
    """Point ultralytics at ``config_dir`` with fonts in place; returns its settings folder."""
    if "ultralytics" in sys.modules and os.environ.get("YOLO_CONFIG_DIR") != str(config_dir):
        raise RuntimeError("prepare_offline() must run before ultralytics is imported")
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_VERBOSE", "True")
    os.environ.setdefault("MPLBACKEND", "Agg")
    settings_dir = config_dir / "Ultralytics"
    settings_dir.mkdir(parents=True, exist_ok=True)
    font = _font_source()
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = settings_dir / name
        if not target.exists():
            shutil.copyfile(font, target)
    return settings_dir


def use_all_cores(threads: int | None = None) -> int:
    """Let CPU training use every core (after import); returns the thread count.

    ultralytics sets ``OMP_NUM_THREADS=1`` at import and ``torch.set_num_threads(cpu_count - 1)``
    when it selects the CPU: on a 2-core box that is one thread, half the machine.
    """
    import ultralytics.utils.torch_utils as tu

    n = threads or os.cpu_count() or 1
    tu.NUM_THREADS = n
    return n


def apply_settings() -> None:
    """Turn off ultralytics' own network features in its settings file (after import)."""
    from ultralytics.utils import SETTINGS

    # Keys differ across 8.x releases; only set the ones this release knows.
    SETTINGS.update({k: v for k, v in INTEGRATIONS_OFF.items() if k in SETTINGS})
