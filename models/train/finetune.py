"""``lineinspect models finetune``: adapt the shipped detector to a new line from a few labelled
frames, on a CPU, in minutes.

The recipe (each step is a setting of :class:`FinetuneConfig`):

1. **Start from the shipped checkpoint** (the default detector's, named and verified by its
   manifest), not from scratch: its features already know scratches, cracks, dents and parts.
2. **Keep the classes**: the user's class names are mapped onto the checkpoint's by name, so
   alarm codes, severity rules and dashboards keep their ids; new names are appended.
3. **Replay**: synthetic frames from the training world are mixed in, so classes the user's
   frames show rarely (or not at all) are not forgotten.
4. **Freeze the backbone** (first 10 layers of YOLOv8n) and train the neck and head with AdamW at
   a low learning rate: few frames cannot retrain 3 M parameters, and a frozen backbone halves
   the CPU time of a step.
5. **Gate on measurement**: evaluate on the user's held-out frames through the edge's runtime,
   export ONNX + INT8 (calibrated on the user's frames) with manifests, ship the new checkpoint
   beside them. The run is logged to MLflow and resumes from its ``last.pt`` if interrupted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from lineinspect.images import IMAGE_SUFFIXES
from models.eval.dataset import load_data_yaml

BACKBONE_LAYERS = 10  # YOLOv8 backbone: layers 0-9


class FinetuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: Path = Field(description="the line's data.yaml (YOLO format, train and val splits)")
    base: Path | None = Field(None, description="checkpoint; default: the shipped detector's")
    out: Path = Path("runs/finetune")
    name: str = Field("line", pattern=r"^[A-Za-z0-9_.\-]+$")
    epochs: int = Field(12, ge=1)
    imgsz: int | None = Field(None, ge=32, multiple_of=32, description="default: the base's")
    batch: int = Field(8, ge=1)
    lr0: float = Field(0.001, gt=0)
    freeze: int = Field(BACKBONE_LAYERS, ge=0)
    replay: int = Field(150, ge=0, description="synthetic frames mixed in against forgetting")
    replay_seed: int = 4242
    mosaic: float = Field(1.0, ge=0, le=1)
    version: str = Field("ft1", pattern=r"^[A-Za-z0-9_.\-]+$")
    int8: bool = True
    resume: bool = True
    tracking_uri: str | None = None
    workers: int = Field(2, ge=0)


def default_base() -> tuple[Path, int]:
    """The shipped default detector's checkpoint (verified) and its input size."""
    from edge.detect.detector import shipped_model_path
    from lineinspect.manifest import checkpoint_path, load_manifest, manifest_path_for

    model = shipped_model_path()
    manifest = load_manifest(manifest_path_for(model))
    return checkpoint_path(model, manifest), manifest.input.size[0]


