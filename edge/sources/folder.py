"""A folder of still images played as a video, in natural file-name order."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2

from edge.sources.frame import Frame, SourceOpenError, SourceReadError, Stamper
from edge.sources.settings import FolderSource
from lineinspect.images import IMAGE_SUFFIXES, images_in

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key so ``img2.png`` comes before ``img10.png``, as a camera would have written them."""
    return tuple((1, int(part)) if part.isdigit() else (0, part.lower())
                 for part in _DIGITS.split(name) if part)


def list_images(folder: Path) -> list[Path]:
    return sorted(images_in(folder), key=lambda p: (natural_key(p.stem), p.suffix.lower(), p.name))


class FolderFrameSource:
    max_block_s = 2.0  # one local image decode

    def __init__(self, settings: FolderSource, stamper: Stamper | None = None) -> None:
        self._settings = settings
        self._stamper = stamper or Stamper()
        self._files: list[Path] = []
        self._next = 0
        self._good_in_pass = 0
        self._warned: set[Path] = set()
        self.description = f"image folder {settings.path}"

    @property
    def pace_fps(self) -> float | None:
        return self._settings.fps if self._settings.pace else None

    def open(self) -> None:
        folder = self._settings.path
        if not folder.is_dir():
            raise SourceOpenError(f"{self.description}: not a directory")
        self._files = list_images(folder)
        if not self._files:
            raise SourceOpenError(
                f"{self.description}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self._next = 0
        self._good_in_pass = 0

    def read(self) -> Frame | None:
        # Bounded: at most one full pass over the folder per call.
        for _ in range(len(self._files) + 1):
            if self._next >= len(self._files):
                if not self._settings.loop:
                    return None
                if self._good_in_pass == 0:
                    raise SourceReadError(f"{self.description}: none of the images is readable")
                self._next, self._good_in_pass = 0, 0
            path = self._files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                if path not in self._warned:  # once per file, not once per loop
                    self._warned.add(path)
                    log.warning("%s: skipping %s, not a readable image", self.description,
                                path.name)
                continue
            self._good_in_pass += 1
            return self._stamper.stamp(image)
        raise SourceReadError(f"{self.description}: none of the images is readable")

    def close(self) -> None:
        self._files = []
