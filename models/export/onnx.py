"""ONNX export of a YOLOv8 ``.pt`` through ultralytics, fully offline.

Opset 17: the newest that onnxruntime's CUDA provider runs without CPU fallbacks (ultralytics'
own choice for torch >= 2.4 is 18, and onnxruntime's static quantization refuses >= 21), and
one that TensorRT 8.6 (JetPack 6) parses.

Dynamic batch: ultralytics' ``dynamic=True`` makes batch, height *and* width symbolic. The edge
feeds a fixed size, so height and width are pinned again and the graph is
re-slimmed, which folds the shape arithmetic back to the fixed-batch graph's node count.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_OPSET = 17


def load_checkpoint_info(weights: Path) -> dict[str, Any]:
    """Class names, ``train_args``, ``train_metrics``, date and version of a checkpoint."""
    import torch

    ckpt = torch.load(str(weights), map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or ("model" not in ckpt and "ema" not in ckpt):
        raise ValueError(f"{weights} is not an ultralytics checkpoint (no model inside)")
    info = {k: ckpt.get(k) for k in ("train_args", "train_metrics", "date", "version", "epoch")}
    names = getattr(ckpt.get("ema") or ckpt.get("model"), "names", None)
    if not isinstance(names, dict) or not names:
        raise ValueError(f"{weights}: checkpoint has no class names")
    info["names"] = [str(names[i]) for i in sorted(names)]
    return info


def export_onnx(weights: Path, dst: Path, imgsz: int, dynamic: bool, opset: int = DEFAULT_OPSET,
                config_dir: Path | None = None) -> Path:
    """Export ``weights`` to ``dst`` (fp32; batch 1, or dynamic batch at a fixed image size).

    Call :func:`models.train.offline.prepare_offline` before, in this process, so ultralytics
    never reaches the network; ``config_dir`` does it here when given.
    """
    if config_dir is not None:
        from models.train.offline import prepare_offline

        prepare_offline(config_dir)
    from ultralytics import YOLO

    from models.train.offline import apply_settings

    apply_settings()
    if not weights.is_file():
        raise FileNotFoundError(f"weights not found: {weights}")
    with tempfile.TemporaryDirectory(prefix="lineinspect-export-") as tmp:
        # ultralytics writes next to the .pt; a private copy keeps the source folder clean.
        local = Path(tmp) / "model.pt"
        shutil.copyfile(weights, local)
        model = YOLO(str(local))
        if model.task != "detect":
            raise ValueError(f"{weights}: task {model.task!r}, only 'detect' models are supported")
        out = Path(model.export(format="onnx", imgsz=imgsz, opset=opset, simplify=True,
                                dynamic=dynamic, batch=1, device="cpu", verbose=False))
        if dynamic:
            pin_spatial_dims(out, imgsz, imgsz)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), dst)
    return dst


def pin_spatial_dims(path: Path, h: int, w: int) -> None:
    """Keep the batch dimension symbolic, fix height/width, and fold the shape arithmetic."""
    import onnx
    import onnxslim

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i, v in ((2, h), (3, w)):
        dims[i].ClearField("dim_param")
        dims[i].dim_value = v
    del model.graph.value_info[:]  # stale symbolic shapes; slimming re-infers them
    slim = onnxslim.slim(model)
    onnx.save(slim, str(path))
