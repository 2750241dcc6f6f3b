"""``lineinspect predict PATH... --out results.jsonl [--visualize DIR]``: the edge's detector
over image files and folders, offline.

Same runtime and the same checks as ``POST /predict``: each image becomes one JSON line with
the API's result shape (or an ``error`` naming what is wrong with that file, and the run goes on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from lineinspect.images import images_in

if TYPE_CHECKING:
    from edge.detect.detector import Detector
    from edge.detect.settings import DetectorSettings

DEFAULT_MAX_PIXELS = 40_000_000

HELP = """\
Run the detector over images and folders (searched recursively for .png, .jpg, .jpeg, .bmp,
.tif, .tiff, .webp) and write one JSON line per image to --out. With --visualize DIR, also
write each image with its boxes drawn, under the same relative path. Exit 0 if every image was
read, 1 if some could not be (their lines carry "error"), 2 if there was nothing to do.
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


def predict_files(images: Sequence[tuple[Path, Path]], detector: Detector, out: TextIO,
                  visualize: Path | None, fmt: str, max_pixels: int,
                  progress: Progress) -> int:
    """Write one line per image; returns how many failed."""
    import cv2

    from edge.api.imagecheck import ImageRejected, decode_image
    from edge.api.results import image_result, model_info
    from edge.stream.annotate import annotate
    from edge.stream.hub import Overlay

    info = model_info(detector)
    model = {"name": info.name, "version": info.version, "sha256": info.sha256}
    names = info.classes
    failed = 0
    used: set[Path] = set()
    for path, rel in images:
        try:
            image = decode_image(str(path), path.read_bytes(), max_pixels)
        except (ImageRejected, OSError) as exc:
            failed += 1
            reason = exc.message if isinstance(exc, ImageRejected) else f"{path}: {exc.strerror}"
            out.write(json.dumps({"file": str(path), "error": reason, "model": model}) + "\n")
            progress.step()
            continue
        t0 = time.perf_counter()
        det = detector.detect(image)
        ms = (time.perf_counter() - t0) * 1000
        line = image_result(str(path), image, det, ms, names).model_dump()
        out.write(json.dumps({**line, "model": model}) + "\n")
        if visualize is not None:
            target = _visualized_path(visualize, rel, fmt, used)
            target.parent.mkdir(parents=True, exist_ok=True)
            drawn = annotate(image, Overlay(det.xyxy, det.class_id, det.score,
                                            class_names=names))
            if not cv2.imwrite(str(target), drawn):
                raise OSError(f"could not write {target}")
        progress.step()
    return failed


def _detector_settings(args: argparse.Namespace) -> DetectorSettings:
    from edge.detect.settings import DetectorSettings

    if args.config is not None:
        from edge.settings import load_edge_settings

        settings = load_edge_settings(args.config).detector
    else:
        settings = DetectorSettings()
    update: dict[str, object] = {}
    if args.model is not None:
        update["model"] = args.model
    if args.conf is not None:
        update["conf_threshold"] = args.conf
    return DetectorSettings.model_validate({**settings.model_dump(), **update})


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
    from edge.detect.detector import Detector
    from lineinspect.config.errors import ConfigError
    from lineinspect.manifest import ManifestError

    try:
        detector = Detector(_detector_settings(args))
    except (ConfigError, ManifestError, OSError, ValueError) as exc:
        print(f"lineinspect predict: cannot load the detector: {exc}", file=sys.stderr)
        return 2
    detector.warmup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(len(images), sys.stderr, enabled=not args.quiet)
    with args.out.open("w", encoding="utf-8") as out:
        failed = predict_files(images, detector, out, args.visualize, args.format,
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
    p.add_argument("--model", type=Path, help="ONNX model (manifest beside it); default: "
                   "--config's detector.model, else the shipped detector")
    p.add_argument("--config", type=Path, help="edge settings file to take the detector "
                   "section from (thresholds, providers)")
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
