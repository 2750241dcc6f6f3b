"""The refiner's manifest: what the ONNX mask refiner is, how its crops are made and fed, and
how to check the file is the one described.

A JSON file beside the model, named after it (``lineinspect-refiner-v1.onnx`` →
``lineinspect-refiner-v1.json``, :func:`lineinspect.manifest.manifest_path_for`). The crop
geometry (``crop.pad``, ``crop.min_side``, ``input.size``) is part of the model: it was trained
on crops made with exactly these values by :mod:`lineinspect.crops`, so the edge must crop with
them. No torch here; onnxruntime only when :func:`verify_refiner` opens the model itself.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lineinspect.manifest import (
    CheckpointRef,
    ManifestError,
    load_json_manifest,
    open_checked_session,
    verify_file,
)

FORMAT_VERSION = 1


class RefinerInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = Field(ge=16, description="S: crops are S x S")
    dtype: Literal["uint8"] = "uint8"
    layout: Literal["NHWC"] = "NHWC"
    color: Literal["BGR"] = "BGR"
    normalisation: str = Field(
        "in the graph: BGR->RGB, /255, (x - mean) / std", description="done by the graph itself")
    mean_rgb: tuple[float, float, float]
    std_rgb: tuple[float, float, float]


class CropSpec(BaseModel):
    """How crops are cut (``lineinspect.crops.crop_window`` / ``crop_image``)."""

    model_config = ConfigDict(extra="forbid")

    pad: float = Field(ge=0)
    min_side: float = Field(gt=0)


class RefinerOutputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class_logits: str = Field(description="(B, Q, num classes + 1); the last is 'no object'")
    mask_logits: str = Field(description="(B, Q, h, w) at mask_size; upsample then sigmoid")
    num_queries: int = Field(ge=1)
    mask_size: int = Field(ge=1)


class RefinerManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = 1
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    task: Literal["refine-mask"] = "refine-mask"
    architecture: str = "mask2former-swin"
    class_names: list[str] = Field(min_length=1)
    input: RefinerInput
    crop: CropSpec
    outputs: RefinerOutputs
    mask_threshold: float = Field(0.5, gt=0, lt=1)
    score_floor: float = Field(0.1, ge=0, lt=1,
                               description="below this instance score refine() returns None")
    opset: int = Field(ge=7)
    precision: Literal["fp32", "int8"] = "fp32"
    dynamic_batch: bool = True
    file: str = Field(description="model file name, relative to the manifest's folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_size: int = Field(ge=1)
    created_at: datetime
    params: int | None = Field(None, ge=1)
    metrics: dict[str, Any] = Field(default_factory=dict, description="filled by evaluation")
    training: dict[str, Any] = Field(default_factory=dict, description="recipe and command")
    exporter: dict[str, str] = Field(default_factory=dict, description="tool versions")
    checkpoint: CheckpointRef | None = Field(
        None, description="the weights the ONNX was exported from, shipped beside it so a "
        "longer or a line's own training warm-starts from them (train-refiner --init)")


def write_refiner_manifest(manifest: RefinerManifest, path: Path) -> None:
    path.write_text(manifest.model_dump_json(indent=2) + "\n")


def load_refiner_manifest(path: Path) -> RefinerManifest:
    """Read and validate; any problem is a :class:`ManifestError` naming it."""
    return load_json_manifest(path, RefinerManifest, "refiner manifest")


def record_refiner_metrics(path: Path, metrics: dict[str, Any]) -> RefinerManifest:
    """Merge evaluation figures into ``metrics`` (the model file is untouched)."""
    manifest = load_refiner_manifest(path)
    updated = manifest.model_copy(update={"metrics": {**manifest.metrics, **metrics}})
    write_refiner_manifest(updated, path)
    return updated


def _mismatch(path: Path, what: str, expected: object, actual: object) -> ManifestError:
    return ManifestError(f"refiner model {path} does not match its manifest: {what}: "
                         f"manifest expects {expected}, model has {actual}")


def verify_refiner_file(model_path: Path, manifest: RefinerManifest) -> None:
    """Existence, size and sha256, before any session is built."""
    verify_file(model_path, manifest, "refiner model")


def check_refiner_io(model_path: Path, manifest: RefinerManifest, session: Any) -> None:
    """The graph's input and outputs agree with the manifest (names, dtype, sizes, classes)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise _mismatch(model_path, "number of inputs", 1, len(inputs))
    inp, spec = inputs[0], manifest.input
    if inp.name != spec.name:
        raise _mismatch(model_path, "input name", repr(spec.name), repr(inp.name))
    if inp.type != "tensor(uint8)":
        raise _mismatch(model_path, "input dtype", "tensor(uint8)", inp.type)
    if list(inp.shape[1:]) != [spec.size, spec.size, 3]:
        raise _mismatch(model_path, "input shape [S, S, 3]", [spec.size, spec.size, 3],
                        list(inp.shape[1:]))
    names = [o.name for o in outputs]
    want = [manifest.outputs.class_logits, manifest.outputs.mask_logits]
    if names[:2] != want:
        raise _mismatch(model_path, "output names", want, names)


def verify_refiner(model_path: Path, manifest: RefinerManifest, session: Any = None) -> None:
    """Refuse a refiner that is missing, corrupt or not the one its manifest describes; pass the
    runtime's own ``session`` to avoid loading the model twice."""
    verify_refiner_file(model_path, manifest)
    if session is None:
        session = open_checked_session(model_path)
    check_refiner_io(model_path, manifest, session)
