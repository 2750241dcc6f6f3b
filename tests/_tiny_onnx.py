"""Tiny real ONNX models with a YOLOv8-shaped interface, built with ``onnx.helper``.

The output is a constant ``[4+nc, A]`` prediction broadcast over the batch (plus 0 x the input
mean, so the graph really consumes its input). That gives end-to-end tests of the runtime
(letterbox geometry, decode, NMS, scale-back) with exactly known answers, and manifest tests
with any input size or class count, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lineinspect.manifest import ModelManifest, manifest_path_for, write_manifest
from models.export.manifest_build import build_manifest


def yolo_row(cx: float, cy: float, w: float, h: float, scores: list[float]) -> list[float]:
    return [cx, cy, w, h, *scores]


def make_const_model(path: Path, preds: np.ndarray, imgsz: tuple[int, int] = (320, 320),
                     dynamic: bool = False, names: list[str] | None = None) -> Path:
    """``preds``: (4+nc, A) float32, the model's output for any input."""
    preds = np.asarray(preds, np.float32)
    batch: int | str = "batch" if dynamic else 1
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *imgsz])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT,
                                        [batch, preds.shape[0], preds.shape[1]])
    const = numpy_helper.from_array(preds[None], "preds")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    shape = numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[1, 2, 3], keepdims=1,
                         name="mean"),
        helper.make_node("Reshape", ["mean4", "shape"], ["mean"], name="flat"),
        helper.make_node("Mul", ["mean", "zero"], ["nil"], name="nil"),
        helper.make_node("Add", ["preds", "nil"], ["output0"], name="out"),
    ]
    graph = helper.make_graph(nodes, "const_yolo", [images], [out], [const, zero, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    if names is not None:
        model.metadata_props.add(key="names", value=str(dict(enumerate(names))))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def random_preds(nc: int, anchors: int = 2100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    preds = np.zeros((4 + nc, anchors), np.float32)
    preds[:4] = rng.uniform(10, 100, (4, anchors))
    preds[4:] = rng.uniform(0, 0.2, (nc, anchors))
    return preds


def with_manifest(onnx_path: Path, class_names: list[str], precision: str = "fp32",
                  **overrides: object) -> ModelManifest:
    """Write a manifest describing ``onnx_path`` as it is (then apply ``overrides``)."""
    manifest = build_manifest(onnx_path, name="tiny", version="0", class_names=class_names,
                              precision=precision, opset=17, anchors=None, extras={})
    if overrides:
        manifest = manifest.model_copy(update=overrides)
    write_manifest(manifest, manifest_path_for(onnx_path))
    return manifest
