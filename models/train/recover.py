"""Rebuild a trainable ultralytics checkpoint from one of our exported ONNX detectors.

Until v3 only the ONNX of the default detector shipped, so fine-tuning had to start from scratch.
An ultralytics export fuses every Conv+BatchNorm into one convolution with a bias and keeps the
PyTorch parameter names (``model.0.conv.weight``, ``model.0.conv.bias`` …), which makes the way
back exact: the fused weight goes into the convolution and the BatchNorm is set to add the fused
bias and nothing else (mean 0, variance 1, scale ``sqrt(1 + eps)``, shift = bias). The rebuilt
model computes what the ONNX computes (a test compares them) and trains like any checkpoint.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np


def _onnx_weights(onnx_path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}


def _load_fused(model: Any, weights: dict[str, np.ndarray]) -> int:
    """Copy fused conv weights into ``model`` (unfused); returns how many convs were set."""
    import torch

    state = model.state_dict()
    done = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
            if conv is None or bn is None or not isinstance(conv, torch.nn.Conv2d):
                continue
            w, b = weights.get(f"{name}.conv.weight"), weights.get(f"{name}.conv.bias")
            if w is None or b is None:
                raise ValueError(f"the ONNX has no fused weights for {name}")
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(f"{name}: ONNX weight {w.shape} != model "
                                 f"{tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.weight.fill_(math.sqrt(1.0 + bn.eps))
            bn.bias.copy_(torch.from_numpy(np.array(b)))
            done += 1
        # Everything else under its own name: the Detect head's last plain convolutions, DFL.
        for key, value in weights.items():
            if key in state and tuple(state[key].shape) == tuple(value.shape):
                state[key].copy_(torch.from_numpy(np.array(value)))
    return done


def checkpoint_from_onnx(onnx_path: Path, class_names: list[str], imgsz: int,
                         arch: str = "yolov8n.yaml") -> dict[str, Any]:
    """An ultralytics checkpoint dict whose model reproduces ``onnx_path``."""
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(arch, nc=len(class_names), verbose=False)
    weights = _onnx_weights(onnx_path)
    if _load_fused(model, weights) == 0:
        raise ValueError(f"{onnx_path}: no fused convolutions matched {arch}")
    model.names = dict(enumerate(class_names))
    model.args = {"imgsz": imgsz, "task": "detect"}  # type: ignore[assignment]
    model.eval()
    return {
        "date": datetime.now(timezone.utc).isoformat(), "epoch": -1, "best_fitness": None,
        "model": model, "ema": None, "updates": None, "optimizer": None,
        "train_args": {"model": arch, "imgsz": imgsz, "task": "detect"},
        "recovered_from": str(onnx_path),
        "train_metrics": {},
    }


def write_checkpoint(onnx_path: Path, class_names: list[str], imgsz: int, out: Path) -> Path:
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint_from_onnx(onnx_path, class_names, imgsz), out)
    return out
