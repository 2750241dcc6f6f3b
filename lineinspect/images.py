"""Which files are images: one list of suffixes for every reader (folder source, ``predict``,
evaluation, INT8 calibration), all of which decode with OpenCV."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def is_image(path: Path) -> bool:
    """A file with an image suffix (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def images_in(folder: Path, recursive: bool = False) -> list[Path]:
    """The images in ``folder`` (and below it, if ``recursive``), sorted by path."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if is_image(p))
