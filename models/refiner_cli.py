"""``lineinspect models train-refiner | export-refiner | eval-refiner``: the mask refiner.

Wired in by ``models/cli.py`` via :func:`add_refiner_parsers`; heavy imports (torch,
transformers) happen inside the handlers so ``lineinspect --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.train.refiner import RefinerTrainConfig


def train_config(args: argparse.Namespace) -> RefinerTrainConfig:
    """The run's settings from ``train-refiner``'s arguments; architecture flags left out keep
    :class:`RefinerArch`'s defaults (what the committed checkpoints were built with)."""
    from models.train.refiner import RefinerTrainConfig
    from models.train.refiner_model import RefinerArch

    sizes = {"num_queries": args.queries, "hidden_dim": args.hidden,
             "embed_dim": args.embed_dim,
             "depths": tuple(args.depths) if args.depths is not None else None}
    arch = RefinerArch(input_size=args.size, backbone=args.backbone,
                       **{k: v for k, v in sizes.items() if v is not None})
    return RefinerTrainConfig(
        arch=arch, crops=args.crops, seed=args.seed, epochs=args.epochs, batch=args.batch,
        lr=args.lr, threads=args.threads, out=args.out, name=args.name,
        resume=not args.no_resume, tracking_uri=args.tracking_uri, init=args.init,
        frame_widths=tuple(args.frame_width))


def _train(args: argparse.Namespace) -> int:
    from models.train.refiner import train_refiner

    print(f"checkpoint: {train_refiner(train_config(args))}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from models.export.refiner import RefinerExportConfig, export_refiner

    cfg = RefinerExportConfig(checkpoint=args.checkpoint, out=args.out, name=args.name,
                              version=args.version, int8=args.int8)
    for path in export_refiner(cfg):
        print(f"{path}  (manifest: {path.with_suffix('.json').name})")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from models.eval.masks import MaskEvalConfig, evaluate_refiner

    cfg = MaskEvalConfig(model=args.model, count=args.count, seed=args.seed, world=args.world,
                         detector=args.detector, frames=args.frames,
                         frame_width=args.frame_width)
    report = evaluate_refiner(cfg)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.update_manifest:
        from edge.refine.manifest import record_refiner_metrics
        from lineinspect.manifest import manifest_path_for

        record_refiner_metrics(manifest_path_for(args.model), {args.metrics_key: report})
    return 0


def _ceiling(args: argparse.Namespace) -> int:
    from models.eval.masks import resolution_ceiling

    print(json.dumps(resolution_ceiling(args.sizes, args.count, args.seed), indent=2))
    return 0


def add_refiner_parsers(msub: argparse._SubParsersAction) -> None:
    t = msub.add_parser(
        "train-refiner", help="train the Mask2Former mask refiner (CPU, offline, resumable)",
        description="Render defect crops from the training world (true boxes jittered like a "
                    "detector's, cut with lineinspect.crops), train a small Mask2Former from "
                    "config (no pretrained weights), checkpoint every epoch, log to MLflow. "
                    "The same command again resumes from the run's last.pt.")
    t.add_argument("--out", type=Path, default=Path("runs/refiner"))
    t.add_argument("--name", default="lineinspect-refiner", help="run name (folder under --out)")
    t.add_argument("--size", type=int, default=160, help="crop size S (default 160)")
    t.add_argument("--backbone", choices=("swin", "resnet"), default="swin",
                   help="backbone built from config (default swin, as v1)")
    t.add_argument("--queries", type=int, default=None, help="object queries (default 10)")
    t.add_argument("--hidden", type=int, default=None,
                   help="transformer and mask-feature width (default 64)")
    t.add_argument("--embed-dim", type=int, default=None,
                   help="backbone's first-stage channels, doubled per stage (default 32)")
    t.add_argument("--depths", type=int, nargs="+", default=None,
                   help="blocks per backbone stage (default 1 1 2 1)")
    t.add_argument("--crops", type=int, default=6000, help="training crops (default 6000)")
    t.add_argument("--frame-width", type=int, nargs="+", default=[416],
                   help="widths of the frames crops are cut from, cycled (default 416)")
    t.add_argument("--epochs", type=int, default=6)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    t.add_argument("--init", type=Path, default=None,
                   help="warm start from this checkpoint's weights (new optimizer and schedule)")
    t.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: sqlite mlflow.db in the run folder)")
    t.set_defaults(handler=_train)

    e = msub.add_parser(
        "export-refiner", help="export a refiner checkpoint to one self-contained ONNX + manifest",
        description="Export last.pt to ONNX (uint8 BGR crops in; class and mask logits out), "
                    "check it against PyTorch, write <name>-v<version>.onnx and its manifest.")
    e.add_argument("--checkpoint", type=Path, required=True, help="refiner last.pt")
    e.add_argument("--out", type=Path, default=Path("models/artifacts/refiner"))
    e.add_argument("--name", default="lineinspect-refiner")
    e.add_argument("--version", default="1")
    e.add_argument("--int8", action="store_true", help="also write a dynamic INT8 variant")
    e.set_defaults(handler=_export)

    v = msub.add_parser(
        "eval-refiner", help="mask IoU and area error of a refiner on held-out defects",
        description="Score a refiner ONNX (through the edge runtime) on held-out-world defects: "
                    "crops around jittered true boxes, and around the detector's true-positive "
                    "boxes with --detector; mean mask IoU and median area error in frame pixels, "
                    "beside the box-only estimate.")
    v.add_argument("--model", type=Path, required=True, help="refiner .onnx (manifest beside)")
    v.add_argument("--count", type=int, default=400, help="defect crops to score (default 400)")
    v.add_argument("--seed", type=int, default=9001, help="held-out seed (default 9001)")
    v.add_argument("--world", default="heldout", choices=["train", "heldout", "all"])
    v.add_argument("--frame-width", type=int, default=416,
                   help="width of the rendered frames in px (default 416; cameras: 640 and up)")
    v.add_argument("--detector", type=Path, default=None,
                   help="detector .onnx: also score crops around its true-positive boxes")
    v.add_argument("--frames", type=int, default=150,
                   help="frames for the detector pass (default 150)")
    v.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    v.add_argument("--update-manifest", action="store_true",
                   help="record the figures in the refiner's manifest (metrics.<key>)")
    v.add_argument("--metrics-key", default="heldout")
    v.set_defaults(handler=_eval)

    c = msub.add_parser(
        "refiner-size-ceiling", help="best mask IoU a stride-4 mask head allows per crop size",
        description="For each crop size S: held-out truth masks shrunk to S/4 and back, pasted "
                    "to the frame; mean IoU per class. How the refiner's S was chosen.")
    c.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 256])
    c.add_argument("--count", type=int, default=300)
    c.add_argument("--seed", type=int, default=5)
    c.set_defaults(handler=_ceiling)
