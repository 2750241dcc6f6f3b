"""A recorded video file, optionally looped, optionally delivered at its own frame rate."""

from __future__ import annotations

import cv2

from edge.sources.frame import Frame, SourceOpenError, SourceReadError, Stamper
from edge.sources.settings import FileSource


class VideoFileSource:
    max_block_s = 2.0  # one local decode

    def __init__(self, settings: FileSource, stamper: Stamper | None = None) -> None:
        self._settings = settings
        self._stamper = stamper or Stamper()
        self._cap: cv2.VideoCapture | None = None
        self._fps: float | None = settings.fps
        self._in_pass = 0  # frames read since the file was (re)opened
        self.description = f"video file {settings.path}"

    @property
    def pace_fps(self) -> float | None:
        return self._fps if self._settings.pace else None

    def open(self) -> None:
        self.close()
        path = self._settings.path
        if not path.is_file():
            raise SourceOpenError(f"{self.description}: no such file")
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(f"{self.description}: not a video OpenCV/FFmpeg can decode")
        if self._settings.fps is None:
            fps = cap.get(cv2.CAP_PROP_FPS)
            if not 0 < fps <= 1000 and self._settings.pace:
                cap.release()
                raise SourceOpenError(
                    f"{self.description}: the file reports no usable frame rate ({fps}); "
                    "set fps, or pace: false")
            self._fps = fps if 0 < fps <= 1000 else None
        self._cap = cap
        self._in_pass = 0

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceReadError(f"{self.description}: read before open")
        ok, image = self._cap.read()
        if not ok:
            if not self._settings.loop:
                return None
            if self._in_pass == 0:
                raise SourceReadError(f"{self.description}: no decodable frames to loop over")
            # Reopen rather than seek to 0: seeking is unreliable in some containers/codecs.
            self.open()
            assert self._cap is not None
            ok, image = self._cap.read()
            if not ok:
                raise SourceReadError(f"{self.description}: no frame after rewinding")
        self._in_pass += 1
        return self._stamper.stamp(image)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
