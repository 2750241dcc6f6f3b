"""The ONNX mask refiner at run time: a crop around a detection in, one instance mask out.

No torch, no transformers: onnxruntime, numpy and OpenCV. The input buffers are allocated once
per batch size; the hot path copies the crop into its buffer, runs the session and upsamples only
the chosen query's mask.

Which instance (Mask2Former answers with Q queries, each a class distribution and a mask):

1. Per query ``q`` and class ``c``: ``score = softmax(class logits)[q, c]`` (the no-object
   column is left out) ``x`` the mean mask probability over the query's mask (its pixels with
   probability > 0.5) — Mask2Former's own instance score.
2. Only queries whose mask reaches the crop's centre square (side ``S / (1 + 2 * pad)``: where
   the detector's box lies) are candidates; another defect at the crop's edge is not the one
   asked about.
3. With the detector's class given (and known to the model): the best candidate *of that class*,
   if its score is at least the manifest's ``score_floor``; otherwise, or with no class, the best
   candidate of any class. Below the floor: ``None`` (keep the box).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.refine.manifest import RefinerManifest, load_refiner_manifest, verify_refiner
from lineinspect.manifest import ManifestError, manifest_path_for

_REL = Path("artifacts") / "refiner" / "lineinspect-refiner-v1.onnx"


def _shipped_refiner() -> Path:
    # Like edge.detect.detector.shipped_model_path: locate models/ without importing it (find_spec
    # of a top-level package does not execute it); fall back to the source tree layout.
    spec = importlib.util.find_spec("models")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve() / _REL
    return Path(__file__).resolve().parents[2] / "models" / _REL


SHIPPED_REFINER: Path = _shipped_refiner()


@dataclass(frozen=True, slots=True)
class RefinedMask:
    prob: np.ndarray  # float32 (S, S): mask probability of the chosen instance, in crop pixels
    class_name: str  # the refiner's class for it
    score: float  # its class score in [0, 1]


def _sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float32)  # overflow-free


def _softmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)


class Refiner:
    """``refine(crop, class_name)`` for one crop; ``refine_batch`` for several.

    Not thread-safe (calls share the input buffers): one Refiner per inference thread.
    """

    def __init__(self, model_path: Path = SHIPPED_REFINER, intra_op_threads: int = 1,
                 session: object | None = None) -> None:
        self.model_path = Path(model_path).resolve()
        manifest = load_refiner_manifest(manifest_path_for(self.model_path))
        if session is None:
            session = self._open(manifest, intra_op_threads)
        verify_refiner(self.model_path, manifest, session)
        self.manifest: RefinerManifest = manifest
        self._session: Any = session
        self.input_size: int = manifest.input.size
        self.pad: float = manifest.crop.pad
        self.min_side: float = manifest.crop.min_side
        self.mask_threshold: float = manifest.mask_threshold
        self.score_floor: float = manifest.score_floor
        self.class_names: tuple[str, ...] = tuple(manifest.class_names)
        self.last_ms: float = 0.0
        self._input = manifest.input.name
        self._outputs = [manifest.outputs.class_logits, manifest.outputs.mask_logits]
        self._buffers: dict[int, npt.NDArray[np.uint8]] = {}
        self._centre = self._centre_slice(manifest.outputs.mask_size)
        self._buffer(1)

    def _open(self, manifest: RefinerManifest, threads: int) -> Any:
        import onnxruntime as ort

        from edge.refine.manifest import verify_refiner_file

        # File checks first: a wrong file never reaches a session build.
        verify_refiner_file(self.model_path, manifest)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.model_path), opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several pybind exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ManifestError(f"refiner model {self.model_path} is not a valid ONNX model "
                                f"(onnxruntime could not load it: {first})") from None

    def _centre_slice(self, size: int) -> tuple[slice, slice]:
        side = size / (1.0 + 2.0 * self.pad)
        lo = int(np.floor((size - side) / 2.0))
        hi = int(np.ceil((size + side) / 2.0))
        return slice(lo, hi), slice(lo, hi)

    def _buffer(self, batch: int) -> npt.NDArray[np.uint8]:
        buf = self._buffers.get(batch)
        if buf is None:
            s = self.input_size
            buf = self._buffers[batch] = np.zeros((batch, s, s, 3), dtype=np.uint8)
        return buf

    def _check(self, crops: npt.NDArray[np.generic]) -> None:
        s = self.input_size
        if crops.dtype != np.uint8 or crops.shape[-3:] != (s, s, 3):
            raise ValueError(f"crops must be uint8 (.., {s}, {s}, 3) BGR from "
                             f"lineinspect.crops.crop_image; got {crops.dtype} {crops.shape}")

    def refine(self, crop: np.ndarray, class_name: str | None = None) -> RefinedMask | None:
        """The chosen instance of one crop (module docstring), or ``None``."""
        self._check(crop)
        t0 = perf_counter()
        buf = self._buffer(1)
        np.copyto(buf[0], crop)
        logits, masks = self._session.run(self._outputs, {self._input: buf})
        out = self._choose(logits[0], masks[0], class_name)
        self.last_ms = (perf_counter() - t0) * 1000.0
        return out

    def refine_batch(self, crops: np.ndarray,
                     class_names: Sequence[str | None]) -> list[RefinedMask | None]:
        """``crops`` (B, S, S, 3) uint8 BGR; one result per crop, in order."""
        self._check(crops)
        if crops.ndim != 4 or len(class_names) != crops.shape[0]:
            raise ValueError(f"need (B, S, S, 3) crops and B class names; got {crops.shape} and "
                             f"{len(class_names)} names")
        if crops.shape[0] == 0:
            return []
        t0 = perf_counter()
        buf = self._buffer(crops.shape[0])
        np.copyto(buf, crops)
        logits, masks = self._session.run(self._outputs, {self._input: buf})
        out = [self._choose(logits[i], masks[i], name) for i, name in enumerate(class_names)]
        self.last_ms = (perf_counter() - t0) * 1000.0
        return out

    def _choose(self, logits: npt.NDArray[np.float32], masks: npt.NDArray[np.float32],
                class_name: str | None) -> RefinedMask | None:
        cls_prob = _softmax(logits)[:, :-1]  # (Q, C)
        prob = _sigmoid(masks)  # (Q, h, w)
        on = prob > 0.5
        area = on.sum(axis=(1, 2))
        mean = np.where(area > 0, (prob * on).sum(axis=(1, 2)) / np.maximum(area, 1), 0.0)
        rows, cols = self._centre
        central = on[:, rows, cols].any(axis=(1, 2))
        scores = cls_prob * (mean * central)[:, None]  # (Q, C); non-central queries score 0
        pick: tuple[int, int] | None = None
        if class_name is not None and class_name in self.class_names:
            c = self.class_names.index(class_name)
            q = int(np.argmax(scores[:, c]))
            if scores[q, c] >= self.score_floor:
                pick = (q, c)
        if pick is None:
            qa, ca = np.unravel_index(int(np.argmax(scores)), scores.shape)
            if scores[qa, ca] < self.score_floor:
                return None
            pick = (int(qa), int(ca))
        q, c = pick
        s = self.input_size
        up = cv2.resize(masks[q], (s, s), interpolation=cv2.INTER_LINEAR)
        return RefinedMask(_sigmoid(up), self.class_names[c], float(cls_prob[q, c]))
