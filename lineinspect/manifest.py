"""The model manifest: what an exported ONNX model is, how to feed it, and how to check it.

A manifest is a JSON file next to its model, named after it: ``det.onnx`` → ``det.json``
(:func:`manifest_path_for`). One file per variant, because fixed/dynamic batch and fp32/fp16/int8
variants of one model share a folder and differ in sha256, precision and batch.

The export side (``models/export``) writes it; the edge reads it and calls :func:`verify_model`
before trusting the file. This module imports neither torch nor ultralytics; onnxruntime is
imported only inside :func:`verify_model` when it has to open the model itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
YOLOV8_OUTPUT = (
    "yolov8: [batch, 4+nc, anchors]; rows 0-3 are cx, cy, w, h in input pixels, rows 4.. are "
    "class scores with sigmoid applied (no objectness); NMS is not in the graph"
)


M = TypeVar("M", bound=BaseModel)


class ManifestError(ValueError):
    """A model or manifest that must not be loaded; the message names what is wrong."""


class LetterboxSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pad_value: int = Field(114, ge=0, le=255)
    center: bool = True
    scaleup: bool = True
    interpolation: Literal["linear"] = "linear"


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: tuple[int, int] = Field(description="[height, width] in pixels")
    dtype: Literal["float32", "float16"] = "float32"
    layout: Literal["NCHW"] = "NCHW"
    color: Literal["RGB"] = "RGB"
    normalisation: Literal["0..1"] = Field("0..1", description="pixel / 255, no mean/std")
    letterbox: LetterboxSpec = Field(default_factory=LetterboxSpec)


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    format: Literal["yolov8"] = "yolov8"
    layout: str = YOLOV8_OUTPUT
    channels: int = Field(ge=5, description="4 + number of classes")
    anchors: int | None = Field(None, ge=1)


class CheckpointRef(BaseModel):
    """The trainable PyTorch checkpoint the ONNX was exported from, shipped beside it so a line
    fine-tunes from it (``lineinspect models finetune``) instead of training from scratch."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="checkpoint file name, relative to the manifest's folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_size: int = Field(ge=1)
    format: Literal["ultralytics", "lineinspect-refiner"] = Field(
        "ultralytics", description="ultralytics: a YOLO .pt; lineinspect-refiner: the refiner's "
        "weights and architecture ({'model': state dict, 'arch': ...}, `--init` of train-refiner)")
    imgsz: int = Field(ge=32, description="input size the checkpoint was trained at")


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    task: Literal["detect"] = "detect"
    class_names: list[str] = Field(min_length=1)
    input: InputSpec
    output: OutputSpec
    opset: int = Field(ge=7)
    precision: Literal["fp32", "fp16", "int8"]
    dynamic_batch: bool
    file: str = Field(description="model file name, relative to the manifest's folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_size: int = Field(ge=1)
    created_at: datetime
    metrics: dict[str, Any] = Field(default_factory=dict, description="filled by evaluation")
    dataset: dict[str, Any] | None = Field(None, description="recipe.json of the training set")
    seed: int | None = None
    training: dict[str, Any] = Field(default_factory=dict, description="train_args and command")
    source: dict[str, Any] = Field(default_factory=dict, description="weights it was exported from")
    quantization: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = Field(
        None, description="trainable checkpoint beside the model (not needed to run it)")
    exporter: dict[str, str] = Field(default_factory=dict, description="tool versions")


def manifest_path_for(model_path: Path) -> Path:
    """``dir/det.onnx`` → ``dir/det.json``."""
    return model_path.with_suffix(".json")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(manifest: ModelManifest, path: Path) -> None:
    path.write_text(manifest.model_dump_json(indent=2) + "\n")


def load_json_manifest(path: Path, schema: type[M], what: str) -> M:
    """Read and validate a ``schema`` manifest (``what``: how errors name it, e.g. "model
    manifest"); any problem becomes a :class:`ManifestError` naming the file and the field."""
    if not path.is_file():
        raise ManifestError(f"{what} not found: {path} (it must sit next to the model, "
                            f"named after it: <model>.json)")
    try:
        raw = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{what} {path} is not valid JSON: {exc}") from None
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ManifestError(f"{what} {path} is invalid: {problems}") from None


def load_manifest(path: Path) -> ModelManifest:
    """Read and validate a detector manifest; any problem becomes a :class:`ManifestError`."""
    return load_json_manifest(path, ModelManifest, "model manifest")


def record_metrics(manifest_path: Path, metrics: dict[str, Any]) -> ModelManifest:
    """Merge evaluation results into a manifest's ``metrics`` (the model file is untouched)."""
    manifest = load_manifest(manifest_path)
    updated = manifest.model_copy(update={"metrics": {**manifest.metrics, **metrics}})
    write_manifest(updated, manifest_path)
    return updated


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output as onnxruntime reports it (symbolic dims are str or None)."""

    name: str
    type: str
    shape: tuple[int | str | None, ...]


@dataclass(frozen=True)
class ModelIO:
    """What :func:`verify_model` found, ready for the runtime to allocate buffers."""

    input_name: str
    input_shape: tuple[int | str | None, ...]
    output_name: str
    output_shape: tuple[int | str | None, ...]
    dynamic_batch: bool


_ORT_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)"}


def _mismatch(path: Path, what: str, expected: object, actual: object,
              kind: str = "model") -> ManifestError:
    return ManifestError(f"{kind} {path} does not match its manifest: {what}: "
                         f"manifest expects {expected}, model has {actual}")


class FileRecord(Protocol):
    """What a manifest says of its model file (the detector's and the refiner's both)."""

    file_size: int
    sha256: str


def verify_file(model_path: Path, manifest: FileRecord, kind: str = "model") -> None:
    """Existence, size and sha256: cheap checks to run before building any session. ``kind``
    names the model in errors ("model", "refiner model")."""
    if not model_path.is_file():
        raise ManifestError(f"{kind} file not found: {model_path}")
    size = model_path.stat().st_size
    if size != manifest.file_size:
        raise _mismatch(model_path, "file size", f"{manifest.file_size} bytes", f"{size} bytes",
                        kind)
    digest = sha256_file(model_path)
    if digest != manifest.sha256:
        raise _mismatch(model_path, "sha256", manifest.sha256, digest, kind)


def checkpoint_path(model_path: Path, manifest: ModelManifest) -> Path:
    """The verified checkpoint named by ``manifest`` (size and sha256), or a ManifestError."""
    ref = manifest.checkpoint
    if ref is None:
        raise ManifestError(f"model {model_path}: its manifest names no training checkpoint "
                            f"(exported before v3, or by another tool); pass one explicitly")
    path = model_path.parent / ref.file
    if not path.is_file():
        raise ManifestError(f"checkpoint {path} named by the manifest of {model_path} is missing")
    size = path.stat().st_size
    if size != ref.file_size:
        raise _mismatch(path, "checkpoint file size", f"{ref.file_size} bytes", f"{size} bytes")
    digest = sha256_file(path)
    if digest != ref.sha256:
        raise _mismatch(path, "checkpoint sha256", ref.sha256, digest)
    return path


def check_io(model_path: Path, manifest: ModelManifest, inputs: list[TensorInfo],
             outputs: list[TensorInfo], metadata: dict[str, str] | None = None) -> ModelIO:
    """Compare the graph's inputs/outputs (as onnxruntime reports them) with the manifest."""
    if len(inputs) != 1:
        raise _mismatch(model_path, "number of inputs", 1, len(inputs))
    if not outputs:
        raise _mismatch(model_path, "number of outputs", ">= 1", 0)
    inp, out = inputs[0], outputs[0]
    spec = manifest.input
    if inp.name != spec.name:
        raise _mismatch(model_path, "input name", repr(spec.name), repr(inp.name))
    if inp.type != _ORT_TYPES[spec.dtype]:
        raise _mismatch(model_path, "input dtype", _ORT_TYPES[spec.dtype], inp.type)
    if len(inp.shape) != 4:
        raise _mismatch(model_path, "input rank (NCHW)", 4, len(inp.shape))
    hw = tuple(inp.shape[2:])
    if hw != tuple(spec.size) or inp.shape[1] != 3:
        raise _mismatch(model_path, "input size [C, H, W]", [3, *spec.size], list(inp.shape[1:]))
    dynamic = not isinstance(inp.shape[0], int)
    if dynamic != manifest.dynamic_batch:
        raise _mismatch(model_path, "dynamic batch", manifest.dynamic_batch,
                        f"{dynamic} (batch dim {inp.shape[0]!r})")
    if out.name != manifest.output.name:
        raise _mismatch(model_path, "output name", repr(manifest.output.name), repr(out.name))
    if len(out.shape) != 3:
        raise _mismatch(model_path, "output rank [batch, 4+nc, anchors]", 3, len(out.shape))
    expected_channels = 4 + len(manifest.class_names)
    if out.shape[1] != expected_channels or manifest.output.channels != expected_channels:
        raise _mismatch(
            model_path, "output channels (4 box + one per class)",
            f"{expected_channels} ({len(manifest.class_names)} classes: "
            f"{', '.join(manifest.class_names)})",
            f"{out.shape[1]} ({'?' if not isinstance(out.shape[1], int) else out.shape[1] - 4} "
            f"classes)")
    if manifest.output.anchors is not None and isinstance(out.shape[2], int) \
            and out.shape[2] != manifest.output.anchors:
        raise _mismatch(model_path, "output anchors", manifest.output.anchors, out.shape[2])
    names = (metadata or {}).get("names")
    if names is not None and names != str(dict(enumerate(manifest.class_names))):
        raise _mismatch(model_path, "class names (ONNX metadata)",
                        dict(enumerate(manifest.class_names)), names)
    return ModelIO(inp.name, inp.shape, out.name, out.shape, dynamic)


def session_io(session: Any) -> tuple[list[TensorInfo], list[TensorInfo], dict[str, str]]:
    """Inputs, outputs and custom metadata of an ``onnxruntime.InferenceSession``."""
    def info(args: Any) -> list[TensorInfo]:
        return [TensorInfo(a.name, a.type, tuple(a.shape)) for a in args]

    meta = dict(session.get_modelmeta().custom_metadata_map)
    return info(session.get_inputs()), info(session.get_outputs()), meta


def open_checked_session(model_path: Path) -> Any:
    """A minimal CPU session used only to read the graph; corrupt files get a clear error."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several pybind exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ManifestError(f"model {model_path} is not a valid ONNX model "
                            f"(onnxruntime could not load it: {first})") from None


def verify_model(model_path: Path, manifest: ModelManifest, session: Any = None) -> ModelIO:
    """Refuse a model that is missing, corrupt, or not the one its manifest describes.

    Pass the runtime's own ``session`` to avoid loading the model twice; without one, a
    throw-away CPU session reads the graph. File checks run first so a wrong file never reaches a
    (possibly slow, e.g. TensorRT) session build.
    """
    verify_file(model_path, manifest)
    if session is None:
        session = open_checked_session(model_path)
    inputs, outputs, meta = session_io(session)
    return check_io(model_path, manifest, inputs, outputs, meta)


def load_verified(model_path: Path) -> tuple[ModelManifest, ModelIO]:
    """Load ``<model>.json`` and verify ``model_path`` against it."""
    manifest = load_manifest(manifest_path_for(model_path))
    return manifest, verify_model(model_path, manifest)
