"""``lineinspect predict PATH... --out results.jsonl [--visualize DIR] [--model both]``: the
edge's detector (and refiner) over image files and folders, offline.

Same runtime and the same checks as ``POST /predict``: each image becomes one JSON line with
the API's result shape for that ``--model`` (or an ``error`` naming what is wrong with that
file, and the run goes on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from lineinspect.images import images_in

if TYPE_CHECKING:
    import numpy as np

    from edge.api.deps import PredictRefiner
    from edge.api.refined import ModelView, Refined
    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings

DEFAULT_MAX_PIXELS = 40_000_000

HELP = """\
Run the detector over images and folders (searched recursively for .png, .jpg, .jpeg, .bmp,
.tif, .tiff, .webp) and write one JSON line per image to --out. With --visualize DIR, also
write each image with its boxes (and masks) drawn, under the same relative path.

--model detector (alias yolo): the detector's boxes. --model both (alias mask2former): also the
refiner's mask of each defect detection (mask as RLE, area_px, length_px, width_px,
refiner_score, refined). --model refiner: only the detections the refiner gave a mask.
--model PATH.onnx is still taken as the detector's model file (as --detector).

Exit 0 if every image was read, 1 if some could not be (their lines carry "error"), 2 if
there was nothing to do or a model could not be loaded.
"""


def find_images(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(image, path relative to the argument it came from), in a stable order.
    Raises FileNotFoundError naming a missing argument."""
    found: list[tuple[Path, Path]] = []
    for root in paths:
        if root.is_dir():
            found += [(p, p.relative_to(root)) for p in images_in(root, recursive=True)]
        elif root.is_file():
            found.append((root, Path(root.name)))  # named explicitly: tried whatever its suffix
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")
    return found


class Progress:
    """A one-line bar on a terminal; a line every 10 % otherwise (logs stay readable)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = 0
        self.t0 = time.monotonic()
        self._tty = stream.isatty()
        self._next_pct = 10

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0.0
        pct = 100 * self.done // max(1, self.total)
        if self._tty:
            filled = 30 * self.done // max(1, self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
                              f" {rate:.1f} img/s ETA {eta:.0f}s")
            if self.done == self.total:
                self.stream.write("\n")
        elif pct >= self._next_pct or self.done == self.total:
            self.stream.write(f"{self.done}/{self.total} images ({pct}%), {rate:.1f} img/s\n")
            self._next_pct = pct - pct % 10 + 10
        self.stream.flush()


def _visualized_path(root: Path, rel: Path, fmt: str, used: set[Path]) -> Path:
    target = root / rel.with_suffix(".jpg" if fmt == "jpeg" else ".png")
    n = 1
    while target in used:  # same relative path from two arguments
        target = target.with_name(f"{target.stem}-{n}{target.suffix}")
        n += 1
    used.add(target)
    return target


@dataclass
class Models:
    """What one run predicts with: the view, the detector, and the refiner for the others."""

    view: ModelView
    detector: Detector
    refiner: PredictRefiner | None = None


def predict_files(images: Sequence[tuple[Path, Path]], models: Models, out: TextIO,
                  visualize: Path | None, fmt: str, max_pixels: int,
                  progress: Progress) -> int:
    """Write one line per image; returns how many failed."""
    import cv2

    from edge.api.imagecheck import ImageRejected, decode_image
    from edge.api.results import model_info

    info = model_info(models.detector)
    refs: dict[str, object] = {"model": {"name": info.name, "version": info.version,
                                         "sha256": info.sha256}}
    if models.refiner is not None:
        from edge.api.refined import refiner_info

        r = refiner_info(models.refiner)
        refs["refiner"] = {"name": r.name, "version": r.version, "sha256": r.sha256}
    failed = 0
    used: set[Path] = set()
    for path, rel in images:
        try:
            image = decode_image(str(path), path.read_bytes(), max_pixels)
        except (ImageRejected, OSError) as exc:
            failed += 1
            reason = exc.message if isinstance(exc, ImageRejected) else f"{path}: {exc.strerror}"
            out.write(json.dumps({"file": str(path), "error": reason, **refs}) + "\n")
            progress.step()
            continue
        line, drawn = _predict_one(str(path), image, models, visualize is not None)
        out.write(json.dumps({**line, **refs}) + "\n")
        if visualize is not None and drawn is not None:
            target = _visualized_path(visualize, rel, fmt, used)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), drawn):
                raise OSError(f"could not write {target}")
        progress.step()
    return failed


def _predict_one(name: str, image: np.ndarray, models: Models, draw: bool
                 ) -> tuple[dict[str, object], np.ndarray | None]:
    """One image's JSON line (without model refs) and, if ``draw``, its annotated copy."""
    from edge.api.refined import draw_outcome, refine_all, refined_result
    from edge.api.results import image_result

    names = models.detector.class_names
    t0 = time.perf_counter()
    det = models.detector.detect(image)
    base = image_result(name, image, det, (time.perf_counter() - t0) * 1000, names)
    if models.view == "detector" or models.refiner is None:
        refined: list[Refined | None] = [None] * len(det)
        line = base.model_dump()
    else:
        refined, ms = refine_all(image, det, names, models.refiner)
        line = refined_result(base, refined, ms, models.view).model_dump()
    drawn = draw_outcome(image, det, refined, models.view, names) if draw else None
    return line, drawn


