"""INT8 variant: onnxruntime static quantization (QDQ, per-channel weights), calibrated on images
pre-processed by the edge runtime's own letterbox, so calibration sees exactly what inference sees.

The YOLOv8 decode tail (after the last conv layers of the Detect head: DFL softmax/conv,
anchor/stride arithmetic, class sigmoid, concatenation) stays float: one INT8 scale cannot
cover box coordinates in pixels (0..640) and class probabilities (0..1) in the same tensor.
Measured on the shipped detector (200 held-out images, ultralytics val of each ONNX): fp32
mAP50 0.862 / mAP50-95 0.570; this default 0.863 / 0.564 at about half the fp32 session time;
also keeping the head's last 1x1 convs float: 0.860 / 0.563, same speed (option, off by default);
quantizing only Conv layers (ultralytics' own ONNX INT8 rule): 0.859 / 0.542 and slower.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edge.detect.letterbox import Letterboxer
from lineinspect.images import IMAGE_SUFFIXES, images_in

log = logging.getLogger(__name__)

CalibMethod = Literal["minmax", "entropy", "percentile"]

_HEAD_CONV = re.compile(r"/cv[234]\.\d+/")  # the Detect head's per-level conv branches
_HEAD_OUTPUT_CONV = re.compile(r"/cv[234]\.\d+/cv[234]\.\d+\.2/Conv$")  # their last 1x1 conv


def decode_tail_nodes(model: Any) -> list[str]:
    """Names of the Detect module's nodes that are not its conv branches (ultralytics naming).

    ultralytics names nodes after modules (``/model.22/cv2.0/cv2.0.2/Conv``); the Detect module
    is the last ``/model.N/``. Returns [] when the graph does not follow that naming.
    """
    indices = [int(m.group(1)) for n in model.graph.node
               if (m := re.match(r"^/model\.(\d+)/", n.name))]
    if not indices:
        return []
    prefix = f"/model.{max(indices)}/"
    return [n.name for n in model.graph.node
            if n.name.startswith(prefix) and not _HEAD_CONV.search(n.name)]


def head_output_convs(model: Any) -> list[str]:
    """The last conv of each Detect branch (logits and box distributions, ultralytics naming)."""
    return [n.name for n in model.graph.node
            if n.op_type == "Conv" and _HEAD_OUTPUT_CONV.search(n.name)]


def calibration_images(folder: Path, limit: int) -> list[Path]:
    """Up to ``limit`` images under ``folder``, evenly spread over the sorted list."""
    if not folder.is_dir():
        raise FileNotFoundError(f"calibration image folder not found: {folder}")
    files = images_in(folder, recursive=True)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    if len(files) <= limit:
        return files
    pick = np.linspace(0, len(files) - 1, limit).round().astype(int)
    return [files[i] for i in pick]


def synthetic_frames(count: int, size: int, seed: int) -> Iterator[np.ndarray]:
    """Calibration frames rendered by our synthetic part generator (training ranges)."""
    from lineinspect.render.params import PRESETS
    from lineinspect.render.scene import render_image

    for i in range(count):
        rng = np.random.default_rng([seed, 7, i])
        img, _ = render_image(rng, size, size, PRESETS["train"])
        yield img


def _read(item: Path | np.ndarray) -> np.ndarray:
    if isinstance(item, np.ndarray):
        return item
    img = cv2.imread(str(item), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"calibration image unreadable: {item}")
    return img


class LetterboxCalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over frames or image files."""

    def __init__(self, items: Sequence[Path | np.ndarray], input_name: str,
                 input_hw: tuple[int, int], pad_value: int = 114) -> None:
        self._items = list(items)
        self._name = input_name
        self._hw = input_hw
        self._pad = pad_value
        self._pos = 0
        self._end = len(self._items)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._pos >= self._end:
            return None
        frame = _read(self._items[self._pos])
        self._pos += 1
        # A fresh buffer per sample: onnxruntime may hold on to inputs during calibration.
        buf = np.empty((1, 3, *self._hw), np.float32)
        Letterboxer(self._hw, self._pad)(frame, buf[0])
        return {self._name: buf}

    def rewind(self) -> None:
        self._pos = 0
        self._end = len(self._items)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Serve items ``[start_index, end_index)`` only (onnxruntime's chunked calibration)."""
        if not 0 <= start_index <= end_index <= len(self._items):
            raise ValueError(f"calibration range [{start_index}, {end_index}) outside "
                             f"0..{len(self._items)}")
        self._pos, self._end = start_index, end_index

    def __len__(self) -> int:
        return len(self._items)


def calibration_chunk(count: int, most: int) -> int:
    """Frames per calibration chunk: the largest divisor of ``count`` not above ``most``.

    onnxruntime's histogram calibrators (entropy, percentile) keep every intermediate tensor
    of every frame they are given until the end of the call: ~190 MB a frame for YOLOv8n at
    960 px, so 128 frames at once needed more than the 24 GB of the machine that found it.
    Fed in chunks (its ``CalibStridedMinMax`` option, which needs a divisor of the count),
    the histograms and min/max merge across chunks to the same ranges.
    """
    if count < 1 or most < 1:
        raise ValueError(f"calibration needs count and chunk >= 1, got {count} and {most}")
    return max(d for d in range(1, min(count, most) + 1) if count % d == 0)


@dataclass
class Int8Options:
    calib_method: CalibMethod = "minmax"
    calib_chunk: int = 8  # most frames whose activations calibration holds at once
    per_channel: bool = True
    keep_decode_float: bool = True
    keep_head_output_float: bool = False
    extra_exclude: list[str] = field(default_factory=list)


def quantize_int8(src: Path, dst: Path, reader: LetterboxCalibrationReader,
                  options: Int8Options | None = None) -> dict[str, Any]:
    """Write the INT8 model to ``dst``; return what was done (for the manifest)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    opts = options or Int8Options()
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    meta = [(p.key, p.value) for p in onnx.load(str(src)).metadata_props]
    with tempfile.TemporaryDirectory(prefix="lineinspect-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(src), str(pre))
        except Exception:  # symbolic inference gives up on some dynamic-batch graphs
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        # Names are taken after pre-processing, which may fuse or rename nodes.
        graph = onnx.load(str(pre))
        tail = decode_tail_nodes(graph) if opts.keep_decode_float else []
        if opts.keep_decode_float and not tail:
            log.warning("%s: no ultralytics Detect-head node names found; the decode tail "
                        "will be quantized too (check the INT8 model's accuracy)", src)
        exclude = (tail + (head_output_convs(graph) if opts.keep_head_output_float else [])
                   + opts.extra_exclude)
        del graph
        chunk = calibration_chunk(len(reader), opts.calib_chunk)
        # U8 activations / S8 weights: onnxruntime's recommended CPU pairing (VNNI and ARM).
        quantize_static(
            str(pre), str(dst), reader, quant_format=QuantFormat.QDQ,
            per_channel=opts.per_channel, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, nodes_to_exclude=exclude,
            calibrate_method=methods[opts.calib_method],
            extra_options={"CalibStridedMinMax": chunk},
        )
    quant = onnx.load(str(dst))
    del quant.metadata_props[:]
    for k, v in meta:
        quant.metadata_props.add(key=k, value=v)
    onnx.save(quant, str(dst))
    return {
        "method": "onnxruntime static quantization", "format": "QDQ",
        "activations": "uint8", "weights": "int8", "per_channel": opts.per_channel,
        "calibration": opts.calib_method, "calibration_images": len(reader),
        "calibration_chunk": chunk,
        "float_nodes": exclude,
    }
