"""INT8 calibration in chunks: the same ranges as all at once, with bounded memory.

A percentile calibration of the v3 detector at 960 px over 128 frames held every activation
of every frame at once and was killed for memory on a 24 GB machine (taking a training run
with it); calibration now feeds onnxruntime at most ``calib_chunk`` frames at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.export.int8 import (
    Int8Options,
    LetterboxCalibrationReader,
    calibration_chunk,
    quantize_int8,
)


@pytest.mark.parametrize(("count", "most", "expected"), [
    (128, 8, 8), (64, 8, 8), (100, 8, 5), (127, 8, 1), (6, 8, 6), (1, 8, 1), (12, 5, 4),
    (9, 1, 1),
])
def test_chunk_is_the_largest_divisor_within_the_bound(count: int, most: int,
                                                      expected: int) -> None:
    assert calibration_chunk(count, most) == expected


@pytest.mark.parametrize(("count", "most"), [(0, 8), (8, 0), (-1, 4)])
def test_chunk_rejects_empty_calibration(count: int, most: int) -> None:
    with pytest.raises(ValueError, match="count and chunk"):
        calibration_chunk(count, most)


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (24 + 4 * i, 40, 3), np.uint8) for i in range(n)]


def test_reader_serves_exactly_the_range_it_is_given() -> None:
    reader = LetterboxCalibrationReader(_frames(6), "images", (32, 32))
    reader.set_range(2, 5)
    served = []
    while (item := reader.get_next()) is not None:
        served.append(item["images"])
    assert len(served) == 3
    reader.rewind()
    assert sum(1 for _ in iter(reader.get_next, None)) == 6
    with pytest.raises(ValueError, match=r"outside 0\.\.6"):
        reader.set_range(4, 7)


class _SpyReader(LetterboxCalibrationReader):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.ranges: list[tuple[int, int]] = []

    def set_range(self, start_index: int, end_index: int) -> None:
        self.ranges.append((start_index, end_index))
        super().set_range(start_index, end_index)


def _tiny_model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (4, 8, 1, 1)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["a"], ["b"], name="relu"),
         helper.make_node("Conv", ["b", "w2"], ["out"], name="conv2")],
        "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 32, 32])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _scales(path: Path) -> dict[str, np.ndarray]:
    graph = onnx.load(str(path)).graph
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer
            if i.name.endswith("_scale")}


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_chunked_calibration_gives_the_ranges_of_one_pass(tmp_path: Path, method: str) -> None:
    src = _tiny_model(tmp_path / "tiny.onnx")
    frames = _frames(6)
    chunked = _SpyReader(frames, "images", (32, 32))
    info = quantize_int8(src, tmp_path / "chunked.onnx", chunked,
                         Int8Options(calib_method=method, calib_chunk=2))  # type: ignore[arg-type]
    assert chunked.ranges == [(0, 2), (2, 4), (4, 6)]
    assert info["calibration_chunk"] == 2 and info["calibration_images"] == 6
    whole = LetterboxCalibrationReader(frames, "images", (32, 32))
    quantize_int8(src, tmp_path / "whole.onnx", whole,
                  Int8Options(calib_method=method, calib_chunk=6))  # type: ignore[arg-type]
    a, b = _scales(tmp_path / "chunked.onnx"), _scales(tmp_path / "whole.onnx")
    assert a.keys() == b.keys() and len(a) >= 3
    for name in a:
        # minmax merges exactly; percentile histograms are re-binned as ranges grow.
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6 if method == "minmax" else 0.1)
