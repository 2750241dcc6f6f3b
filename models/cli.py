"""``lineinspect models …``: dataset synthesis, training, evaluation, export, registry."""

from __future__ import annotations

import argparse
from pathlib import Path


def _synth_external(args: argparse.Namespace) -> int:
    from models.data.external import write_external

    data = write_external(args.out, args.count, seed=args.seed, world=args.world,
                          workers=args.workers)
    print(f"wrote {args.count} images painted by defect-synthesis; dataset file: {data}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    counts = {"train": args.train, "val": args.val}
    if args.test:
        counts["test"] = args.test
    counts = {k: v for k, v in counts.items() if v > 0}
    if args.world:
        from models.data.randomized import write_randomized

        data = write_randomized(args.out, counts, seed=args.seed, world=args.world,
                                workers=args.workers, width=args.size or 416)
    else:
        from models.data.synth import write_dataset

        data = write_dataset(args.out, counts, seed=args.seed, size=args.size or 320,
                             preset=args.preset, workers=args.workers, parts=args.parts)
    print(f"wrote {sum(counts.values())} images; dataset file: {data}")
    return 0


def _synth_video(args: argparse.Namespace) -> int:
    if args.world:
        from lineinspect.render.line import write_line_video
        from lineinspect.render.world import WORLDS

        video, gt = write_line_video(args.out, WORLDS[args.world], seed=args.seed,
                                     seconds=args.seconds, fps=args.fps, width=args.width,
                                     height=args.height)
    else:
        from lineinspect.render.video import write_video

        video, gt = write_video(args.out, seed=args.seed, seconds=args.seconds, fps=args.fps,
                                width=args.width, height=args.height)
    print(f"wrote {video} and ground truth {gt}")
    return 0


def _synth_conveyor(args: argparse.Namespace) -> int:
    from models.data.conveyor_frames import write_conveyor_dataset

    first, n_train, n_val = args.first_seed, args.train_scenes, args.val_scenes
    data = write_conveyor_dataset(
        args.out, range(first, first + n_train), range(first + n_train, first + n_train + n_val),
        frames=args.frames, every=args.every, size=args.size, world=args.world,
        first_frame=args.first_frame, parts=args.parts)
    print(f"wrote {(n_train + n_val) * args.frames} frames; dataset file: {data}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from models.train.detector import TrainConfig, train_detector

    cfg = TrainConfig(
        data=args.data, model=args.model, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
        workers=args.workers, project=args.project, name=args.name, resume=not args.no_resume,
        tracking_uri=args.tracking_uri, seed=args.seed, cache=args.cache,
        close_mosaic=args.close_mosaic, optimizer=args.optimizer, lr0=args.lr0,
    )
    best = train_detector(cfg)
    print(f"best weights: {best}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from models.eval.evaluate import evaluate_onnx, evaluate_pt, format_report

    if args.model.suffix == ".onnx":
        res = evaluate_onnx(args.model, args.data, args.split, limit=args.limit)
    elif args.model.suffix == ".pt":
        res = evaluate_pt(args.model, args.data, args.split, imgsz=args.imgsz)
    else:
        raise SystemExit(f"--model {args.model}: expected a .onnx or .pt file")
    print(format_report(res))
    if args.update_manifest:
        if args.model.suffix != ".onnx":
            raise SystemExit("--update-manifest applies to an .onnx model")
        from lineinspect.manifest import manifest_path_for, record_metrics

        man_path = manifest_path_for(args.model)
        key = args.metrics_key or Path(str(args.data)).parent.name
        record_metrics(man_path, {key: {
            k: res[k] for k in ("mAP50", "mAP50-95", "precision", "recall", "per_class",
                                "images", "split", "runtime")}})
        print(f"recorded as metrics.{key} in {man_path}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    import json

    from models.train.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(
        data=args.data, base=args.base, out=args.out, name=args.name, epochs=args.epochs,
        imgsz=args.imgsz, batch=args.batch, lr0=args.lr0, freeze=args.freeze,
        replay=args.replay, version=args.version, int8=not args.no_int8,
        resume=not args.no_resume, tracking_uri=args.tracking_uri)
    summary = finetune(cfg)
    print(json.dumps(summary["val"], indent=2))
    print(f"trained {summary['train_minutes']:.1f} min; models: {', '.join(summary['models'])}")
    return 0


def _eval_events(args: argparse.Namespace) -> int:
    import json

    from models.eval.events import evaluate_videos

    tracking = json.loads(args.tracking) if args.tracking else None
    res = evaluate_videos(args.model, args.video, args.workdir, tracking)
    for name, r in res["videos"].items():
        print(f"  {name}: {r['found']}/{r['defects']} defects (recall {r['recall']:.3f}, "
              f"class {r['class_recall']:.3f}), duplicates/defect "
              f"{r['duplicates_per_defect']:.3f}, false new/defect {r['false_new_per_defect']:.3f}")
    print(f"{res['model']}: event recall {res['recall']:.3f} (class {res['class_recall']:.3f}) "
          f"over {res['defects']} defects; duplicates/defect {res['duplicates_per_defect']:.3f}; "
          f"false new/defect {res['false_new_per_defect']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
    return 0


def _recover(args: argparse.Namespace) -> int:
    from models.export.checkpoint import recover_and_ship
    from models.train.offline import prepare_offline

    prepare_offline(Path(".yolo").resolve())
    path = recover_and_ship(args.model)
    print(f"wrote {path}; named in the manifest of {', '.join(str(m) for m in args.model)}")
    return 0


def _tracking_uri(value: str | None) -> str:
    from models.train.tracking import default_tracking_uri

    return value or default_tracking_uri(Path("."))


def _register(args: argparse.Namespace) -> int:
    from lineinspect.manifest import manifest_path_for
    from models.registry.mlflow_registry import register_model

    version = register_model(args.model, manifest_path_for(args.model),
                             _tracking_uri(args.tracking_uri), args.alias, name=args.name)
    print(f"registered {args.model} as {args.name} version {version}, alias {args.alias}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from models.registry.mlflow_registry import pull_model

    args.dest.mkdir(parents=True, exist_ok=True)
    path = pull_model(args.alias, args.dest, _tracking_uri(args.tracking_uri), name=args.name)
    print(f"pulled {args.name}@{args.alias} to {path} (sha256 verified)")
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
    s.add_argument("--size", type=int, default=None,
                   help="image side in pixels (default 320); with --world, the frame width "
                        "(the model input; default 416)")
    s.add_argument("--preset", default="train",
                   help="rendering ranges: train, ood-dark, ood-bright, ood-small")
    s.add_argument("--parts", action="store_true",
                   help="v2 renderer: label every visible part as class 'part' (id 3) too, "
                        "the same images with v3's four classes")
    s.add_argument("--world", default=None, choices=["train", "heldout", "all"],
                   help="domain-randomised renderer (four classes incl. part; 416-wide camera "
                        "frames) drawing from this world's families; train excludes the held-out "
                        "families, heldout is only them. Without it: the v2 renderer (--preset)")
    s.add_argument("--workers", type=int, default=2, help="render processes (default 2)")
    s.set_defaults(handler=_synth)

    x = msub.add_parser("synth-external", help="a test set whose defects PyPI's "
                                               "defect-synthesis paints on our clean parts",
                        description="Clean parts from our renderer (the held-out world by "
                                    "default), scratches and cracks painted by defect-synthesis "
                                    "(in the train extra): a test set whose "
                                    "defects no code of ours drew. Split 'test'.")
    x.add_argument("--out", type=Path, required=True)
    x.add_argument("--count", type=int, default=400)
    x.add_argument("--seed", type=int, default=2000)
    x.add_argument("--world", default="heldout", choices=["train", "heldout", "all"])
    x.add_argument("--workers", type=int, default=2)
    x.set_defaults(handler=_synth_external)

    v = msub.add_parser("synth-video", help="render a conveyor video with per-frame ground truth",
                        description="Render parts passing under a camera (MP4) and a JSON-lines "
                                    "file with every visible defect's id, class and box per frame.")
    v.add_argument("--out", type=Path, required=True, help="output .mp4 (ground truth beside it)")
    v.add_argument("--seconds", type=float, default=60.0)
    v.add_argument("--fps", type=float, default=15.0)
    v.add_argument("--width", type=int, default=640)
    v.add_argument("--height", type=int, default=480)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--world", default=None, choices=["train", "heldout", "all"],
                   help="a domain-randomised line drawn from this world (heldout: only families "
                        "training never sees); without it, the v2 conveyor")
    v.set_defaults(handler=_synth_video)

    c = msub.add_parser("synth-conveyor", help="cut a detection dataset from conveyor scenes",
                        description="Render frames of conveyor scenes (the camera's view: parts "
                                    "entering and leaving, clipped, on a moving belt) resized to "
                                    "the model input, with YOLO labels, for fine-tuning. The "
                                    "evaluation scenes (seeds 0 and 1) are refused.")
    c.add_argument("--out", type=Path, required=True, help="output folder")
    c.add_argument("--first-seed", type=int, default=100, help="first scene seed (default 100)")
    c.add_argument("--train-scenes", type=int, default=40, help="training scenes (default 40)")
    c.add_argument("--val-scenes", type=int, default=5, help="validation scenes (default 5)")
    c.add_argument("--frames", type=int, default=40, help="frames per scene (default 40)")
    c.add_argument("--every", type=int, default=7, help="take one frame in N (default 7)")
    c.add_argument("--size", type=int, default=320, help="image width in pixels (default 320)")
    c.add_argument("--world", default=None, choices=["train", "heldout", "all"],
                   help="randomised lines of this world (parts labelled too; seeds 1000-1002 "
                        "are the model card's evaluation lines and are refused before "
                        "--first-frame 600)")
    c.add_argument("--first-frame", type=int, default=0,
                   help="first frame index of each scene (default 0); from 600 on, an "
                        "evaluation line's later footage, none of its clip's parts in view")
    c.add_argument("--parts", action="store_true",
                   help="label the parts too (class part, four classes; always with --world)")
    c.set_defaults(handler=_synth_conveyor)

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
    t.add_argument("--close-mosaic", type=int, default=3,
                   help="last N epochs without mosaic (default 3)")
    t.add_argument("--optimizer", default="auto", help="SGD, AdamW, … or auto (default)")
    t.add_argument("--lr0", type=float, default=0.01,
                   help="initial learning rate (ignored by optimizer auto)")
    t.add_argument("--project", type=Path, default=Path("runs/detect"))
    t.add_argument("--name", default="lineinspect-detector")
    t.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    t.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: sqlite file mlflow.db in the working dir)")
    t.set_defaults(handler=_train)

    e = msub.add_parser("eval", help="mAP50, mAP50-95, per-class P/R on a held-out split",
                        description="Score a detector on a YOLO-format split: an .onnx through "
                                    "the edge runtime, a .pt through ultralytics' validator.")
    e.add_argument("--model", type=Path, required=True, help=".onnx (with manifest) or .pt")
    e.add_argument("--data", type=Path, required=True, help="data.yaml of the held-out set")
    e.add_argument("--split", default="val", help="split to score (default val)")
    e.add_argument("--imgsz", type=int, default=320, help="input size for .pt (default 320)")
    e.add_argument("--limit", type=int, default=None, help="score only the first N images")
    e.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    e.add_argument("--update-manifest", action="store_true",
                   help="record the figures in the model's manifest (metrics.<key>)")
    e.add_argument("--metrics-key", default=None,
                   help="key for --update-manifest (default: the dataset folder name)")
    e.set_defaults(handler=_eval)

    ft = msub.add_parser("finetune", help="adapt the shipped detector to a line from a few "
                                          "labelled frames (CPU, minutes)",
                         description="From the shipped checkpoint (default) on the line's "
                                     "YOLO data.yaml (train + val): class ids kept by name, "
                                     "synthetic replay against forgetting, backbone frozen, "
                                     "AdamW at a low rate; then eval on val through the edge "
                                     "runtime, ONNX + INT8 export with manifests, checkpoint "
                                     "beside. Resumable; logged to MLflow.")
    ft.add_argument("--data", type=Path, required=True, help="the line's data.yaml")
    ft.add_argument("--base", type=Path, default=None,
                    help="checkpoint to start from (default: the shipped detector's)")
    ft.add_argument("--out", type=Path, default=Path("runs/finetune"))
    ft.add_argument("--name", default="line", help="run name (folder under --out)")
    ft.add_argument("--epochs", type=int, default=12)
    ft.add_argument("--imgsz", type=int, default=None, help="default: the base's input size")
    ft.add_argument("--batch", type=int, default=8)
    ft.add_argument("--lr0", type=float, default=0.001)
    ft.add_argument("--freeze", type=int, default=10, help="frozen layers (default 10: backbone)")
    ft.add_argument("--replay", type=int, default=150,
                    help="synthetic frames mixed in (default 150; 0: none)")
    ft.add_argument("--version", default="ft1", help="version of the exported model")
    ft.add_argument("--no-int8", action="store_true", help="skip the INT8 export")
    ft.add_argument("--no-resume", action="store_true")
    ft.add_argument("--tracking-uri", default=None)
    ft.set_defaults(handler=_finetune)

    ev = msub.add_parser("eval-events", help="event recall of `edge run` on recorded videos",
                         description="Run `lineinspect edge run` offline on each video, as a "
                                     "user does, and score its v1 events against the video's "
                                     "ground truth (<video>.gt.jsonl): one `new` per physical "
                                     "defect, duplicates, false `new` events.")
    ev.add_argument("--model", type=Path, required=True, help=".onnx with its manifest")
    ev.add_argument("--video", type=Path, nargs="+", required=True, help="videos with .gt.jsonl")
    ev.add_argument("--workdir", type=Path, default=Path("runs/eval-events"),
                    help="where the edge config and events go (default runs/eval-events)")
    ev.add_argument("--tracking", default=None,
                    help="tracking settings as JSON (default: the edge's defaults)")
    ev.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ev.set_defaults(handler=_eval_events)

    rc = msub.add_parser("recover-checkpoint",
                         help="rebuild the trainable .pt of one of our ONNX exports",
                         description="An ultralytics export keeps the fused weights under their "
                                     "PyTorch names; this rebuilds an equivalent checkpoint "
                                     "(BatchNorm set to pass the fused bias), writes it beside "
                                     "the first model and names it in every listed manifest.")
    rc.add_argument("--model", type=Path, nargs="+", required=True,
                    help="the fp32 .onnx first, then other variants of the same model")
    rc.set_defaults(handler=_recover)

    try:  # export lives with the runtime's manifest code; absent only in a broken checkout
        from models.export.cli import add_export_parsers
    except ImportError:
        pass
    else:
        add_export_parsers(msub)

    from models.refiner_cli import add_refiner_parsers

    add_refiner_parsers(msub)

    r = msub.add_parser("register", help="register an exported model in MLflow with an alias",
                        description="Log the ONNX + manifest to MLflow, create a model version "
                                    "and point the alias (staging|production) at it.")
    r.add_argument("--model", type=Path, required=True, help="exported .onnx (manifest beside)")
    r.add_argument("--alias", choices=["staging", "production"], default="staging")
    r.add_argument("--name", default="lineinspect-detector", help="registered model name")
    r.add_argument("--tracking-uri", default=None, help="default: sqlite mlflow.db here")
    r.set_defaults(handler=_register)

    pl = msub.add_parser("pull", help="write the ONNX + manifest behind an alias into DIR",
                         description="Download the registered version behind --alias into DIR "
                                     "after checking its sha256 against the manifest.")
    pl.add_argument("dest", type=Path, metavar="DIR")
    pl.add_argument("--alias", choices=["staging", "production"], default="production")
    pl.add_argument("--name", default="lineinspect-detector", help="registered model name")
    pl.add_argument("--tracking-uri", default=None, help="default: sqlite mlflow.db here")
    pl.set_defaults(handler=_pull)
