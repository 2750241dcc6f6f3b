#!/usr/bin/env bash
# Build a TensorRT engine from an exported lineinspect ONNX model with trtexec (Jetson / CUDA box).
#
# Usage:
#   scripts/build_trt_engine.sh MODEL.onnx [--out ENGINE] [--max-batch N] [--precision fp16|fp32|int8]
#                               [--workspace-mb MB] [--trtexec PATH] [--dry-run]
#
# What it does:
#   1. reads MODEL.json (the manifest next to the model) and refuses to build when the file's
#      sha256 differs from the manifest's (the same rule the edge applies at load time);
#   2. takes the input name and size from the manifest; for a dynamic-batch model it builds an
#      optimisation profile for batch 1..N (N = --max-batch, default 4, optimum at N);
#   3. runs trtexec, writing ENGINE (default MODEL-<precision>-b<N>.engine next to the model) and a
#      timing cache beside it, so rebuilding after a TensorRT upgrade is faster.
#
# Precision: fp32 models build with --fp16 by default (TensorRT picks fp16 kernels where faster);
# an int8 (QDQ) model builds with --int8 --fp16: the Q/DQ nodes carry the calibrated scales, so
# TensorRT needs no calibration cache. Pass --precision fp32 to force full precision.
#
# Note: the edge agent does not need this engine. Its onnxruntime TensorrtExecutionProvider builds
# and caches an engine from the ONNX by itself (DetectorSettings.trt_cache_dir). Use this script to
# check that TensorRT accepts the model, to measure it with trtexec, or for DeepStream/Triton.
# An engine is specific to the GPU, TensorRT and JetPack version it was built on.
#
# --dry-run prints the trtexec command instead of running it (works on a machine without a GPU).
set -euo pipefail

die() { echo "build_trt_engine: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: $0 MODEL.onnx [--out ENGINE] [--max-batch N] [--precision P] [--workspace-mb MB] [--trtexec PATH] [--dry-run]"
model=$1; shift
out=""; max_batch=4; precision=""; workspace_mb=2048; dry_run=0
trtexec=${TRTEXEC:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --max-batch) max_batch=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --workspace-mb) workspace_mb=$2; shift 2 ;;
    --trtexec) trtexec=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    *) die "unknown option: $1" ;;
  esac
done

[[ -f $model ]] || die "model not found: $model"
manifest=${model%.onnx}.json
[[ -f $manifest ]] || die "manifest not found: $manifest (it must sit next to the model)"
[[ $max_batch =~ ^[1-9][0-9]*$ ]] || die "--max-batch must be a positive integer, got '$max_batch'"
[[ $workspace_mb =~ ^[1-9][0-9]*$ ]] || die "--workspace-mb must be a positive integer"

# The manifest is JSON; python3 is on every JetPack and x86 image we build.
read -r m_sha m_input m_h m_w m_dynamic m_precision < <(python3 - "$manifest" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(m["sha256"], m["input"]["name"], m["input"]["size"][0], m["input"]["size"][1],
      int(bool(m["dynamic_batch"])), m["precision"])
EOF
) || die "cannot read manifest $manifest"

actual_sha=$(sha256sum "$model" | cut -d' ' -f1)
[[ $actual_sha == "$m_sha" ]] || die "sha256 of $model does not match its manifest: manifest expects $m_sha, file has $actual_sha"

if [[ -z $precision ]]; then
  case $m_precision in
    int8) precision=int8 ;;
    *) precision=fp16 ;;
  esac
fi
flags=()
case $precision in
  fp32) ;;
  fp16) flags+=(--fp16) ;;
  int8)
    [[ $m_precision == int8 ]] || die "--precision int8 needs an int8 (QDQ) model; $model is $m_precision"
    flags+=(--int8 --fp16) ;;
  *) die "--precision must be fp32, fp16 or int8, got '$precision'" ;;
esac

if [[ $m_dynamic == 1 ]]; then
  shape="${m_h}x${m_w}"
  flags+=("--minShapes=${m_input}:1x3x${shape}" "--optShapes=${m_input}:${max_batch}x3x${shape}"
          "--maxShapes=${m_input}:${max_batch}x3x${shape}")
else
  max_batch=1
fi

[[ -n $out ]] || out="${model%.onnx}-${precision}-b${max_batch}.engine"
cache="$(dirname "$out")/trt-timing.cache"
cmd=("${trtexec:-trtexec}" "--onnx=$model" "--saveEngine=$out" "--timingCacheFile=$cache"
     "--memPoolSize=workspace:${workspace_mb}M" "${flags[@]}")

if [[ $dry_run == 1 ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
if [[ -z $trtexec ]]; then
  if command -v trtexec >/dev/null; then trtexec=trtexec
  elif [[ -x /usr/src/tensorrt/bin/trtexec ]]; then trtexec=/usr/src/tensorrt/bin/trtexec  # JetPack
  else die "trtexec not found: install TensorRT (JetPack ships /usr/src/tensorrt/bin/trtexec) or pass --trtexec PATH"
  fi
  cmd[0]=$trtexec
fi
echo "building $out from $model ($precision, batch up to $max_batch)" >&2
"${cmd[@]}"
echo "engine written: $out" >&2
