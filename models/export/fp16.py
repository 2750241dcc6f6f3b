"""fp16 variant of an fp32 ONNX model, converted on the CPU, inputs and outputs kept float32.

ultralytics' ``half`` export traces the model in fp16 and so needs a GPU; converting the exported
graph with onnxruntime's converter does not. Keeping float32 IO means the edge's pre-processing
and decode are the same for every precision. fp16 is for GPU targets (CUDA, TensorRT); on a CPU
onnxruntime runs it, but slower than fp32 (it casts around kernels it lacks).
"""

from __future__ import annotations

from pathlib import Path


def convert_fp16(src: Path, dst: Path) -> Path:
    import onnx
    from onnxruntime.transformers import float16

    model = onnx.load(str(src))
    meta = [(p.key, p.value) for p in model.metadata_props]
    half = float16.convert_float_to_float16(model, keep_io_types=True)
    del half.metadata_props[:]
    for k, v in meta:
        half.metadata_props.add(key=k, value=v)
    onnx.save(half, str(dst))
    return dst
