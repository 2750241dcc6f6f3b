"""Assemble the manifest of an exported variant from the checkpoint, dataset and ONNX file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from lineinspect.manifest import (
    InputSpec,
    ModelManifest,
    OutputSpec,
    manifest_path_for,
    open_checked_session,
    session_io,
    sha256_file,
    verify_model,
    write_manifest,
)

TOOLS = ("ultralytics", "torch", "onnx", "onnxruntime", "onnxslim", "lineinspect")


def tool_versions() -> dict[str, str]:
    versions = {}
    for pkg in TOOLS:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return versions


def dataset_info(dataset: Path | None, train_args: dict[str, Any]) -> dict[str, Any] | None:
    """The dataset's ``recipe.json`` (our synthetic sets) from ``dataset`` or the training data."""
    folder = dataset
    if folder is None and train_args.get("data"):
        folder = Path(str(train_args["data"])).parent
    if folder is None:
        return None
    info: dict[str, Any] = {"path": str(folder), "data": train_args.get("data")}
    recipe = folder / "recipe.json"
    if recipe.is_file():
        info["recipe"] = json.loads(recipe.read_text())
    elif dataset is not None:
        raise FileNotFoundError(f"dataset folder {dataset} has no recipe.json")
    return info


def training_info(ckpt: dict[str, Any]) -> dict[str, Any]:
    args = ckpt.get("train_args") or {}
    keys = ("data", "model", "epochs", "imgsz", "batch", "seed")
    command = "lineinspect models train-detector " + " ".join(
        f"--{k} {args[k]}" for k in keys if args.get(k) is not None)
    return {
        "train_args": args,
        "train_metrics": ckpt.get("train_metrics") or {},
        "command_equivalent": command + "  (other hyper-parameters: train_args)",
        "checkpoint_date": ckpt.get("date"),
        "ultralytics_version": ckpt.get("version"),
    }


def build_manifest(onnx_path: Path, *, name: str, version: str, class_names: list[str],
                   precision: str, opset: int, anchors: int | None,
                   extras: dict[str, Any]) -> ModelManifest:
    """Read IO from the file itself so the manifest describes what was actually written."""
    session = open_checked_session(onnx_path)
    inputs, outputs, _ = session_io(session)
    inp, out = inputs[0], outputs[0]
    if len(inp.shape) != 4 or len(out.shape) != 3:
        raise ValueError(f"{onnx_path}: not a YOLOv8 detector graph (input {list(inp.shape)}, "
                         f"output {list(out.shape)}; expected NCHW in, [N, 4+nc, A] out)")
    h, w = int(inp.shape[2] or 0), int(inp.shape[3] or 0)
    return ModelManifest(
        name=name, version=version, class_names=class_names,
        input=InputSpec(name=inp.name, size=(h, w),
                        dtype="float16" if inp.type == "tensor(float16)" else "float32"),
        output=OutputSpec(name=out.name, channels=4 + len(class_names),
                          anchors=out.shape[2] if isinstance(out.shape[2], int) else anchors),
        opset=opset, precision=precision,
        dynamic_batch=not isinstance(inp.shape[0], int),
        file=onnx_path.name, sha256=sha256_file(onnx_path), file_size=onnx_path.stat().st_size,
        created_at=datetime.now(timezone.utc), exporter=tool_versions(), **extras,
    )


def write_and_verify(manifest: ModelManifest, onnx_path: Path) -> Path:
    """Write ``<model>.json`` and check the pair the way the edge will."""
    path = manifest_path_for(onnx_path)
    write_manifest(manifest, path)
    verify_model(onnx_path, manifest)
    return path
