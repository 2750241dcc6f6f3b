"""Ship the trainable checkpoint beside an exported model and name it in the manifests.

The edge needs only the ONNX; a line that fine-tunes needs the PyTorch weights it came from.
:func:`ship_checkpoint` writes a slim copy (fp16 weights, no optimizer state: a few MB) beside
the ONNX files and records its sha256 in each given manifest, so ``models pull`` and
``models finetune`` can check it like the model itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lineinspect.manifest import (
    CheckpointRef,
    load_manifest,
    manifest_path_for,
    sha256_file,
    write_manifest,
)


def slim_checkpoint(ckpt: dict[str, Any]) -> dict[str, Any]:
    """What fine-tuning needs of an ultralytics checkpoint: the (EMA) model in fp16, its args."""
    model = ckpt.get("ema") or ckpt["model"]
    kept = ("date", "train_args", "train_metrics", "recovered_from")
    keep: dict[str, Any] = {k: ckpt[k] for k in kept if k in ckpt}
    return {**keep, "epoch": -1, "best_fitness": None, "model": model.half(), "ema": None,
            "updates": None, "optimizer": None}


def ship_checkpoint(ckpt: dict[str, Any], target: Path, models: Sequence[Path],
                    imgsz: int) -> Path:
    """Write ``ckpt`` slimmed to ``target`` and name it in the manifest of every ``models``."""
    import torch

    for m in models:
        if m.parent.resolve() != target.parent.resolve():
            raise ValueError(f"{m} is not in {target.parent}: a manifest names files beside it")
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim_checkpoint(ckpt), target)
    ref = CheckpointRef(file=target.name, sha256=sha256_file(target),
                        file_size=target.stat().st_size, imgsz=imgsz)
    for m in models:
        path = manifest_path_for(m)
        write_manifest(load_manifest(path).model_copy(update={"checkpoint": ref}), path)
    return target


def recover_and_ship(models: Sequence[Path], target: Path | None = None) -> Path:
    """Rebuild the checkpoint of ``models[0]`` (an ultralytics export of ours) and ship it."""
    from models.train.recover import checkpoint_from_onnx

    first = models[0]
    manifest = load_manifest(manifest_path_for(first))
    if manifest.precision != "fp32":
        raise ValueError(f"{first}: recover from the fp32 export (INT8/fp16 weights are not the "
                         f"trained ones); list the other variants after it")
    imgsz = manifest.input.size[0]
    ckpt = checkpoint_from_onnx(first, list(manifest.class_names), imgsz)
    return ship_checkpoint(ckpt, target or first.with_suffix(".pt"), models, imgsz)
