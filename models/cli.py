"""``lineinspect models …``: dataset synthesis, training, evaluation, export, registry."""

from __future__ import annotations

import argparse
from pathlib import Path


def _synth(args: argparse.Namespace) -> int:
    from models.data.synth import write_dataset

    counts = {"train": args.train, "val": args.val}
    if args.test:
        counts["test"] = args.test
    counts = {k: v for k, v in counts.items() if v > 0}
    data = write_dataset(args.out, counts, seed=args.seed, size=args.size, preset=args.preset,
                         workers=args.workers)
    print(f"wrote {sum(counts.values())} images; dataset file: {data}")
    return 0


def _synth_video(args: argparse.Namespace) -> int:
    from models.data.video import write_video

    video, gt = write_video(args.out, seed=args.seed, seconds=args.seconds, fps=args.fps,
                            width=args.width, height=args.height)
    print(f"wrote {video} and ground truth {gt}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from models.train.detector import TrainConfig, train_detector

    cfg = TrainConfig(
        data=args.data, model=args.model, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
        workers=args.workers, project=args.project, name=args.name, resume=not args.no_resume,
        tracking_uri=args.tracking_uri, seed=args.seed, cache=args.cache,
    )
    best = train_detector(cfg)
    print(f"best weights: {best}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="build datasets, train, evaluate, export, register models",
                       description="Model lifecycle: synth → train-detector → eval → export → "
                                   "register → pull.")
    msub = p.add_subparsers(dest="models_command", metavar="STEP", required=True)

    s = msub.add_parser("synth", help="render a synthetic defect dataset (YOLO + COCO labels)",
                        description="Render procedural parts with scratches, cracks and dents; "
                                    "writes YOLO boxes, YOLO-seg polygons, COCO RLE masks and "
                                    "data.yaml. Deterministic for a seed.")
    s.add_argument("--out", type=Path, required=True, help="output folder")
    s.add_argument("--train", type=int, default=1000, help="training images (default 1000)")
    s.add_argument("--val", type=int, default=200, help="validation images (default 200)")
    s.add_argument("--test", type=int, default=0, help="held-out test images (default 0)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--size", type=int, default=320, help="image side in pixels (default 320)")
    s.add_argument("--preset", default="train",
                   help="rendering ranges: train, ood-dark, ood-bright, ood-small")
    s.add_argument("--workers", type=int, default=2, help="render processes (default 2)")
    s.set_defaults(handler=_synth)

    v = msub.add_parser("synth-video", help="render a conveyor video with per-frame ground truth",
                        description="Render parts passing under a camera (MP4) and a JSON-lines "
                                    "file with every visible defect's id, class and box per frame.")
    v.add_argument("--out", type=Path, required=True, help="output .mp4 (ground truth beside it)")
    v.add_argument("--seconds", type=float, default=60.0)
    v.add_argument("--fps", type=float, default=15.0)
    v.add_argument("--width", type=int, default=640)
    v.add_argument("--height", type=int, default=480)
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(handler=_synth_video)

    t = msub.add_parser("train-detector", help="train YOLOv8 offline, log to MLflow, resumable",
                        description="Train a YOLOv8 detector with ultralytics, fully offline. "
                                    "Resumes from the run's last.pt when present.")
    t.add_argument("--data", type=Path, required=True, help="ultralytics data.yaml")
    t.add_argument("--model", default="yolov8n.yaml",
                   help="architecture yaml (from scratch) or a local .pt (default yolov8n.yaml)")
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--imgsz", type=int, default=320)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--cache", choices=["ram", "disk", "none"], default="ram")
    t.add_argument("--project", type=Path, default=Path("runs/detect"))
    t.add_argument("--name", default="lineinspect-detector")
    t.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    t.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: sqlite file mlflow.db in the working dir)")
    t.set_defaults(handler=_train)
