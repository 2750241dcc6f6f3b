"""The latency benchmark's frame counter survives the stream's own encoder and a decoder, and a
damaged stamp is rejected rather than misread (bench/webrtc_latency.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import av
import numpy as np
import pytest

from edge.stream.encoder import VideoEncoder

BENCH = Path(__file__).resolve().parents[1] / "bench" / "webrtc_latency.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webrtc_latency", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_counters_read_back_after_encoding(bench: ModuleType, codec: str) -> None:
    rng = np.random.default_rng(1)
    background = rng.integers(60, 200, (480, 640, 3), np.uint8)
    encoder = VideoEncoder(codec, 640, 480, 15, 1500, 2.0)  # type: ignore[arg-type]
    decoder = av.CodecContext.create("h264" if codec == "h264" else "libvpx", "r")
    counters = [0, 1, 0xFFFF, 12345, 40000, 7, 2**15, 999]
    read = []
    for i, counter in enumerate(counters):
        frame = background.copy()
        bench.stamp(frame, counter)
        for packet in encoder.encode(frame, i * 6000):
            for decoded in decoder.decode(packet):
                read.append(bench.read_stamp(decoded.to_ndarray(format="gray")))
    assert read == counters


def test_a_damaged_stamp_is_rejected(bench: ModuleType) -> None:
    gray = np.zeros((480, 640), np.uint8)
    frame = np.zeros((480, 640, 3), np.uint8)
    bench.stamp(frame, 0b1010)
    gray[:] = frame[:, :, 0]
    assert bench.read_stamp(gray) == 0b1010
    gray[bench.ROWS_Y[1]:bench.ROWS_Y[1] + bench.BLOCK, 8:8 + bench.BLOCK] = 255  # second copy
    assert bench.read_stamp(gray) is None


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([5.0], 50, 5.0), ([1.0, 2.0, 3.0], 50, 2.0), (list(map(float, range(101))), 99, 99.0),
])
def test_percentile(bench: ModuleType, values: list[float], q: float, expected: float) -> None:
    assert bench.percentile(values, q) == expected
