"""A local camera through V4L2 (USB/CSI webcams on Linux)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import cv2

from edge.sources.frame import Frame, SourceOpenError, SourceReadError, Stamper
from edge.sources.settings import DeviceSource

log = logging.getLogger(__name__)


def device_target(device: int | str) -> int | str:
    """What to hand to ``cv2.VideoCapture``: an index, or a path checked to be a device node."""
    if isinstance(device, int):
        if device < 0:
            raise SourceOpenError(f"camera index must be >= 0, got {device}")
        return device
    if device.isdigit():
        return int(device)
    path = Path(device)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceOpenError(f"camera device {device}: does not exist") from None
    except OSError as exc:
        raise SourceOpenError(f"camera device {device}: {exc.strerror}") from None
    if not stat.S_ISCHR(mode):
        raise SourceOpenError(f"camera device {device}: not a character device (/dev/videoN)")
    return device


class DeviceFrameSource:
    pace_fps: float | None = None
    # OpenCV's V4L2 backend ignores CAP_PROP_READ_TIMEOUT_MSEC; a read on a stalled camera waits
    # in select() for OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT seconds (default 10, read once per process).
    max_block_s = 11.0

    def __init__(self, settings: DeviceSource, stamper: Stamper | None = None) -> None:
        self._settings = settings
        self._stamper = stamper or Stamper()
        self._cap: cv2.VideoCapture | None = None
        self.description = f"camera device {settings.device}"

    def open(self) -> None:
        self.close()
        target = device_target(self._settings.device)
        s = self._settings
        cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(
                f"{self.description}: cannot open with V4L2 (not present, busy, or no access)")
        # Requests, not guarantees: the driver picks the nearest mode it has, logged below.
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, s.width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, s.height), (cv2.CAP_PROP_FPS, s.fps)):
            if value is not None:
                cap.set(prop, float(value))
        log.info("%s opened at %dx%d %.1f fps", self.description,
                 int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                 cap.get(cv2.CAP_PROP_FPS))
        self._cap = cap

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceReadError(f"{self.description}: read before open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceReadError(f"{self.description}: no frame (unplugged or timed out)")
        return self._stamper.stamp(image)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
