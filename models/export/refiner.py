"""Export a refiner checkpoint to one self-contained ONNX file + its manifest.

Why the legacy TorchScript exporter (``dynamo=False``, opset 17): torch.export's decomposition
of the Swin backbone fails here (a ``view`` of a non-contiguous window tensor), and the dynamo
path would also split the weights into a ``.onnx.data`` file. The legacy exporter writes the
deformable-attention ``GridSample`` nodes with a float64 grid, which onnxruntime's CPU provider
refuses (``NOT_IMPLEMENTED GridSample(16)``): :func:`cast_gridsample_inputs` puts a Cast to
float32 in front of their inputs. The model is tiny (~7 MB fp32), so weights stay inside the
graph. Before the manifest is written, the ONNX is run on rendered crops and compared with
PyTorch; the largest differences go in the manifest.
"""

from __future__ import annotations

import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from edge.refine.manifest import (
    CropSpec,
    RefinerInput,
    RefinerManifest,
    RefinerOutputs,
    write_refiner_manifest,
)
from lineinspect.manifest import CheckpointRef, manifest_path_for, sha256_file
from models.train.refiner import load_refiner
from models.train.refiner_model import MEAN_RGB, STD_RGB, RefinerGraph, count_params

INPUT = "crops"
OUTPUTS = ("class_logits", "mask_logits")
OPSET = 17


class RefinerExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint: Path
    out: Path = Path("models/artifacts/refiner")
    name: str = "lineinspect-refiner"
    version: str = "1"
    int8: bool = False
    mask_threshold: float = Field(0.5, gt=0, lt=1)
    score_floor: float = Field(0.1, ge=0, lt=1)
    parity_tolerance: float = Field(1e-3, gt=0, description="max abs logit diff allowed")


def cast_gridsample_inputs(model: Any) -> int:
    """Insert a Cast to float32 before each GridSample input (see the module docstring);
    returns how many nodes were patched."""
    from onnx import TensorProto, helper

    nodes, patched = [], 0
    for node in model.graph.node:
        if node.op_type == "GridSample":
            for k in (0, 1):
                cast_out = f"{node.input[k]}__f32_{patched}_{k}"
                nodes.append(helper.make_node("Cast", [node.input[k]], [cast_out],
                                              to=TensorProto.FLOAT, name=f"{cast_out}_cast"))
                node.input[k] = cast_out
            patched += 1
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return patched


def export_onnx(graph: RefinerGraph, size: int, path: Path) -> None:
    """Write ``graph`` as one ONNX file with a dynamic batch."""
    import onnx

    example = torch.zeros((1, size, size, 3), dtype=torch.uint8)
    axes = {INPUT: {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(graph, (example,), str(raw), input_names=[INPUT],
                          output_names=list(OUTPUTS), dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
        model = onnx.load(str(raw))
    cast_gridsample_inputs(model)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path), save_as_external_data=False)


def sample_crops(size: int, count: int = 4, seed: int = 77) -> np.ndarray:
    """Rendered defect crops (held-out world) for the parity check and INT8 checks."""
    from models.data.refiner_crops import make_crops

    return np.stack([s.image for s in make_crops(count, seed, size, "heldout")])


def parity(graph: RefinerGraph, path: Path, crops: np.ndarray) -> dict[str, float]:
    """Max abs differences between onnxruntime and PyTorch on the same crops."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(list(OUTPUTS), {INPUT: crops})
    with torch.no_grad():
        want = [t.numpy() for t in graph(torch.from_numpy(crops))]
    return {f"max_abs_diff_{name}": float(np.abs(g - w).max())
            for name, g, w in zip(OUTPUTS, got, want, strict=True)}


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(), "exporter": "torch.onnx legacy (dynamo=False)"}


def build_manifest(path: Path, cfg: RefinerExportConfig, state: dict[str, Any], params: int,
                   checks: dict[str, float], precision: str = "fp32") -> RefinerManifest:
    arch, train_cfg = state["arch"], state.get("config", {})
    size = int(arch["input_size"])
    return RefinerManifest(
        name=cfg.name, version=cfg.version, class_names=list(arch["class_names"]),
        architecture=f"mask2former-{arch.get('backbone', 'swin')}",
        input=RefinerInput(name=INPUT, size=size, mean_rgb=MEAN_RGB, std_rgb=STD_RGB),
        crop=CropSpec(pad=float(train_cfg.get("pad", 0.25)),
                      min_side=float(train_cfg.get("min_side", 24.0))),
        outputs=RefinerOutputs(class_logits=OUTPUTS[0], mask_logits=OUTPUTS[1],
                               num_queries=int(arch["num_queries"]), mask_size=size // 4),
        mask_threshold=cfg.mask_threshold, score_floor=cfg.score_floor, opset=OPSET,
        precision=precision, file=path.name, sha256=sha256_file(path),
        file_size=path.stat().st_size, created_at=datetime.now(timezone.utc), params=params,
        metrics={"export_parity": checks},
        training={"config": train_cfg, "epochs_done": state.get("epoch"),
                  "train_seconds": state.get("train_seconds")},
        exporter=_versions())


def write_weights(model: Any, arch: Any, path: Path) -> CheckpointRef:
    """The trainable weights beside the ONNX: state dict in fp16 (half the size; a warm start
    loads it into fp32 parameters) and the architecture, no optimizer. ``--init`` takes it."""
    torch.save({"model": {k: v.half() if v.is_floating_point() else v
                          for k, v in model.state_dict().items()},
                "arch": arch.model_dump(mode="json")}, path)
    return CheckpointRef(file=path.name, sha256=sha256_file(path),
                         file_size=path.stat().st_size, format="lineinspect-refiner",
                         imgsz=int(arch.input_size))


def export_refiner(cfg: RefinerExportConfig) -> list[Path]:
    """Export fp32 (and INT8 with ``cfg.int8``); returns the model paths, manifests beside."""
    model, arch, state = load_refiner(cfg.checkpoint)
    graph = RefinerGraph(model).eval()
    cfg.out.mkdir(parents=True, exist_ok=True)
    path = cfg.out / f"{cfg.name}-v{cfg.version}.onnx"
    export_onnx(graph, arch.input_size, path)
    checks = parity(graph, path, sample_crops(arch.input_size))
    worst = max(checks.values())
    if worst > cfg.parity_tolerance:
        raise RuntimeError(f"ONNX differs from PyTorch by {worst:.2e} (> {cfg.parity_tolerance})")
    params = count_params(model)
    manifest = build_manifest(path, cfg, state, params, checks)
    manifest.checkpoint = write_weights(model, arch, path.with_suffix(".pt"))
    write_refiner_manifest(manifest, manifest_path_for(path))
    paths = [path]
    if cfg.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = cfg.out / f"{cfg.name}-v{cfg.version}-int8.onnx"
        quantize_dynamic(str(path), str(q), weight_type=QuantType.QInt8)
        write_refiner_manifest(build_manifest(q, cfg, state, params, {}, "int8"),
                               manifest_path_for(q))
        paths.append(q)
    return paths
