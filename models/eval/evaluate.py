"""``lineinspect models eval``: score a detector on a held-out YOLO-format split.

ONNX models are scored through the edge's own runtime (what a station actually runs), ``.pt``
checkpoints through ultralytics' validator; both report mAP50, mAP50-95 and per-class P/R.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from models.eval.dataset import iter_split, load_data_yaml
from models.eval.metrics import DetectionMetrics, MetricAccumulator

# Validation settings of ultralytics' own ``val`` so figures are comparable.
VAL_CONF = 0.001
VAL_IOU = 0.7
VAL_MAX_DET = 300


def _images_dir(data_yaml: Path, split: str) -> tuple[Path, list[str]]:
    root, splits, names = load_data_yaml(data_yaml)
    if split not in splits:
        raise ValueError(f"{data_yaml}: no {split!r} split (has {sorted(splits)})")
    return root / splits[split], names


def shared_classes(model_names: list[str], data_names: list[str]
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The class names both sides know, and id maps from each side into them (-1: not scored).

    A model need not know every class of a dataset, nor the reverse: v2 (three defects) is scored
    on a four-class set with ``part`` by its three classes; a user's model on ours by the shared
    names. Nothing in common is an error, not a score of zero.
    """
    scored = [n for n in data_names if n in model_names]
    if not scored:
        raise ValueError(f"model classes {model_names} share none with the dataset's {data_names}")
    index = {n: i for i, n in enumerate(scored)}
    pred_map = np.array([index.get(n, -1) for n in model_names], np.int64)
    gt_map = np.array([index.get(n, -1) for n in data_names], np.int64)
    return scored, pred_map, gt_map


def evaluate_onnx(model: Path, data_yaml: Path, split: str = "val",
                  limit: int | None = None) -> dict[str, Any]:
    """mAP of an exported ONNX model through ``edge.detect.Detector``."""
    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings

    images, names = _images_dir(data_yaml, split)
    det = Detector(DetectorSettings(model=model, providers=["cpu"], conf_threshold=VAL_CONF,
                                    iou_threshold=VAL_IOU, max_detections=VAL_MAX_DET,
                                    warmup_runs=1))
    scored, pred_map, gt_map = shared_classes(list(det.class_names), names)
    det.warmup()
    acc = MetricAccumulator(scored)
    n = 0
    infer_ms = 0.0
    t0 = time.perf_counter()
    for sample in iter_split(images):
        if limit is not None and n >= limit:
            break
        img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read image {sample.image}")
        d = det.detect(img)
        infer_ms += det.timings.infer_ms
        gt_xyxy, gt_cls = sample.ground_truth(*img.shape[:2])
        pc, gc = pred_map[d.class_id], gt_map[gt_cls]
        keep_p, keep_g = pc >= 0, gc >= 0
        acc.add(d.xyxy[keep_p], d.score[keep_p], pc[keep_p], gt_xyxy[keep_g], gc[keep_g])
        n += 1
    m: DetectionMetrics = acc.compute()
    ignored = sorted(set(names) ^ set(det.class_names))
    return {"model": str(model), "runtime": "lineinspect-onnxruntime", "split": split,
            "images": n, "provider": det.provider, **m.as_dict(),
            "classes_scored": scored, "classes_ignored": ignored,
            "infer_ms_mean": infer_ms / max(n, 1),
            "wall_s": time.perf_counter() - t0}


def evaluate_pt(weights: Path, data_yaml: Path, split: str = "val", imgsz: int = 320,
                workdir: Path = Path(".")) -> dict[str, Any]:
    """mAP of a ``.pt`` checkpoint through ultralytics' validator (offline)."""
    from models.train.offline import apply_settings, prepare_offline

    prepare_offline(workdir.resolve() / ".yolo")
    from ultralytics import YOLO

    apply_settings()
    # ultralytics insists on a 'train' key even to validate; a held-out set has none, so hand
    # it a copy of the dataset file that points every split at the one being scored.
    images, names = _images_dir(data_yaml, split)
    scratch = Path(tempfile.mkdtemp(prefix="lineinspect-eval-"))
    scored = scratch / "data.yaml"
    scored.write_text(yaml.safe_dump({"path": str(images.parent), "train": images.name,
                                      "val": images.name, "test": images.name,
                                      "names": dict(enumerate(names))}))
    model = YOLO(str(weights))
    r = model.val(data=str(scored), split=split, imgsz=imgsz, batch=16, conf=VAL_CONF,
                  iou=VAL_IOU, device="cpu", plots=False, verbose=False,
                  project=str((workdir / "runs" / "val").resolve()), exist_ok=True)
    names = [model.names[i] for i in sorted(model.names)]
    per_class: dict[str, dict[str, float]] = {}
    for i, c in enumerate(r.box.ap_class_index):
        per_class[names[int(c)]] = {"precision": float(r.box.p[i]), "recall": float(r.box.r[i]),
                                    "mAP50": float(r.box.ap50[i]), "mAP50-95": float(r.box.ap[i])}
    return {"model": str(weights), "runtime": "ultralytics", "split": split,
            "mAP50": float(r.box.map50), "mAP50-95": float(r.box.map),
            "precision": float(r.box.mp), "recall": float(r.box.mr), "per_class": per_class}


def format_report(res: dict[str, Any]) -> str:
    lines = [f"{res['model']} on {res['split']} ({res['runtime']}"
             + (f", {res['images']} images" if "images" in res else "") + ")",
             f"  mAP50 {res['mAP50']:.3f}   mAP50-95 {res['mAP50-95']:.3f}   "
             f"P {res['precision']:.3f}   R {res['recall']:.3f}",
             f"  {'class':<10} {'P':>6} {'R':>6} {'mAP50':>6} {'50-95':>6}"]
    for name, c in res["per_class"].items():
        lines.append(f"  {name:<10} {c['precision']:6.3f} {c['recall']:6.3f} "
                     f"{c['mAP50']:6.3f} {c['mAP50-95']:6.3f}")
    return "\n".join(lines)