def _label_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def _relabel(src_images: Path, dst: Path, id_map: dict[int, int]) -> int:
    """Link ``src_images`` into ``dst/images`` and write labels with ids mapped (others dropped)."""
    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "labels").mkdir(parents=True, exist_ok=True)
    n = 0
    for img in sorted(p for p in src_images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        link = dst / "images" / img.name
        if not link.exists():
            link.symlink_to(img.resolve())
        label = Path(str(img.parent).replace("/images", "/labels", 1)) / f"{img.stem}.txt"
        rows = [[str(id_map[int(float(r[0]))]), *r[1:]] for r in _label_rows(label)
                if int(float(r[0])) in id_map]
        (dst / "labels" / f"{img.stem}.txt").write_text("".join(" ".join(r) + "\n" for r in rows))
        n += 1
    return n


def class_union(base: list[str], theirs: list[str]) -> tuple[list[str], dict[int, int]]:
    """The checkpoint's classes plus the user's new ones; the user's ids mapped into them."""
    names = list(base) + [n for n in theirs if n not in base]
    return names, {i: names.index(n) for i, n in enumerate(theirs)}


def prepare_data(cfg: FinetuneConfig, base_names: list[str],
                 width: int = 416) -> tuple[Path, dict[str, Any]]:
    """The training set: the user's frames (ids mapped) + replay frames ``width`` pixels wide (the
    model input); returns its data.yaml."""
    from models.data.randomized import write_randomized

    root, splits, theirs = load_data_yaml(cfg.data)
    missing = [s for s in ("train", "val") if s not in splits]
    if missing:
        raise ValueError(f"{cfg.data}: needs {missing} split(s) (val scores the new model)")
    names, id_map = class_union(base_names, theirs)
    work = (cfg.out / cfg.name / "data").resolve()
    counts = {s: _relabel(root / splits[s], work / s, id_map) for s in ("train", "val")}
    if counts["train"] == 0 or counts["val"] == 0:
        raise ValueError(f"{cfg.data}: no images in {[s for s, n in counts.items() if not n]}")
    train = [str(work / "train" / "images")]
    if cfg.replay:
        replay_src = work / "replay-src"
        if not (replay_src / "data.yaml").is_file():
            write_randomized(replay_src, {"train": cfg.replay}, seed=cfg.replay_seed, width=width)
        _, _, synth_names = load_data_yaml(replay_src / "data.yaml")
        synth_map = {i: names.index(n) for i, n in enumerate(synth_names) if n in names}
        _relabel(replay_src / "images" / "train", work / "replay", synth_map)
        train.append(str(work / "replay" / "images"))
    doc = {"path": str(work), "train": train, "val": str(work / "val" / "images"),
           "names": dict(enumerate(names))}
    data_yaml = work / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    return data_yaml, {"classes": names, "their_classes": theirs, "frames": counts,
                       "replay": cfg.replay}


def finetune(cfg: FinetuneConfig) -> dict[str, Any]:
    """Fine-tune, evaluate, export and ship; returns the figures (also in ``summary.json``)."""
    from models.eval.evaluate import evaluate_onnx
    from models.export.checkpoint import ship_checkpoint
    from models.export.onnx import load_checkpoint_info
    from models.export.pipeline import ExportConfig, export_model
    from models.train.detector import TrainConfig, train_detector
    from models.train.offline import prepare_offline

    prepare_offline((cfg.out / ".yolo").resolve())
    if cfg.base is not None:
        base, imgsz = cfg.base, cfg.imgsz or 416
    else:
        base, shipped_size = default_base()
        imgsz = cfg.imgsz or shipped_size
    if not base.is_file():
        raise FileNotFoundError(f"base checkpoint {base} not found")
    data_yaml, data_info = prepare_data(cfg, load_checkpoint_info(base)["names"], imgsz)
    t0 = time.monotonic()
    best = train_detector(TrainConfig(
        data=data_yaml, model=str(base), epochs=cfg.epochs, imgsz=imgsz, batch=cfg.batch,
        workers=cfg.workers, optimizer="AdamW", lr0=cfg.lr0, warmup_epochs=0.5,
        mosaic=cfg.mosaic, close_mosaic=min(2, cfg.epochs), freeze=cfg.freeze, cache="ram",
        project=(cfg.out / cfg.name / "train").resolve(), name="run", resume=cfg.resume,
        tracking_uri=cfg.tracking_uri, experiment="lineinspect-finetune"), workdir=cfg.out)
    train_s = time.monotonic() - t0
    export_dir = cfg.out / cfg.name / "export"
    paths = export_model(ExportConfig(
        weights=best, out=export_dir, imgsz=imgsz, version=cfg.version, int8=cfg.int8,
        calib_data=(data_yaml.parent / "train" / "images") if cfg.int8 else None,
        calib_count=64, config_dir=(cfg.out / ".yolo")))
    import torch

    ship_checkpoint(torch.load(best, map_location="cpu", weights_only=False),
                    paths[0].with_suffix(".pt"), paths, imgsz)
    scores = {p.name: evaluate_onnx(p, data_yaml, "val") for p in paths}
    summary = {"base": str(base), "data": data_info, "epochs": cfg.epochs, "imgsz": imgsz,
               "train_minutes": train_s / 60, "models": [str(p) for p in paths],
               "val": {k: {m: v[m] for m in ("mAP50", "mAP50-95", "per_class")}
                       for k, v in scores.items()}}
    (cfg.out / cfg.name / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
