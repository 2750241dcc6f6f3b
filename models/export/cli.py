"""``lineinspect models export``; wired in by ``models/cli.py`` via :func:`add_export_parsers`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _export(args: argparse.Namespace) -> int:
    from models.export.pipeline import ExportConfig, export_model

    if args.calib_data is not None and not args.int8:
        raise SystemExit("--calib-data only applies with --int8")
    cfg = ExportConfig(
        weights=args.weights, out=args.out, imgsz=args.imgsz, name=args.name,
        version=args.version, dynamic=args.dynamic, half=args.half, int8=args.int8,
        calib_data=args.calib_data, calib_count=args.calib_count,
        calib_method=args.calib_method, dataset=args.dataset, opset=args.opset,
    )
    for path in export_model(cfg):
        print(f"{path}  (manifest: {path.with_suffix('.json').name})")
    return 0


def add_export_parsers(msub: argparse._SubParsersAction) -> None:
    e = msub.add_parser(
        "export", help="export a .pt to ONNX (fp32/fp16/int8, fixed/dynamic batch) + manifests",
        description="Export a trained YOLOv8 checkpoint to ONNX with a manifest (<model>.json) "
                    "next to each file: fp32 batch 1 always; --dynamic adds dynamic-batch "
                    "variants, --half fp16 ones (for GPU targets), --int8 statically quantized "
                    "ones for CPUs. Runs offline.")
    e.add_argument("--weights", type=Path, required=True, help="ultralytics .pt checkpoint")
    e.add_argument("--out", type=Path, required=True, help="output folder")
    e.add_argument("--imgsz", type=int, default=320, help="square input size (default 320)")
    e.add_argument("--name", default="lineinspect-det", help="model name (default lineinspect-det)")
    e.add_argument("--version", default="1",
                   help="model version; files are named <name>-v<version>*.onnx (default 1)")
    e.add_argument("--dynamic", action="store_true", help="also export dynamic-batch variants")
    e.add_argument("--half", action="store_true", help="also write fp16 variants (IO float32)")
    e.add_argument("--int8", action="store_true", help="also write INT8 QDQ variants")
    e.add_argument("--calib-data", type=Path, default=None,
                   help="INT8 calibration images folder (default: rendered synthetic images)")
    e.add_argument("--calib-count", type=int, default=128, help="calibration images (default 128)")
    e.add_argument("--calib-method", choices=["minmax", "entropy", "percentile"],
                   default="minmax", help="activation range calibration (default minmax)")
    e.add_argument("--dataset", type=Path, default=None,
                   help="dataset folder whose recipe.json goes into the manifest "
                        "(default: the training data's folder, when it has one)")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    e.set_defaults(handler=_export)
