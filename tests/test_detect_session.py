"""Execution provider choice: preference from settings, fallback to what onnxruntime offers."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from edge.detect.detector import Detector
from edge.detect.session import (
    ORT_PROVIDER,
    build_session,
    choose_providers,
    provider_options,
    session_options,
)
from edge.detect.settings import DetectorSettings
from tests._tiny_onnx import make_const_model, random_preds, with_manifest

# A fake, named as such: no GPU or Jetson exists here, so "GPU present" can only be simulated
# by the list of providers an onnxruntime-gpu / TensorRT build would report.
FAKE_JETSON_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                         "CPUExecutionProvider"]
FAKE_CUDA_ONLY_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
FAKE_OPENVINO_PROVIDERS = ["OpenVINOExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = make_const_model(tmp_path / "m.onnx", random_preds(3), names=["a", "b", "c"])
    with_manifest(path, ["a", "b", "c"])
    return path


@pytest.mark.parametrize(("requested", "available", "chosen"), [
    (["tensorrt", "cuda", "cpu"], FAKE_JETSON_PROVIDERS, FAKE_JETSON_PROVIDERS),
    (["tensorrt", "cuda", "cpu"], FAKE_CUDA_ONLY_PROVIDERS, FAKE_CUDA_ONLY_PROVIDERS),
    (["cuda", "tensorrt"], FAKE_JETSON_PROVIDERS,
     ["CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"]),
    (["tensorrt", "cuda", "openvino", "cpu"], FAKE_OPENVINO_PROVIDERS, FAKE_OPENVINO_PROVIDERS),
    (["cpu"], FAKE_JETSON_PROVIDERS, ["CPUExecutionProvider"]),
    (["tensorrt", "cuda"], ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    (["cpu", "cpu"], ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
])
def test_choice_table(requested: list, available: list[str], chosen: list[str]) -> None:
    choice = choose_providers(requested, available)
    assert choice.providers == chosen
    assert choice.primary == chosen[0]
    for short in requested:
        name = ORT_PROVIDER[short]
        assert (name in choice.skipped) == (name not in available)


def test_gpu_requests_fall_back_to_cpu_on_this_machine(model: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Real check against this onnxruntime build (CPU-only here)."""
    available = ort.get_available_providers()
    assert "CUDAExecutionProvider" not in available  # this machine has no GPU build
    settings = DetectorSettings(model=model, providers=["tensorrt", "cuda"], intra_op_threads=1)
    with caplog.at_level(logging.INFO, logger="edge.detect.session"):
        det = Detector(settings)
    assert det.provider == "CPUExecutionProvider"
    assert det.choice.skipped == {
        "TensorrtExecutionProvider": "not available in this onnxruntime build",
        "CUDAExecutionProvider": "not available in this onnxruntime build"}
    text = caplog.text
    assert "TensorrtExecutionProvider skipped" in text and "CUDAExecutionProvider skipped" in text
    assert "runs on CPUExecutionProvider" in text


def test_thread_counts_and_optimisation_level_come_from_settings() -> None:
    opts = session_options(DetectorSettings(intra_op_threads=1, inter_op_threads=2))
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 2)
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # onnxruntime's own default (spin) unless turned off: the entry is not set at all.
    with pytest.raises(RuntimeError, match="allow_spinning"):
        session_options(DetectorSettings()).get_session_config_entry(
            "session.intra_op.allow_spinning")
    quiet = session_options(DetectorSettings(thread_spinning=False))
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_session_built_with_one_thread_runs(model: Path) -> None:
    session, choice = build_session(model, DetectorSettings(providers=["cpu"],
                                                            intra_op_threads=1))
    assert session.get_providers() == ["CPUExecutionProvider"] == choice.providers


def test_tensorrt_options_cache_the_engine_beside_the_model(tmp_path: Path) -> None:
    opts = provider_options("TensorrtExecutionProvider", DetectorSettings(), tmp_path / "m.onnx")
    assert opts["trt_engine_cache_enable"] is True
    assert opts["trt_engine_cache_path"] == str(tmp_path / ".trt-cache")
    assert opts["trt_fp16_enable"] is True
    assert provider_options("CPUExecutionProvider", DetectorSettings(), tmp_path / "m.onnx") == {}
