"""Build the onnxruntime session: execution providers from settings, with fallback to CPU.

Preference comes from ``DetectorSettings.providers`` (default TensorRT > CUDA > CPU); providers
this onnxruntime build does not offer are skipped with the reason logged, and CPU is always the
last resort. onnxruntime itself may still drop a listed GPU provider at session creation (e.g.
CUDA libraries missing); :func:`build_session` reports what the session actually uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.detect.settings import DetectorSettings, Provider
from lineinspect.manifest import ManifestError

log = logging.getLogger(__name__)

ORT_PROVIDER: dict[Provider, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class ProviderChoice:
    """Providers to pass to onnxruntime, in order, and why the others were left out."""

    providers: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return self.providers[0]


def choose_providers(requested: Sequence[Provider], available: Sequence[str]) -> ProviderChoice:
    """Keep the requested providers that ``available`` offers, in the requested order; add CPU."""
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for short in requested:
        name = ORT_PROVIDER[short]
        if name in chosen:
            continue
        if name in available:
            chosen.append(name)
        else:
            skipped[name] = "not available in this onnxruntime build"
    if CPU not in chosen:
        # onnxruntime places nodes a GPU provider cannot run on CPU anyway; say so explicitly.
        chosen.append(CPU)
    return ProviderChoice(chosen, skipped)


def provider_options(name: str, settings: DetectorSettings, model_path: Path) -> dict[str, Any]:
    """Per-provider options; TensorRT caches its engine next to the model (first build is slow)."""
    if name == "TensorrtExecutionProvider":
        cache = settings.trt_cache_dir or model_path.parent / ".trt-cache"
        return {"trt_fp16_enable": settings.trt_fp16, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache)}
    return {}


def session_options(settings: DetectorSettings) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = settings.session_intra_op_threads()
    opts.inter_op_num_threads = settings.inter_op_threads
    opts.log_severity_level = 3
    if not settings.thread_spinning:
        # Idle intra-op threads otherwise spin for a while after each run, taking the core the
        # capture/decode thread needs on a small box.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def build_session(model_path: Path, settings: DetectorSettings,
                  available: Sequence[str] | None = None) -> tuple[Any, ProviderChoice]:
    """An ``InferenceSession`` for ``model_path`` and the provider choice that built it.

    ``available`` defaults to ``onnxruntime.get_available_providers()``.
    """
    import onnxruntime as ort

    if available is None:
        available = ort.get_available_providers()
    choice = choose_providers(settings.providers, available)
    for name, why in choice.skipped.items():
        log.info("execution provider %s skipped: %s", name, why)
    providers = [(p, provider_options(p, settings, model_path)) for p in choice.providers]
    try:
        session = ort.InferenceSession(str(model_path), session_options(settings),
                                       providers=providers)
    except Exception as exc:  # onnxruntime raises several pybind exception types
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise ManifestError(f"model {model_path} is not a valid ONNX model or cannot run on "
                            f"{', '.join(choice.providers)}: {first}") from None
    used = session.get_providers()
    if used and used[0] != choice.primary:
        log.warning("execution provider %s failed to initialise; onnxruntime fell back to %s",
                    choice.primary, used[0])
    log.info("detector %s runs on %s (requested %s)", model_path.name, used[0] if used else "?",
             ", ".join(settings.providers))
    return session, choice