def _detector_settings(args: argparse.Namespace, model: Path | None) -> DetectorSettings:
    from edge.detect.settings import DetectorSettings

    if args.config is not None:
        from edge.settings import load_edge_settings

        settings = load_edge_settings(args.config).detector
    else:
        settings = DetectorSettings()
    update: dict[str, object] = {}
    if model is not None:
        update["model"] = model
    if args.conf is not None:
        update["conf_threshold"] = args.conf
    return DetectorSettings.model_validate({**settings.model_dump(), **update})


def split_model(value: str | None, detector: Path | None) -> tuple[ModelView, Path | None]:
    """``--model`` is a view (detector|refiner|both, or an alias) or, as before views existed,
    the detector's model file. Returns (view, detector file or None for the default); raises
    ValueError naming what is wrong."""
    from edge.api.refined import VIEWS

    if value is None or value in VIEWS:
        return VIEWS[value or "detector"], detector
    if not Path(value).is_file():
        raise ValueError(f"--model {value}: not one of {', '.join(VIEWS)} and no such model file")
    if detector is not None:
        raise ValueError(f"--model {value} and --detector {detector} both name the detector's "
                         "model file; give one")
    return "detector", Path(value)


def _refiner_path(args: argparse.Namespace) -> Path | None:
    """--refiner, else --config's refine.model_path, else None (the shipped refiner)."""
    if args.refiner is not None or args.config is None:
        return args.refiner
    from edge.settings import load_edge_settings

    return load_edge_settings(args.config).refine.model_path


def load_models(args: argparse.Namespace) -> Models:
    """The detector (warmed up) and, for refiner|both, the refiner; raises ValueError with a
    message for the user when one cannot be loaded."""
    from edge.detect.detector import Detector
    from lineinspect.config.errors import ConfigError
    from lineinspect.manifest import ManifestError

    view, detector_file = split_model(args.model, args.detector)
    try:
        detector = Detector(_detector_settings(args, detector_file))
    except (ConfigError, ManifestError, OSError, ValueError) as exc:
        raise ValueError(f"cannot load the detector: {exc}") from None
    detector.warmup()
    if view == "detector":
        return Models(view, detector)
    from edge.api.refiner_load import RefinerUnavailable, open_refiner

    try:
        refiner = open_refiner(_refiner_path(args))
    except RefinerUnavailable as exc:
        raise ValueError(f"--model {args.model} needs the refiner: {exc}") from None
    return Models(view, detector, refiner)


def run(args: argparse.Namespace) -> int:
    try:
        images = find_images(args.paths)
    except FileNotFoundError as exc:
        print(f"lineinspect predict: {exc}", file=sys.stderr)
        return 2
    if not images:
        print("lineinspect predict: no images found in "
              + ", ".join(str(p) for p in args.paths), file=sys.stderr)
        return 2
    try:
        models = load_models(args)
    except ValueError as exc:
        print(f"lineinspect predict: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(len(images), sys.stderr, enabled=not args.quiet)
    with args.out.open("w", encoding="utf-8") as out:
        failed = predict_files(images, models, out, args.visualize, args.format,
                               args.max_pixels, progress)
    print(f"{len(images) - failed} of {len(images)} images -> {args.out}"
          + (f"; {failed} could not be read (see their 'error')" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="detect defects in image files and folders",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image file or folder")
    p.add_argument("--out", type=Path, required=True, help="JSON lines output file")
    p.add_argument("--visualize", type=Path, metavar="DIR",
                   help="also write annotated images here")
    p.add_argument("--format", choices=["jpeg", "png"], default="jpeg",
                   help="annotated image format (default jpeg)")
    p.add_argument("--model", metavar="VIEW|PATH", help="detector (default; alias yolo), both "
                   "(boxes plus the refiner's masks; alias mask2former) or refiner (only the "
                   "refined detections); a .onnx path is taken as --detector")
    p.add_argument("--detector", type=Path, help="detector ONNX model (manifest beside it); "
                   "default: --config's detector.model, else the shipped detector")
    p.add_argument("--refiner", type=Path, help="refiner ONNX model for --model both|refiner; "
                   "default: --config's refine.model_path, else the shipped refiner")
    p.add_argument("--config", type=Path, help="edge settings file to take the detector "
                   "section (thresholds, providers) and refine.model_path from")
    p.add_argument("--conf", type=float, help="score threshold (overrides the settings)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images larger than this many pixels (default 40M)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=run)


def iter_lines(path: Path) -> Iterator[dict[str, object]]:
    """Read a results file back (for tests and scripts)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
