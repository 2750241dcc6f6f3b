"""Train a YOLOv8 detector offline with ultralytics, logged to MLflow, resumable."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.train.offline import apply_settings, prepare_offline, use_all_cores
from models.train.tracking import MlflowLogger, default_tracking_uri

log = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    """Everything a training run depends on; logged to MLflow as params."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    model: str = Field("yolov8n.yaml", description="architecture .yaml (from scratch) or local .pt")
    epochs: int = Field(15, ge=1)
    imgsz: int = Field(320, ge=32, multiple_of=32)
    batch: int = Field(16, ge=1)
    workers: int = Field(2, ge=0)
    optimizer: str = "auto"
    lr0: float = Field(0.01, gt=0)
    warmup_epochs: float = Field(1.0, ge=0)
    mosaic: float = Field(1.0, ge=0, le=1)
    close_mosaic: int = Field(3, ge=0)
    scale: float = Field(0.25, ge=0, le=0.9)
    degrees: float = 0.0
    flipud: float = 0.5
    fliplr: float = 0.5
    hsv_h: float = 0.01
    patience: int = 100
    cache: Literal["ram", "disk", "none"] = "ram"
    seed: int = 0
    device: str = "cpu"
    project: Path = Path("runs/detect")
    name: str = "lineinspect-detector"
    resume: bool = True
    tracking_uri: str | None = None
    experiment: str = "lineinspect-detector"
    val: bool = True
    threads: int | None = Field(None, ge=1, description="CPU threads; default: every core")
    freeze: int | None = Field(None, ge=0, description="first N layers frozen (10: backbone)")


def _train_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    return {
        "data": str(cfg.data), "epochs": cfg.epochs, "imgsz": cfg.imgsz, "batch": cfg.batch,
        "workers": cfg.workers, "optimizer": cfg.optimizer, "lr0": cfg.lr0,
        "warmup_epochs": cfg.warmup_epochs, "mosaic": cfg.mosaic, "close_mosaic": cfg.close_mosaic,
        "scale": cfg.scale, "degrees": cfg.degrees, "flipud": cfg.flipud, "fliplr": cfg.fliplr,
        "hsv_h": cfg.hsv_h, "patience": cfg.patience,
        "cache": False if cfg.cache == "none" else cfg.cache, "seed": cfg.seed,
        "device": cfg.device, "project": str(cfg.project.resolve()), "name": cfg.name,
        "exist_ok": True,
        # From a .yaml there is nothing to load; from a .pt, pretrained=False would make
        # ultralytics rebuild the architecture and silently drop the weights.
        "pretrained": cfg.model.endswith(".pt"), "amp": cfg.device != "cpu", "plots": False,
        "val": cfg.val, "deterministic": False, "freeze": cfg.freeze,
    }


def _finished(last: Path) -> bool:
    """Whether ``last.pt`` ends a finished run: ultralytics strips it then and sets epoch -1.
    Resuming such a run makes ultralytics rebuild its arguments from defaults (dataset
    ``coco8.yaml``, a download) instead of saying there is nothing to do."""
    import torch

    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    return isinstance(ckpt, dict) and ckpt.get("epoch") == -1


def train_detector(cfg: TrainConfig, workdir: Path = Path(".")) -> Path:
    """Train (or resume) and return the path of ``best.pt``."""
    prepare_offline(workdir.resolve() / ".yolo")
    from ultralytics import YOLO

    apply_settings()
    use_all_cores(cfg.threads)
    run_dir = cfg.project.resolve() / cfg.name
    last = run_dir / "weights" / "last.pt"
    resuming = cfg.resume and last.exists()
    if resuming and _finished(last):
        log.warning("%s: this run finished earlier, nothing to train (a new --name, or "
                    "--no-resume, trains again)", run_dir)
        return run_dir / "weights" / "best.pt"
    if not resuming and cfg.model.endswith(".pt") and not Path(cfg.model).exists():
        raise FileNotFoundError(f"model {cfg.model!r}: no such local file (nothing is downloaded)")
    params = {**cfg.model_dump(mode="json"), "command": shlex.join(sys.argv)}
    logger = MlflowLogger(cfg.tracking_uri or default_tracking_uri(workdir), cfg.experiment,
                          run_dir, params)
    model = YOLO(str(last) if resuming else cfg.model)
    logger.attach(model)
    try:
        if resuming:
            try:
                model.train(resume=True)
            except AssertionError as exc:  # "training to N epochs is finished, nothing to resume"
                if "nothing to resume" not in str(exc):
                    raise
        else:
            model.train(**_train_kwargs(cfg))
    except BaseException:
        logger.close("FAILED")
        raise
    logger.close()
    return run_dir / "weights" / "best.pt"
