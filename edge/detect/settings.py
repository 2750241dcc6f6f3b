"""Settings of the ONNX detector runtime."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Provider = Literal["tensorrt", "cuda", "openvino", "cpu"]
DEFAULT_PROVIDERS: tuple[Provider, ...] = ("tensorrt", "cuda", "cpu")


class DetectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Path | None = Field(
        None, description="ONNX model file with its manifest beside it; default: the shipped model"
    )
    providers: list[Provider] = Field(
        default_factory=lambda: list(DEFAULT_PROVIDERS),
        description="execution providers in order of preference; unavailable ones are skipped",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="0 = auto: onnxruntime's default with one worker, the cores split "
        "evenly between several workers")
    inter_op_threads: int = Field(0, ge=0, description="0 = onnxruntime default")
    thread_spinning: bool = Field(
        True, description="onnxruntime's intra-op threads spin between runs (its default); off "
        "leaves the cores to capture and decode when they are few")
    conf_threshold: float = Field(0.25, ge=0.0, le=1.0, description="detector score floor")
    iou_threshold: float = Field(0.45, ge=0.0, le=1.0, description="NMS IoU threshold")
    max_detections: int = Field(300, ge=1, le=10000)
    batch_size: int = Field(1, ge=1, le=64, description="frames of several cameras per run")
    workers: int = Field(
        1, ge=1, le=8, description="inference threads, each with its own model session, running "
        "frames in parallel (events stay in capture order). More workers raise throughput on a "
        "CPU where one run does not fill every core (small models: 2 on a 2-core box) but make "
        "each frame's run slower (fewer threads per run), so per-frame latency grows; 1 keeps "
        "the lowest latency")
    warmup_runs: int = Field(2, ge=0, le=100)
    trt_fp16: bool = Field(True, description="TensorRT: build the engine with fp16 kernels")
    trt_cache_dir: Path | None = Field(
        None, description="TensorRT engine/timing cache (default: .trt-cache beside the model)"
    )

    def session_intra_op_threads(self, cpu_count: int | None = None) -> int:
        """Intra-op threads of each worker's session: as set; with 0 (auto) and several
        workers, ``max(1, cores // workers)`` so the workers do not contend for the cores;
        with 0 and one worker, 0 (onnxruntime's own default)."""
        if self.intra_op_threads or self.workers == 1:
            return self.intra_op_threads
        cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
        return max(1, cores // self.workers)
