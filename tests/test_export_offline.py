"""Train one short epoch, export every variant through the CLI, load each in the edge runtime.

All of it with the network unreachable: the child process's proxies point at a closed
127.0.0.1 port (and ultralytics is put in offline mode by our own code), so a download attempt
fails fast and the export must not depend on one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.detect.detector import Detector
from edge.detect.settings import DetectorSettings
from lineinspect.manifest import load_manifest, manifest_path_for, sha256_file
from tests._models import REPO

# ~50 s on an idle 2-core box; the timeout leaves room for a machine busy training.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

JOB = REPO / "tests" / "_offline_export_job.py"
VARIANTS = ["tiny-v0.1", "tiny-v0.1-fp16", "tiny-v0.1-int8", "tiny-v0.1-dynamic",
            "tiny-v0.1-fp16-dynamic", "tiny-v0.1-int8-dynamic"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("offline-export")
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead,
           "HTTPS_PROXY": dead, "ALL_PROXY": dead, "all_proxy": dead, "no_proxy": "",
           "NO_PROXY": "", "PIP_NO_INDEX": "1"}
    env.pop("YOLO_CONFIG_DIR", None)
    res = subprocess.run([sys.executable, str(JOB), str(work)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=1500, check=False)
    assert res.returncode == 0, f"offline train/export failed:\n{res.stdout[-3000:]}\n" \
                                f"{res.stderr[-6000:]}"
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"train {summary['train_s']:.1f} s, export {summary['export_s']:.1f} s")
    return work / "out"


def test_every_variant_loads_in_the_edge_runtime(exported: Path) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
    for stem in VARIANTS:
        model = exported / f"{stem}.onnx"
        det = Detector(DetectorSettings(model=model, providers=["cpu"], conf_threshold=0.0001,
                                        batch_size=2))
        det.warmup()
        out = det.detect(frame)
        assert det.class_names == ("scratch", "crack", "dent")
        assert det.input_hw == (96, 96)
        assert det.batch_capacity == (2 if stem.endswith("dynamic") else 1)
        assert out.xyxy.shape == (len(out), 4)
        if len(out):
            assert out.xyxy[:, 2].max() <= 160 and out.xyxy[:, 3].max() <= 120


def test_manifests_describe_what_was_exported(exported: Path) -> None:
    for stem in VARIANTS:
        model = exported / f"{stem}.onnx"
        m = load_manifest(manifest_path_for(model))
        assert (m.name, m.version, m.task) == ("tiny", "0.1", "detect")
        assert m.precision == ("int8" if "int8" in stem else "fp16" if "fp16" in stem
                               else "fp32")
        assert m.dynamic_batch == stem.endswith("dynamic")
        assert m.sha256 == sha256_file(model) and m.file == model.name
        assert m.input.size == (96, 96) and m.input.dtype == "float32"  # fp16 keeps float IO
        assert m.output.channels == 7 and m.output.anchors == 189  # 12² + 6² + 3²
        assert m.opset == 17 and m.seed == 0
        assert m.dataset is not None and m.dataset["recipe"]["seed"] == 5
        assert m.dataset["recipe"]["counts"] == {"train": 16, "val": 4}
        assert m.training["train_args"]["epochs"] == 1
        assert "--epochs 1" in m.training["command_equivalent"]
        assert {"ultralytics", "onnx", "onnxruntime", "torch"} <= set(m.exporter)


def test_int8_quantizes_convs_and_keeps_the_decode_float(exported: Path) -> None:
    m = load_manifest(exported / "tiny-v0.1-int8.json")
    assert m.quantization is not None
    floats = m.quantization["float_nodes"]
    assert any("/dfl/" in n for n in floats) and any(n.endswith("/Sigmoid") for n in floats)
    assert not any(n.endswith(".2/Conv") for n in floats)  # the head's convs are quantized
    assert m.quantization["calibration_images"] == 4
    graph = onnx.load(str(exported / "tiny-v0.1-int8.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 50
    # The decode tail computes in float: none of its outputs is re-quantized, and the graph
    # output comes straight from a float node of the tail.
    quantized_inputs = {i for n in graph.node if n.op_type == "QuantizeLinear" for i in n.input}
    tail = [n for n in graph.node if n.name in set(floats)]
    assert len(tail) == len(floats) > 10
    assert {n.op_type for n in graph.node if n.name not in set(floats)} >= {"Conv", "Mul"}
    assert not any(o in quantized_inputs for n in tail for o in n.output)
    last = next(n for n in graph.node if graph.output[0].name in n.output)
    assert last.name in floats
    assert (exported / "tiny-v0.1-int8.onnx").stat().st_size < \
        0.5 * (exported / "tiny-v0.1.onnx").stat().st_size


def test_dynamic_batch_matches_fixed_batch(exported: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (h, w, 3), np.uint8) for h, w in [(96, 96), (120, 160),
                                                                       (200, 100)]]
    fixed = Detector(DetectorSettings(model=exported / "tiny-v0.1.onnx", providers=["cpu"],
                                      conf_threshold=0.0001))
    dyn = Detector(DetectorSettings(model=exported / "tiny-v0.1-dynamic.onnx",
                                    providers=["cpu"], conf_threshold=0.0001, batch_size=3))
    batch = dyn.detect_batch(frames)
    for frame, got in zip(frames, batch, strict=True):
        want = fixed.detect(frame)
        assert len(got) == len(want)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-2)
        np.testing.assert_allclose(got.score, want.score, atol=1e-4)
