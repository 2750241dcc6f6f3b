"""A detector training that fits a fixed wall-clock budget on a borrowed accelerator box.

The v3 recipe needs tens of epochs over many distinct frames: hours of a 2-core CPU, minutes of
one GPU. A lent GPU box is bare (no network, none of our extras: ultralytics travels as a wheel,
MLflow and pydantic are absent) and lent for minutes, so this module

* renders the training world on every core of that box (the same ``write_randomized`` as
  ``lineinspect models synth --world train``: same frames for the same seed),
* trains with ultralytics for ``minutes`` (ultralytics' ``time`` budget, which re-plans the epoch
  count and the learning-rate schedule after the first epoch so the run ends decayed, not cut
  off) with the augmentation of :class:`models.train.detector.TrainConfig`'s defaults,
* writes ``best.pt``, ``last.pt`` (optimizer stripped, fp16) and ``results.csv`` to ``out`` and
  a last line of JSON with the figures, so the ONNX export and the held-out evaluation happen
  back on the workstation with the project's own tools (``models export`` / ``models eval``).

It imports nothing beyond numpy, OpenCV, PyYAML, torch and ultralytics. Run it through
``scripts/device_train_detector.sh``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

# The augmentation of TrainConfig's defaults (models/train/detector.py), repeated here because
# that module needs pydantic, which such a box lacks; a test keeps the two in step.
AUGMENT: dict[str, Any] = {
    "mosaic": 1.0, "scale": 0.25, "degrees": 0.0, "flipud": 0.5, "fliplr": 0.5, "hsv_h": 0.01,
}


def _without_polars() -> None:
    """ultralytics reads ``results.csv`` with polars when it saves a checkpoint; the box has
    no polars (a 40 MB wheel), so read it with the standard library instead."""
    try:
        import polars  # noqa: F401
        return
    except ImportError:
        pass
    from ultralytics.engine.trainer import BaseTrainer

    def read_results_csv(self: Any) -> dict[str, list[float]]:
        with open(self.csv, newline="") as f:
            rows = list(csv.DictReader(f))
        return {k.strip(): [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}

    BaseTrainer.read_results_csv = read_results_csv  # type: ignore[method-assign]


def _trust_amp() -> None:
    """ultralytics' AMP check downloads a model to compare fp16 with fp32; offline it can only
    fail. Mixed precision on a current NVIDIA GPU is the ultralytics default anyway."""
    import ultralytics.engine.trainer as trainer_module

    trainer_module.check_amp = lambda model: True


def train_kwargs(data: Path, minutes: float, imgsz: int, batch: int, workers: int,
                 device: str, project: Path, name: str) -> dict[str, Any]:
    """What ``YOLO.train`` gets: a time budget rather than an epoch count."""
    return {
        "data": str(data), "epochs": 1000, "time": minutes / 60.0, "imgsz": imgsz,
        "batch": batch, "workers": workers, "device": device, "cache": "ram",
        "optimizer": "auto", "close_mosaic": 2, "patience": 1000, "project": str(project),
        "name": name, "exist_ok": True, "pretrained": True, "plots": False, "val": True,
        "amp": device != "cpu", "deterministic": False, **AUGMENT,
    }


def last_row(results_csv: Path) -> dict[str, float]:
    with results_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {k.strip(): float(v) for k, v in rows[-1].items()} if rows else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start", type=Path, required=True, help="ultralytics .pt to start from")
    ap.add_argument("--out", type=Path, required=True, help="folder for weights and results")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lineinspect-timeboxed"))
    ap.add_argument("--world", default="train")
    ap.add_argument("--train", type=int, default=12000, help="training frames to render")
    ap.add_argument("--val", type=int, default=400)
    ap.add_argument("--seed", type=int, default=6, help="training frames' seed (default 6: "
                    "not one an earlier stage trained on)")
    ap.add_argument("--minutes", type=float, default=6.0, help="training budget (wall clock)")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--render", type=int, default=None,
                    help="frames' width (default --imgsz); 640 at --imgsz 960 trains on the view "
                         "the edge's letterbox gives a 640 px camera")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="0", help="'0' for the first GPU, 'cpu' to try it here")
    ap.add_argument("--name", default="timeboxed")
    args = ap.parse_args(argv)
    if not args.start.is_file():
        ap.error(f"--start {args.start}: no such file")

    from models.data.randomized import write_randomized
    from models.train.offline import apply_settings, prepare_offline

    cores = os.cpu_count() or 1
    began = time.monotonic()
    width = args.render or args.imgsz
    data = args.work / f"data-{args.world}-s{args.seed}-{args.train}-w{width}"
    yaml_path = data / "data.yaml"
    if not yaml_path.exists():  # --render wide; the loader scales them to --imgsz
        write_randomized(data, {"train": args.train, "val": args.val}, args.seed, args.world,
                         workers=cores, width=width)
    render_s = time.monotonic() - began
    print(f"rendered {args.train}+{args.val} frames in {render_s:.0f} s on {cores} cores",
          flush=True)

    prepare_offline(args.work / ".yolo")
    from ultralytics import YOLO

    apply_settings()
    _without_polars()
    _trust_amp()
    project = args.work / "runs"
    model = YOLO(str(args.start))
    t0 = time.monotonic()
    model.train(**train_kwargs(yaml_path, args.minutes, args.imgsz, args.batch,
                               min(cores, 16), args.device, project, args.name))
    train_s = time.monotonic() - t0
    run = project / args.name
    args.out.mkdir(parents=True, exist_ok=True)
    for src in ("weights/best.pt", "weights/last.pt", "results.csv", "args.yaml"):
        if (run / src).exists():
            shutil.copyfile(run / src, args.out / Path(src).name)
    figures = last_row(run / "results.csv")
    print(json.dumps({"render_s": round(render_s, 1), "train_s": round(train_s, 1),
                      "epochs": int(figures.get("epoch", 0)),
                      "val_map50": figures.get("metrics/mAP50(B)"),
                      "val_map50_95": figures.get("metrics/mAP50-95(B)")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
