"""``lineinspect models export``: every requested variant of one checkpoint, each with a manifest.

Files in ``out`` (``STEM`` = ``<name>-v<version>``)::

    STEM.onnx               fp32, batch 1             (always)
    STEM-dynamic.onnx       fp32, dynamic batch       (--dynamic)
    STEM-fp16[-dynamic].onnx                          (--half)
    STEM-int8[-dynamic].onnx                          (--int8)

and beside each, ``<file stem>.json``, its manifest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lineinspect.manifest import sha256_file
from models.export.fp16 import convert_fp16
from models.export.int8 import (
    CalibMethod,
    Int8Options,
    LetterboxCalibrationReader,
    calibration_images,
    quantize_int8,
    synthetic_frames,
)
from models.export.manifest_build import (
    build_manifest,
    dataset_info,
    training_info,
    write_and_verify,
)
from models.export.onnx import DEFAULT_OPSET, export_onnx, load_checkpoint_info
from models.train.offline import prepare_offline

log = logging.getLogger(__name__)


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: Path
    out: Path
    imgsz: int = Field(320, ge=32, multiple_of=32)
    name: str = Field("lineinspect-det", pattern=r"^[A-Za-z0-9_.\-]+$")
    version: str = Field("1", pattern=r"^[A-Za-z0-9_.\-]+$")
    dynamic: bool = False
    half: bool = False
    int8: bool = False
    calib_data: Path | None = Field(None, description="image folder; default: synthetic images")
    calib_count: int = Field(128, ge=1)
    calib_method: CalibMethod = "minmax"
    calib_seed: int = 20240
    dataset: Path | None = Field(None, description="dataset folder with recipe.json")
    opset: int = Field(DEFAULT_OPSET, ge=11, le=20)
    config_dir: Path = Field(Path(".yolo"), description="ultralytics settings folder (offline)")

    @property
    def stem(self) -> str:
        return f"{self.name}-v{self.version}"


def _calibration_reader(cfg: ExportConfig, input_name: str) -> LetterboxCalibrationReader:
    items: list[Any]
    if cfg.calib_data is not None:
        items = list(calibration_images(cfg.calib_data, cfg.calib_count))
    else:
        items = list(synthetic_frames(cfg.calib_count, cfg.imgsz, cfg.calib_seed))
    return LetterboxCalibrationReader(items, input_name, (cfg.imgsz, cfg.imgsz))


def export_model(cfg: ExportConfig) -> list[Path]:
    """Export all requested variants; returns the ONNX paths (each has its manifest)."""
    if cfg.int8 and cfg.calib_data is not None and not cfg.calib_data.is_dir():
        raise FileNotFoundError(f"calibration image folder not found: {cfg.calib_data}")
    if not cfg.weights.is_file():
        raise FileNotFoundError(f"weights not found: {cfg.weights}")
    # Unpickling a checkpoint imports ultralytics, so offline mode comes first.
    prepare_offline(cfg.config_dir.resolve())
    ckpt = load_checkpoint_info(cfg.weights)
    class_names = list(ckpt["names"])
    common: dict[str, Any] = {
        "dataset": dataset_info(cfg.dataset, ckpt.get("train_args") or {}),
        "seed": (ckpt.get("train_args") or {}).get("seed"),
        "training": training_info(ckpt),
        "source": {"weights": cfg.weights.name, "sha256": sha256_file(cfg.weights),
                   "epoch": ckpt.get("epoch")},
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    anchors: int | None = None
    for dynamic in [False, True] if cfg.dynamic else [False]:
        suffix = "-dynamic" if dynamic else ""
        fp32 = export_onnx(cfg.weights, cfg.out / f"{cfg.stem}{suffix}.onnx", cfg.imgsz, dynamic,
                           cfg.opset)
        variants: list[tuple[Path, str, dict[str, Any]]] = [(fp32, "fp32", {})]
        if cfg.half:
            half = convert_fp16(fp32, cfg.out / f"{cfg.stem}-fp16{suffix}.onnx")
            variants.append((half, "fp16", {}))
        if cfg.int8:
            q_path = cfg.out / f"{cfg.stem}-int8{suffix}.onnx"
            reader = _calibration_reader(cfg, "images")
            quant = quantize_int8(fp32, q_path, reader, Int8Options(calib_method=cfg.calib_method))
            quant["calibration_source"] = (str(cfg.calib_data) if cfg.calib_data else
                                           f"synthetic, seed {cfg.calib_seed}")
            variants.append((q_path, "int8", {"quantization": quant}))
        for path, precision, extra in variants:
            manifest = build_manifest(path, name=cfg.name, version=cfg.version,
                                      class_names=class_names, precision=precision,
                                      opset=cfg.opset, anchors=anchors,
                                      extras={**common, **extra})
            anchors = anchors or manifest.output.anchors
            write_and_verify(manifest, path)
            log.info("exported %s (%s)", path, precision)
            written.append(path)
    return written

