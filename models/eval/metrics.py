"""Detection metrics: COCO-style mAP50 and mAP50-95 with per-class precision and recall.

Pure numpy, the same method as ultralytics' validator (greedy one-to-one matching per IoU threshold,
precision envelope, 101-point interpolated AP, P/R reported at the confidence of best mean F1), so
figures from our ONNX runtime and from ultralytics' ``val`` are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
# numpy 2 renamed trapz; JetPack images still ship numpy 1.x.
_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")  # noqa: B009
F32 = npt.NDArray[np.float32]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``a`` (N, 4) and ``b`` (M, 4) xyxy boxes → (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def match_predictions(pred_cls: np.ndarray, gt_cls: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """(P, 10) bool: prediction i is a true positive at IoU threshold j.

    ``iou`` is (G, P). Pairs with different classes never match; each ground truth and each
    prediction is used at most once per threshold, best IoU first.
    """
    correct = np.zeros((len(pred_cls), len(IOU_THRESHOLDS)), bool)
    if len(pred_cls) == 0 or len(gt_cls) == 0:
        return correct
    iou = iou * (gt_cls[:, None] == pred_cls[None, :])
    for j, t in enumerate(IOU_THRESHOLDS):
        gi, pi = np.nonzero(iou >= t)
        if gi.size == 0:
            continue
        order = np.argsort(-iou[gi, pi], kind="stable")
        gi, pi = gi[order], pi[order]
        _, first_p = np.unique(pi, return_index=True)
        keep = np.sort(first_p)
        gi, pi = gi[keep], pi[keep]
        _, first_g = np.unique(gi, return_index=True)
        correct[pi[first_g], j] = True
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """101-point interpolated AP of one precision/recall curve (recall ascending)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return float(_trapezoid(np.interp(x, mrec, mpre), x))


@dataclass
class DetectionMetrics:
    map50: float
    map50_95: float
    precision: float
    recall: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"mAP50": self.map50, "mAP50-95": self.map50_95, "precision": self.precision,
                "recall": self.recall, "per_class": self.per_class}


class MetricAccumulator:
    """Feed per-image predictions and ground truth; :meth:`compute` gives the metrics."""

    def __init__(self, class_names: list[str] | tuple[str, ...]) -> None:
        self.names = list(class_names)
        self._correct: list[np.ndarray] = []
        self._conf: list[np.ndarray] = []
        self._pcls: list[np.ndarray] = []
        self._gcls: list[np.ndarray] = []

    def add(self, pred_xyxy: np.ndarray, pred_score: np.ndarray, pred_cls: np.ndarray,
            gt_xyxy: np.ndarray, gt_cls: np.ndarray) -> None:
        pred_cls = np.asarray(pred_cls, np.int64)
        gt_cls = np.asarray(gt_cls, np.int64)
        iou = box_iou(np.asarray(gt_xyxy, np.float64), np.asarray(pred_xyxy, np.float64))
        self._correct.append(match_predictions(pred_cls, gt_cls, iou))
        self._conf.append(np.asarray(pred_score, np.float64))
        self._pcls.append(pred_cls)
        self._gcls.append(gt_cls)

    def compute(self) -> DetectionMetrics:
        nc = len(self.names)
        correct = np.concatenate(self._correct) if self._correct else np.zeros((0, 10), bool)
        conf = np.concatenate(self._conf) if self._conf else np.zeros(0)
        pcls = np.concatenate(self._pcls) if self._pcls else np.zeros(0, np.int64)
        gcls = np.concatenate(self._gcls) if self._gcls else np.zeros(0, np.int64)
        order = np.argsort(-conf, kind="stable")
        correct, conf, pcls = correct[order], conf[order], pcls[order]
        grid = np.linspace(0, 1, 1000)
        ap = np.zeros((nc, 10))
        p_curve = np.zeros((nc, grid.size))
        r_curve = np.zeros((nc, grid.size))
        n_gt = np.bincount(gcls, minlength=nc)
        for c in range(nc):
            sel = pcls == c
            if n_gt[c] == 0 or not sel.any():
                continue
            tp = np.cumsum(correct[sel], axis=0)
            fp = np.cumsum(~correct[sel], axis=0)
            recall = tp / (n_gt[c] + 1e-16)
            precision = tp / (tp + fp)
            # P and R as functions of confidence (conf descending → flip for interp).
            r_curve[c] = np.interp(-grid, -conf[sel], recall[:, 0], left=0)
            p_curve[c] = np.interp(-grid, -conf[sel], precision[:, 0], left=1)
            for j in range(10):
                ap[c, j] = average_precision(recall[:, j], precision[:, j])
        present = n_gt > 0
        f1 = 2 * p_curve * r_curve / (p_curve + r_curve + 1e-16)
        best = int(f1[present].mean(axis=0).argmax()) if present.any() else 0
        per_class = {
            self.names[c]: {"precision": float(p_curve[c, best]), "recall": float(r_curve[c, best]),
                            "mAP50": float(ap[c, 0]), "mAP50-95": float(ap[c].mean()),
                            "instances": int(n_gt[c])}
            for c in range(nc)
        }
        if not present.any():
            return DetectionMetrics(0.0, 0.0, 0.0, 0.0, per_class)
        return DetectionMetrics(
            map50=float(ap[present, 0].mean()),
            map50_95=float(ap[present].mean()),
            precision=float(p_curve[present, best].mean()),
            recall=float(r_curve[present, best].mean()),
            per_class=per_class,
        )
